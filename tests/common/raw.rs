//! Raw WebSocket over TCP for the tests whose attack is the framing or the handshake itself: frames built by hand,
//! the upgrade written by hand, server frames read without a WebSocket library.
#![allow(dead_code)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::within;
use skirmish::codec;
use skirmish::protocol::ClientMessage;
use skirmish::server::RunningServer;

pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xa;

/// Encodes one client frame; `masked: false` breaks RFC 6455 on purpose.
pub fn frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(mask_bit | len as u8),
        len @ 126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Performs the HTTP upgrade by hand; returns the stream and the response's status line.
pub async fn raw_upgrade(server: &RunningServer, extra_headers: &str) -> (TcpStream, String) {
    let stream = TcpStream::connect(server.local_addr).await.unwrap();
    upgrade_on(stream, extra_headers).await
}

pub async fn upgrade_on(mut stream: TcpStream, extra_headers: &str) -> (TcpStream, String) {
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    within("upgrade response", async {
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if stream.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            head.push(byte[0]);
        }
    })
    .await;
    let status = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_string();
    (stream, status)
}

/// A TCP connection to the server from the loopback address `from` (any of 127.0.0.0/8 works on Linux).
pub async fn connect_from(from: [u8; 4], server: &RunningServer) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    socket.connect(server.local_addr).await.unwrap()
}

/// A raw WebSocket that has said hello and been welcomed.
pub async fn raw_player(server: &RunningServer) -> TcpStream {
    let stream = TcpStream::connect(server.local_addr).await.unwrap();
    hello_on(stream).await
}

pub async fn hello_on(stream: TcpStream) -> TcpStream {
    let (mut stream, status) = upgrade_on(stream, "").await;
    assert!(status.contains("101"), "{status}");
    let hello = codec::encode_client(&ClientMessage::hello("raw"));
    stream.write_all(&frame(OP_BINARY, &hello, true)).await.unwrap();
    let (opcode, _) = read_frame(&mut stream).await.expect("welcome");
    assert_eq!(opcode, OP_BINARY);
    stream
}

/// Reads one server frame (servers never mask); None at end of stream.
pub async fn read_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.ok()?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext).await.ok()?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext).await.ok()?;
            u64::from_be_bytes(ext)
        }
        len => u64::from(len),
    };
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await.ok()?;
    Some((head[0] & 0x0f, payload))
}

/// Reads until the server's close frame; returns its code and reason.
pub async fn expect_close(stream: &mut TcpStream) -> (u16, String) {
    within("close frame", async {
        loop {
            match read_frame(stream).await {
                Some((OP_CLOSE, payload)) => return skirmish::client::parse_close(&payload),
                Some(_) => {}
                None => panic!("the connection ended without a close frame"),
            }
        }
    })
    .await
}

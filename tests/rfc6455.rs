//! The edge's remaining RFC 6455 cases over raw loopback sockets: close codes a client must not send (section 7.4),
//! a close reason that is not UTF-8 (section 8.1), an unsupported `Sec-WebSocket-Version` (section 4.4), and the
//! closing handshake of section 7.1.1: a client still writing when it is closed reads the reason, not a reset.

mod common;

use std::time::Duration;

use common::raw::*;
use common::*;
use skirmish::codec::{self, close_code};
use skirmish::config::ServerConfig;
use skirmish::protocol::{ClientMessage, Input};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason].concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_codes_that_must_not_be_sent_get_1002_and_a_reason_that_is_not_utf8_gets_1007() {
    let server = start(ServerConfig::for_tests()).await;
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535] {
        let mut stream = raw_player(&server).await;
        stream.write_all(&frame(OP_CLOSE, &close_payload(code, b""), true)).await.unwrap();
        let (got, reason) = expect_close(&mut stream).await;
        assert_eq!((got, reason), (close_code::PROTOCOL_ERROR, format!("invalid close code {code}")), "code {code}");
    }
    let mut stream = raw_player(&server).await;
    stream.write_all(&frame(OP_CLOSE, &[3], true)).await.unwrap();
    assert_eq!(expect_close(&mut stream).await, (1002, "close frame with a 1-byte payload".into()));

    let mut stream = raw_player(&server).await;
    stream.write_all(&frame(OP_CLOSE, &close_payload(1000, &[0xff, 0xfe, b'x']), true)).await.unwrap();
    assert_eq!(expect_close(&mut stream).await, (1007, "close reason is not valid UTF-8".into()));

    // Codes a client may send are answered with the usual echo: 1000, empty reason.
    for code in [1000u16, 1001, 1003, 1011, 3000, 4000, 4100, 4999] {
        let mut stream = raw_player(&server).await;
        stream.write_all(&frame(OP_CLOSE, &close_payload(code, "au revoir".as_bytes()), true)).await.unwrap();
        assert_eq!(expect_close(&mut stream).await, (1000, String::new()), "code {code}");
    }
    // And an empty close frame (no status) is a valid goodbye too.
    let mut stream = raw_player(&server).await;
    stream.write_all(&frame(OP_CLOSE, &[], true)).await.unwrap();
    assert_eq!(expect_close(&mut stream).await, (1000, String::new()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_websocket_version_gets_426_naming_version_13() {
    let server = start(ServerConfig::for_tests()).await;
    for version in ["8", "12", "14", "thirteen"] {
        let mut stream = TcpStream::connect(server.local_addr).await.unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        within("426 response", async {
            let mut buffer = [0u8; 1024];
            while !String::from_utf8_lossy(&response).contains("speaks 13") {
                match stream.read(&mut buffer).await.unwrap() {
                    0 => break,
                    n => response.extend_from_slice(&buffer[..n]),
                }
            }
        })
        .await;
        let response = String::from_utf8_lossy(&response).to_ascii_lowercase();
        assert!(response.starts_with("http/1.1 426"), "version {version}: {response}");
        assert!(response.contains("\r\nsec-websocket-version: 13\r\n"), "version {version}: {response}");
    }
    server.shutdown().await;
}

/// A client flooding inputs as fast as it can write, without reading, is closed for the flood; once it looks, the
/// close message and the close frame are there, every time, instead of a connection reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_still_writing_when_it_is_closed_receives_the_reason() {
    let server = start(ServerConfig::for_tests()).await;
    for attempt in 0..3 {
        let mut stream = raw_player(&server).await;
        let (mut read, mut write) = stream.split();
        // Writes on for a while after the server decided to close (within milliseconds: the flood is far over the
        // limit), but for less than the close linger (1 s by default), as a client does that stops when it notices.
        let flood = async {
            let mut seq = 0u32;
            let started = tokio::time::Instant::now();
            while started.elapsed() < Duration::from_millis(600) {
                let mut batch = Vec::new();
                for _ in 0..50 {
                    seq += 1;
                    let input = ClientMessage::Input(Input { seq, ..Input::default() });
                    batch.extend(frame(OP_BINARY, &codec::encode_client(&input), true));
                }
                if write.write_all(&batch).await.is_err() {
                    break;
                }
                tokio::task::yield_now().await;
            }
        };
        within("flood", flood).await;
        // Now read everything the server sent: snapshots, then the close message, then the close frame.
        let mut close_message = None;
        let close_frame = within("close frame", async {
            loop {
                match read_frame_from(&mut read).await {
                    Ok((OP_CLOSE, payload)) => return skirmish::client::parse_close(&payload),
                    Ok((OP_BINARY, payload)) => {
                        if let Ok(skirmish::protocol::ServerMessage::Close { code, reason }) =
                            codec::decode_server(&payload)
                        {
                            close_message = Some((code, reason));
                        }
                    }
                    Ok(_) => {}
                    Err(error) => panic!("attempt {attempt}: the stream failed before the close frame: {error}"),
                }
            }
        })
        .await;
        assert_eq!(close_frame.0, close_code::POLICY_VIOLATION, "attempt {attempt}: {close_frame:?}");
        assert!(close_frame.1.starts_with("message flood"), "attempt {attempt}: {close_frame:?}");
        let (code, reason) = close_message.unwrap_or_else(|| panic!("attempt {attempt}: no close message"));
        assert_eq!(code, close_code::POLICY_VIOLATION);
        assert!(reason.starts_with("message flood"), "{reason}");
    }
    server.shutdown().await;
}

/// `read_frame` over a borrowed read half, with the I/O error kept (a reset must fail the test, not end it quietly).
async fn read_frame_from(read: &mut tokio::net::tcp::ReadHalf<'_>) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    read.read_exact(&mut head).await?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            read.read_exact(&mut ext).await?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            read.read_exact(&mut ext).await?;
            u64::from_be_bytes(ext)
        }
        len => u64::from(len),
    };
    let mut payload = vec![0u8; len as usize];
    read.read_exact(&mut payload).await?;
    Ok((head[0] & 0x0f, payload))
}

/// A relay that hands the server's bytes to the client 7 at a time, a millisecond apart, so that every frame
/// arrives in pieces.
async fn trickling_relay(server: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let upstream = TcpStream::connect(server).await.unwrap();
        let (mut client_read, mut client_write) = client.into_split();
        let (mut up_read, mut up_write) = upstream.into_split();
        tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut up_write).await });
        let mut buffer = [0u8; 4096];
        while let Ok(read @ 1..) = up_read.read(&mut buffer).await {
            for piece in buffer[..read].chunks(7) {
                if client_write.write_all(piece).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_read_cancelled_halfway_through_a_frame_loses_nothing() {
    // The bots read inside `select!`s with timers. A read dropped while a frame is half there must leave the rest
    // to the next read (fastwebsockets' reader lost the half-read frame and the stream then read as garbage).
    let server = start(ServerConfig::for_tests()).await;
    let _other = connect(&server, "other").await;
    let relay = trickling_relay(server.local_addr).await;
    let mut client = skirmish::client::GameClient::connect(&format!("ws://{relay}/ws"), "trickled").await.unwrap();
    let (mut snapshots, mut cancelled) = (0, 0);
    while snapshots < 30 {
        tokio::select! {
            event = client.next_event() => {
                match event.expect("every frame reads whole") {
                    skirmish::client::ServerEvent::Snapshot { .. } => snapshots += 1,
                    other => panic!("unexpected {other:?}"),
                }
                client.send_ack().await.unwrap();
            }
            _ = tokio::time::sleep(Duration::from_micros(300)) => cancelled += 1,
        }
    }
    assert!(cancelled > 100, "reads were cancelled mid-frame ({cancelled} times)");
    assert_eq!(client.stats.desyncs, 0);
    server.shutdown().await;
}

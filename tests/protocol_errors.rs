//! Clients that break the protocol get a clear close (code and reason); a disconnect frees the player's slot.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use skirmish::client::{self, ClientError, GameClient};
use skirmish::codec::{self, close_code};
use skirmish::config::ServerConfig;
use skirmish::protocol::{ClientMessage, Input, Join, ServerMessage};

type RawSocket = WebSocket<TokioIo<Upgraded>>;

/// Reads until the server closes; returns the close message's code and reason, checking the close frame agrees.
async fn expect_close(ws: &mut RawSocket) -> (u16, String) {
    within("server close", async {
        let mut message = None;
        loop {
            let frame = ws.read_frame().await.expect("a close frame, not a dropped socket");
            match frame.opcode {
                OpCode::Binary => {
                    if let Ok(ServerMessage::Close { code, reason }) = codec::decode_server(&frame.payload) {
                        message = Some((code, reason));
                    }
                }
                OpCode::Close => {
                    let from_frame = client::parse_close(&frame.payload);
                    // The README and PROTOCOL.md promise a close message with the reason before the close frame
                    // (browsers do not always surface a close frame's reason).
                    let message = message.expect("a close message before the close frame");
                    assert_eq!(message, from_frame, "close message and close frame agree");
                    assert!(!message.1.is_empty(), "the close names its reason");
                    return from_frame;
                }
                _ => {}
            }
        }
    })
    .await
}

async fn raw(server: &skirmish::server::RunningServer) -> RawSocket {
    within("open", client::open(&url(server))).await.unwrap()
}

async fn send(ws: &mut RawSocket, bytes: Vec<u8>) {
    ws.write_frame(Frame::binary(Payload::Owned(bytes))).await.unwrap();
}

async fn welcomed(server: &skirmish::server::RunningServer) -> RawSocket {
    let mut ws = raw(server).await;
    send(&mut ws, codec::encode_client(&ClientMessage::hello("x"))).await;
    let frame = within("welcome", ws.read_frame()).await.unwrap();
    assert!(matches!(codec::decode_server(&frame.payload), Ok(ServerMessage::Welcome(_))));
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_version_mismatch_is_refused_with_a_clear_reason() {
    let server = start(ServerConfig::for_tests()).await;
    // A newer client, an old v6, v5, v4 and v3 one, and a v2 one (whose hello has no `join`): each gets the mismatch
    // with both versions.
    for version in [8, 6, 5, 4, 3, 2] {
        match within("connect", GameClient::connect_with_version(&url(&server), "other", version)).await {
            Err(ClientError::Closed { code, reason }) => {
                assert_eq!(code, close_code::VERSION_MISMATCH);
                assert_eq!(reason, format!("protocol version mismatch: server speaks 7, client sent {version}"));
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a client with protocol {version} was welcomed"),
        }
    }
    assert!(server.lobby.is_empty(), "a refused hello creates no room");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_close_with_the_matching_code() {
    let server = start(ServerConfig::for_tests()).await;

    let mut ws = welcomed(&server).await;
    send(&mut ws, vec![0x92, 0x09, 0x00]).await;
    assert_eq!(expect_close(&mut ws).await, (1007, "malformed message: unknown message type 9".into()));

    let mut ws = welcomed(&server).await;
    send(&mut ws, vec![0xc1, 0x00]).await;
    assert_eq!(
        expect_close(&mut ws).await,
        (close_code::INVALID_PAYLOAD, "malformed message: wrong msgpack marker Reserved".into())
    );

    let mut ws = welcomed(&server).await;
    ws.write_frame(Frame::text(Payload::Borrowed(b"{\"type\":\"hello\"}"))).await.unwrap();
    assert_eq!(
        expect_close(&mut ws).await,
        (close_code::UNSUPPORTED_DATA, "text messages are not accepted; send binary MessagePack".into())
    );

    let mut ws = welcomed(&server).await;
    send(&mut ws, vec![0x91; 513]).await;
    assert_eq!(
        expect_close(&mut ws).await,
        (close_code::MESSAGE_TOO_BIG, "frame exceeds the message size limit of 512 bytes".into())
    );

    let mut ws = raw(&server).await;
    let input = Input { seq: 1, ..Input::default() };
    send(&mut ws, codec::encode_client(&ClientMessage::Input(input))).await;
    assert_eq!(expect_close(&mut ws).await, (1008, "the first message must be hello".into()));

    let mut ws = welcomed(&server).await;
    send(&mut ws, codec::encode_client(&ClientMessage::Input(Input { seq: 5, ..input }))).await;
    send(&mut ws, codec::encode_client(&ClientMessage::Input(Input { seq: 4, ..input }))).await;
    assert_eq!(expect_close(&mut ws).await, (1008, "input sequence must increase (4 after 5)".into()));

    // A repeated sequence number is refused the same way.
    let mut ws = welcomed(&server).await;
    send(&mut ws, codec::encode_client(&ClientMessage::Input(Input { seq: 5, ..input }))).await;
    send(&mut ws, codec::encode_client(&ClientMessage::Input(Input { seq: 5, ..input }))).await;
    assert_eq!(expect_close(&mut ws).await, (1008, "input sequence must increase (5 after 5)".into()));

    // A player may not send a spectator's view.
    let mut ws = welcomed(&server).await;
    send(&mut ws, codec::encode_client(&ClientMessage::View { follow: 0, x: 10, y: 10 })).await;
    assert_eq!(expect_close(&mut ws).await, (1008, "only spectators send view".into()));

    // Sequence numbers start at 1.
    let mut ws = welcomed(&server).await;
    send(&mut ws, codec::encode_client(&ClientMessage::Input(Input { seq: 0, ..input }))).await;
    assert_eq!(expect_close(&mut ws).await, (1007, "invalid value: input sequence numbers start at 1".into()));

    let mut ws = welcomed(&server).await;
    send(&mut ws, codec::encode_client(&ClientMessage::hello("again"))).await;
    assert_eq!(expect_close(&mut ws).await, (1008, "hello sent twice".into()));

    // None of that disturbed the room: every misbehaving player is gone.
    until("players leave", || players(&server) == 0).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_a_join_by_id_and_a_disconnect_frees_the_slot() {
    let mut config = ServerConfig::for_tests();
    config.room.max_players = 1;
    config.room.resume_grace = Duration::from_millis(500);
    let server = start(config).await;
    let first = connect(&server, "first").await;
    let room = the_room(&server).id.clone();
    let by_id = Join::Room { id: room.clone() };
    match within("connect", GameClient::connect_as(&url(&server), "second", by_id.clone())).await {
        Err(ClientError::Closed { code, reason }) => {
            assert_eq!(code, close_code::ROOM_FULL);
            assert_eq!(reason, format!("room {room} is full (1 players)"));
        }
        other => panic!("expected a refusal, got {:?}", other.map(|c| c.player_id())),
    }
    first.close().await;
    until("slot freed", || players(&server) == 0).await;
    let mut third = within("join", GameClient::connect_as(&url(&server), "third", by_id)).await.unwrap();
    next_snapshot(&mut third).await;
    assert!(third.me().is_some());
    // A socket dropped without a close frame holds its seat for the resume grace, then frees it.
    drop(third);
    until("seat held after a drop", || room_stats(&server).detached.load(Ordering::Relaxed) == 1).await;
    assert_eq!(players(&server), 1, "a dropped player's seat is held for a resume");
    until("slot freed after the grace", || players(&server) == 0).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_and_healthz_reports() {
    let server = start(ServerConfig::for_tests()).await;
    let mut client = connect(&server, "pinger").await;
    client.send(&ClientMessage::Ping { nonce: 4242 }).await.unwrap();
    within("pong", async {
        loop {
            if let skirmish::client::ServerEvent::Pong { nonce } = client.next_event().await.unwrap() {
                assert_eq!(nonce, 4242);
                break;
            }
        }
    })
    .await;

    let body = http_get(server.local_addr, "/healthz").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let json: serde_json::Value = serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["players"], 1);
    assert_eq!(json["rooms_open"], 1);
    assert_eq!(json["rooms"][0]["tick_rate"], 30);
    assert_eq!(json["rooms"][0]["players"], 1);
    assert_eq!(json["disconnects"]["peer_closed"], 0);
    let index = http_get(server.local_addr, "/").await;
    assert!(index.starts_with("HTTP/1.1 200") && index.contains("<canvas"), "the client page is served");
    let not_ws = http_get(server.local_addr, "/ws").await;
    assert!(not_ws.starts_with("HTTP/1.1 426"), "{not_ws}");
    client.close().await;
    server.shutdown().await;
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within("http", async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
}

//! The hardened edge, attacked over real loopback sockets (raw TCP where the handshake itself is the attack): every
//! abuse ends in the documented close code or refusal, and its slot, task and connection count are given back.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::raw::*;
use common::*;
use skirmish::client::ClientError;
use skirmish::codec::{self, close_code};
use skirmish::config::ServerConfig;
use skirmish::link::DisconnectReason;
use skirmish::protocol::{ClientMessage, Input};
use skirmish::server::RunningServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Waits until the room has `count` players (a leave is taken at the room's next tick).
async fn players_become(server: &RunningServer, count: u32, what: &str) {
    until(what, || players(server) == count).await;
}

/// Waits until the server has no player, WebSocket or TCP connection left: everything was released.
async fn released(server: &RunningServer) {
    until("resources released", || {
        players(server) == 0
            && server.server_stats.websockets.load(Ordering::Relaxed) == 0
            && server.server_stats.connections.load(Ordering::Relaxed) == 0
    })
    .await;
}

/// Slack on every timing bound here: a debug build on two busy cores wakes a timer late now and then.
const SLACK: Duration = Duration::from_millis(400);

fn quick_config() -> ServerConfig {
    let mut config = ServerConfig::for_tests();
    config.limits.ping_interval = Duration::from_millis(300);
    config.limits.idle_timeout = Duration::from_millis(1200);
    config.limits.hello_timeout = Duration::from_millis(800);
    config.limits.handshake_timeout = Duration::from_millis(800);
    config.room.slow_client_timeout = Duration::from_millis(800);
    config.limits.shutdown_grace = Duration::from_millis(500);
    // A dropped player's seat is held for a resume; here only briefly, so that released slots show soon.
    config.room.resume_grace = Duration::from_millis(500);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_pinged_then_closed_and_a_pong_keeps_it_alive() {
    let config = quick_config();
    let (idle, ping) = (config.limits.idle_timeout, config.limits.ping_interval);
    let server = start(config).await;
    // A spectator that reads (and so answers pings) but sends nothing else stays well past the idle timeout.
    let mut spectator = connect(&server, "watcher").await;
    let stay = tokio::spawn(async move {
        let until = tokio::time::Instant::now() + Duration::from_millis(2500);
        while tokio::time::Instant::now() < until {
            within("snapshot", spectator.next_message()).await.expect("still connected");
        }
        spectator
    });
    // A raw peer that writes nothing after its hello (it reads, to time what the server sends): the server pings it
    // after the ping interval, hears nothing, and closes it after the idle timeout, counted from the hello.
    // Timed from before the hello, so the server heard the peer last at or after `heard`.
    let heard = tokio::time::Instant::now();
    let mut silent = raw_player(&server).await;
    let mut first_ping = None;
    let (code, reason) = within("close", async {
        loop {
            match read_frame(&mut silent).await {
                Some((OP_PING, _)) => {
                    first_ping.get_or_insert(heard.elapsed());
                }
                Some((OP_CLOSE, payload)) => return skirmish::client::parse_close(&payload),
                Some(_) => {}
                None => panic!("no close frame"),
            }
        }
    })
    .await;
    let closed_after = heard.elapsed();
    let first_ping = first_ping.expect("the server pinged the silent peer first");
    assert!(first_ping >= ping && first_ping <= ping + SLACK, "first ping {first_ping:?} after the hello");
    assert!(closed_after >= idle && closed_after <= idle + ping + SLACK, "closed {closed_after:?} after the hello");
    assert_eq!(code, close_code::GOING_AWAY);
    assert_eq!(reason, "idle timeout: nothing received for 1.2 s");
    assert_eq!(server.server_stats.disconnects.get(DisconnectReason::IdleTimeout), 1);
    let spectator = within("spectator", stay).await.unwrap();
    players_become(&server, 1, "only the silent peer was closed").await;
    spectator.close().await;
    drop(silent);
    released(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_peer_that_vanished_is_reaped() {
    let mut config = quick_config();
    // A tiny send buffer so the server's writes to the vanished peer block, as they do when no ACK comes back.
    config.limits.send_buffer_bytes = 4096;
    config.room.slow_client_timeout = Duration::from_secs(60);
    let (idle, ping) = (config.limits.idle_timeout, config.limits.ping_interval);
    let server = start(config).await;
    // The peer joins, then goes dark: the socket stays open on our side but nothing is read or written, exactly
    // what the server sees of a machine that lost power (no FIN ever arrives).
    let heard = tokio::time::Instant::now();
    let dark = raw_player(&server).await;
    until("half-open peer reaped", || server.server_stats.disconnects.get(DisconnectReason::IdleTimeout) == 1).await;
    let reaped_after = heard.elapsed();
    // Its slot is freed at the room's next tick.
    players_become(&server, 0, "the dark peer's slot is freed").await;
    assert!(reaped_after >= idle && reaped_after <= idle + ping + SLACK, "reaped {reaped_after:?} after the hello");
    assert_eq!(server.server_stats.disconnects.get(DisconnectReason::SlowClient), 0, "the idle rule acted");
    drop(dark);
    released(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handshakes_and_missing_hellos_are_dropped() {
    let server = start(quick_config()).await;
    // An idle connection (a browser's preconnected or kept-alive one: nothing, or nothing after an answer) is closed
    // after the handshake timeout too, quietly: it broke no rule.
    let mut idle = TcpStream::connect(server.local_addr).await.unwrap();
    let mut kept = TcpStream::connect(server.local_addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut buffer = [0u8; 4096];
    assert!(within("answer", kept.read(&mut buffer)).await.unwrap() > 0);
    for stream in [&mut idle, &mut kept] {
        within("idle connection closed", async { while let Ok(1..) = stream.read(&mut buffer).await {} }).await;
    }
    assert_eq!(server.server_stats.violations.load(Ordering::Relaxed), 0, "an idle connection is no violation");
    assert_eq!(server.server_stats.disconnects.get(DisconnectReason::HandshakeTimeout), 0);

    // Slow-loris: half a request, then nothing. The server hangs up after the handshake timeout.
    let mut loris = TcpStream::connect(server.local_addr).await.unwrap();
    loris.write_all(b"GET /ws HTTP/1.1\r\nHost: test\r\n").await.unwrap();
    let started = tokio::time::Instant::now();
    let mut buffer = [0u8; 256];
    let read = within("server hangs up", loris.read(&mut buffer)).await;
    assert!(matches!(read, Ok(0) | Err(_)) || String::from_utf8_lossy(&buffer).contains("408"), "{read:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(server.server_stats.violations.load(Ordering::Relaxed) >= 1);

    // Upgraded but silent: no hello within the time limit.
    let (mut quiet, status) = raw_upgrade(&server, "").await;
    assert!(status.contains("101"));
    assert_eq!(expect_close(&mut quiet).await, (1008, "no hello within the time limit".into()));
    drop((loris, quiet));
    released(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upgrades_and_foreign_origins_are_refused() {
    let mut config = quick_config();
    config.limits.allowed_origins = vec!["http://good.example".into()];
    let server = start(config).await;
    let (_, status) = raw_upgrade(&server, "Origin: http://evil.example\r\n").await;
    assert!(status.contains("403"), "{status}");
    let (_, status) = raw_upgrade(&server, "").await;
    assert!(status.contains("403"), "a missing origin is not on the list: {status}");
    let (ok, status) = raw_upgrade(&server, "Origin: http://good.example\r\n").await;
    assert!(status.contains("101"), "{status}");
    drop(ok);
    // An upgrade request with a WebSocket version the server does not speak.
    let mut stream = TcpStream::connect(server.local_addr).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nOrigin: http://good.example\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .await
        .unwrap();
    let mut response = vec![0u8; 64];
    let n = within("response", stream.read(&mut response)).await.unwrap();
    assert!(String::from_utf8_lossy(&response[..n]).starts_with("HTTP/1.1 426"), "{:?}", &response[..n]);
    drop(stream);
    released(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limits_get_503_and_places_come_back() {
    let mut config = quick_config();
    config.limits.max_connections_per_ip = 3;
    let server = start(config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(raw_player(&server).await);
    }
    let mut extra = TcpStream::connect(server.local_addr).await.unwrap();
    let mut response = String::new();
    within("503", extra.read_to_string(&mut response)).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("too many connections from this address"));
    assert_eq!(server.server_stats.refused.load(Ordering::Relaxed), 1);
    // The limit is per address: while 127.0.0.1 is at its limit, 127.0.0.2 gets in (and is held to its own 3).
    let mut other = Vec::new();
    for _ in 0..3 {
        other.push(hello_on(connect_from([127, 0, 0, 2], &server).await).await);
    }
    let mut response = String::new();
    within("503", connect_from([127, 0, 0, 2], &server).await.read_to_string(&mut response)).await.unwrap();
    assert!(response.contains("too many connections from this address"), "{response}");
    drop(other);
    // Giving one back lets a new one in.
    drop(held.pop());
    until("place returned", || server.server_stats.connections.load(Ordering::Relaxed) == 2).await;
    held.push(raw_player(&server).await);
    drop(held);
    released(&server).await;
    server.shutdown().await;

    // The total limit counts every address, and a place freed is given back.
    let mut config = quick_config();
    config.limits.max_connections = 2;
    let server = start(config).await;
    let first = raw_player(&server).await;
    let second = hello_on(connect_from([127, 0, 0, 2], &server).await).await;
    for from in [[127, 0, 0, 1], [127, 0, 0, 3]] {
        let mut response = String::new();
        within("503", connect_from(from, &server).await.read_to_string(&mut response)).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(response.contains("server at its connection limit"), "{response}");
    }
    drop(first);
    until("place returned", || server.server_stats.connections.load(Ordering::Relaxed) == 1).await;
    let again = hello_on(connect_from([127, 0, 0, 3], &server).await).await;
    assert_eq!(server.server_stats.refused.load(Ordering::Relaxed), 2);
    drop((second, again));
    released(&server).await;
    server.shutdown().await;
}

/// The frame with its first byte (FIN, reserved bits and opcode) replaced.
fn with_first_byte(mut frame: Vec<u8>, first: u8) -> Vec<u8> {
    frame[0] = first;
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6455_violations_close_with_1002_and_oversized_messages_with_1009() {
    let server = start(quick_config()).await;
    let input = codec::encode_client(&ClientMessage::Input(Input { seq: 1, ..Input::default() }));
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (frame(OP_BINARY, &input, false), 1002, "client frames must be masked"),
        (frame(OP_PING, &[7u8; 126], true), 1002, "control frame over 125 bytes"),
        (frame(OP_PONG, &[7u8; 126], true), 1002, "control frame over 125 bytes"),
        (frame(OP_CLOSE, &[3u8; 127], true), 1002, "control frame over 125 bytes"),
        (frame(OP_TEXT, b"hello", true), 1003, "text messages are not accepted; send binary MessagePack"),
        (frame(OP_BINARY, &[0x91; 513], true), 1009, "frame exceeds the message size limit of 512 bytes"),
        (with_first_byte(frame(OP_BINARY, &input, true), 0xC2), 1002, "reserved bits are not zero"),
        (with_first_byte(frame(OP_BINARY, &input, true), 0x83), 1002, "unknown opcode 3"),
        (with_first_byte(frame(OP_PING, b"", true), OP_PING), 1002, "control frame must not be fragmented"),
        (frame(OP_TEXT, &[0xff, 0xfe], true), 1007, "text message is not valid UTF-8"),
    ];
    for (bytes, code, reason) in cases {
        let mut stream = raw_player(&server).await;
        stream.write_all(&bytes).await.unwrap();
        let (got_code, got_reason) = expect_close(&mut stream).await;
        assert_eq!((got_code, got_reason.as_str()), (code, reason));
    }
    // A frame header announcing 1 GiB is refused from the header alone, before any payload arrives.
    let mut stream = raw_player(&server).await;
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    stream.write_all(&header).await.unwrap();
    assert_eq!(expect_close(&mut stream).await, (1009, "frame exceeds the message size limit of 512 bytes".into()));
    released(&server).await;
    assert!(server.server_stats.violations.load(Ordering::Relaxed) >= 11);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_close_with_1007_and_floods_with_1008() {
    let server = start(quick_config()).await;
    // A float where an integer belongs (NaN), and a sequence number beyond u32.
    let nan_input = [0x97, 0x02, 0xca, 0x7f, 0xc0, 0x00, 0x00, 0, 0, 0, 0, 0];
    let huge_seq = [0x97, 0x02, 0xcf, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for bytes in [&nan_input[..], &huge_seq[..]] {
        let mut stream = raw_player(&server).await;
        stream.write_all(&frame(OP_BINARY, bytes, true)).await.unwrap();
        let (code, reason) = expect_close(&mut stream).await;
        assert_eq!(code, close_code::INVALID_PAYLOAD, "{reason}");
        assert!(reason.starts_with("malformed message"), "{reason}");
    }

    // A burst above the rate is trimmed, not punished.
    let mut client = connect(&server, "bursty").await;
    for _ in 0..80 {
        client.send(&ClientMessage::Ack { tick: 0 }).await.unwrap();
    }
    until("excess messages dropped", || server.server_stats.messages_dropped.load(Ordering::Relaxed) > 0).await;
    within("still connected", client.next_message()).await.expect("a burst does not close the connection");
    client.close().await;

    // A sustained flood is closed.
    let mut flooder = connect(&server, "flooder").await;
    let outcome = within("flood closed", async {
        for _ in 0..5000 {
            if flooder.send(&ClientMessage::Ack { tick: 0 }).await.is_err() {
                break;
            }
        }
        loop {
            match flooder.next_message().await {
                Ok(_) => {}
                Err(error) => return error,
            }
        }
    })
    .await;
    match outcome {
        ClientError::Closed { code, reason } => {
            assert_eq!(code, close_code::POLICY_VIOLATION);
            assert!(reason.starts_with("message flood"), "{reason}");
        }
        other => panic!("expected a close, got {other}"),
    }
    released(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_without_stalling_anyone() {
    let mut config = quick_config();
    config.limits.send_buffer_bytes = 4096;
    config.limits.outbox_frames = 4;
    // Longer than the slow-client limit, so it is the slow-client rule that acts, not the idle one.
    config.limits.idle_timeout = Duration::from_secs(30);
    let slow_timeout = config.room.slow_client_timeout;
    let tick = Duration::from_secs_f64(1.0 / f64::from(config.room.tick_rate));
    let server = std::sync::Arc::new(start(config).await);
    let mut reader = connect(&server, "reader").await;
    // Times the rule: the first frame dropped for the stalled client (its outbox is full from then on) and the
    // close. Only the stalled client can drop frames: the reader keeps up.
    let watch = tokio::spawn({
        let server = server.clone();
        async move {
            let mut first_drop = None;
            loop {
                let now = tokio::time::Instant::now();
                if first_drop.is_none() && room_stats(&server).frames_dropped.load(Ordering::Relaxed) > 0 {
                    first_drop = Some(now);
                }
                if room_stats(&server).slow_clients_closed.load(Ordering::Relaxed) > 0 {
                    return first_drop.map(|first| now - first);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    // The stalled client keeps sending inputs (so it is not idle) but never reads a byte; its receive window is
    // small, so the server's frames back up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let mut stalled = hello_on(socket.connect(server.local_addr).await.unwrap()).await;
    let sender = tokio::spawn(async move {
        for seq in 1.. {
            let move_x = if (seq / 20) % 2 == 0 { 127 } else { -127 };
            let input = codec::encode_client(&ClientMessage::Input(Input { seq, move_x, ..Input::default() }));
            if stalled.write_all(&frame(OP_BINARY, &input, true)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    });
    // Keep playing (moving, so every frame carries changes) until the stalled client is closed, counting the
    // ticks the reading client received meanwhile.
    let (mut first, mut last, mut received) = (0, 0, 0);
    let wait = async {
        while room_stats(&server).slow_clients_closed.load(Ordering::Relaxed) == 0 || received < 60 {
            if let skirmish::client::ServerEvent::Snapshot { tick, .. } = reader.next_event().await.unwrap() {
                first = if first == 0 { tick } else { first };
                last = tick;
                received += 1;
                let move_y = if (tick / 20) % 2 == 0 { 127 } else { -127 };
                reader.send_input(0, move_y, 0, false).await.unwrap();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait).await.expect("the stalled client is closed within a minute");
    let span = last - first + 1;
    assert!(received * 100 >= span * 90, "the reading client got {received} of {span} ticks meanwhile");
    assert_eq!(room_stats(&server).slow_clients_closed.load(Ordering::Relaxed), 1);
    let full_for = within("close timed", watch).await.unwrap().expect("frames were dropped before the close");
    // The outbox is full at the first drop and the close comes at the drop that makes it `slow_timeout` of ticks.
    assert!(
        full_for + 2 * tick >= slow_timeout && full_for <= slow_timeout + SLACK,
        "closed {full_for:?} after its outbox filled (limit {slow_timeout:?})"
    );
    players_become(&server, 1, "the stalled client's slot is freed").await;
    until("the close is counted", || server.server_stats.disconnects.get(DisconnectReason::SlowClient) == 1).await;
    sender.abort();
    reader.close().await;
    released(&server).await;
    let Ok(server) = std::sync::Arc::try_unwrap(server) else { panic!("the watcher let go of the server") };
    server.shutdown().await;
}

//! Fifty well-behaved players keep playing at full tick rate while ten abusive clients do their worst: garbage,
//! floods, clients that never read, and peers that vanish without closing. Each kind of abuse must be handled by
//! its own rule (and counter), and every abuser must really have connected and run: a task that could not
//! connect or panicked fails the test.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use skirmish::client::{self, ClientError, GameClient};
use skirmish::codec::{self, close_code};
use skirmish::config::ServerConfig;
use skirmish::link::DisconnectReason;
use skirmish::protocol::{ClientMessage, Input};

const GOOD: usize = 50;
const RUN: Duration = Duration::from_secs(5);

/// Joins, then sends garbage and reads until the server's close; again until told to stop. Returns the closes
/// it received.
async fn garbage(url: String, stop: Arc<AtomicBool>, seed: u8) -> Vec<(u16, String)> {
    let mut closes = Vec::new();
    let mut round = 0u8;
    while !stop.load(Ordering::Relaxed) {
        let mut client = GameClient::connect(&url, "garbage").await.expect("the garbage sender connects");
        round = round.wrapping_add(1);
        let junk: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(seed).wrapping_add(round)).collect();
        client.send_bytes(junk).await.expect("the junk is sent");
        let error = loop {
            if let Err(error) = client.next_message().await {
                break error;
            }
        };
        match error {
            ClientError::Closed { code, reason } => closes.push((code, reason)),
            other => panic!("garbage got {other} instead of a close"),
        }
    }
    closes
}

/// Joins, then floods acknowledgements as fast as it can, reconnecting after each close. Returns the rounds that
/// ended with the server closing the socket (the last one may be cut short by the stop).
async fn flood(url: String, stop: Arc<AtomicBool>) -> u64 {
    let mut closed_rounds = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut client = GameClient::connect(&url, "flood").await.expect("the flooder connects");
        while !stop.load(Ordering::Relaxed) {
            if client.send(&ClientMessage::Ack { tick: 0 }).await.is_err() {
                closed_rounds += 1;
                break;
            }
        }
    }
    closed_rounds
}

/// Joins and keeps sending inputs but never reads a byte, with a small receive window so the server's frames back
/// up within the run. Returns how many inputs went out.
async fn never_reads(url: String, addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> u32 {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(addr).await.expect("the deaf client connects");
    let mut ws = client::open_on(stream, &url).await.expect("the deaf client upgrades");
    let hello = codec::encode_client(&ClientMessage::hello("deaf"));
    ws.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Owned(hello))).await.expect("hello");
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let input = codec::encode_client(&ClientMessage::Input(Input { seq, move_x: 100, ..Input::default() }));
        if ws.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Owned(input))).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(33)).await;
    }
    seq
}

/// Joins, then neither reads nor writes: a peer that vanished without a FIN.
async fn vanishes(url: String, stop: Arc<AtomicBool>) {
    let ghost = GameClient::connect(&url, "ghost").await.expect("the ghost connects");
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(ghost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_behaved_players_keep_their_tick_rate_under_attack() {
    let mut config = ServerConfig::for_tests();
    config.limits.idle_timeout = Duration::from_secs(2);
    config.limits.ping_interval = Duration::from_millis(500);
    config.room.slow_client_timeout = Duration::from_secs(1);
    // Small enough that the deaf clients' frames back up within the run (the good clients read as they go).
    config.limits.send_buffer_bytes = 8192;
    let tick_rate = config.room.tick_rate;
    let server = start(config).await;
    let url = url(&server);
    let stop = Arc::new(AtomicBool::new(false));

    let mut good = Vec::new();
    for i in 0..GOOD {
        let client = connect(&server, &format!("good{i}")).await;
        good.push(tokio::spawn(play_for(client, RUN)));
    }
    let rate = RateWatch::start(&server);
    let garbage_senders: Vec<_> = (0..3u8).map(|i| tokio::spawn(garbage(url.clone(), stop.clone(), 31 + i))).collect();
    let flooders: Vec<_> = (0..3).map(|_| tokio::spawn(flood(url.clone(), stop.clone()))).collect();
    let deaf: Vec<_> =
        (0..2).map(|_| tokio::spawn(never_reads(url.clone(), server.local_addr, stop.clone()))).collect();
    let ghosts: Vec<_> = (0..2).map(|_| tokio::spawn(vanishes(url.clone(), stop.clone()))).collect();

    let mut longest_gap = Duration::ZERO;
    for (i, task) in good.into_iter().enumerate() {
        let count = within("good client", task).await.unwrap();
        count.assert_nearly_every_tick(&format!("good client {i}"), 120, 90);
        longest_gap = longest_gap.max(count.longest_gap);
    }
    rate.assert_full_rate(&server, tick_rate);
    stop.store(true, Ordering::Relaxed);

    let mut garbage_closes = Vec::new();
    for task in garbage_senders {
        let closes = within("garbage sender stops", task).await.expect("garbage sender ran without panicking");
        assert!(!closes.is_empty(), "each garbage sender was closed at least once");
        garbage_closes.extend(closes);
    }
    for (code, reason) in &garbage_closes {
        assert_eq!(*code, close_code::INVALID_PAYLOAD, "garbage closed with {code} {reason}");
        assert!(!reason.is_empty(), "a close for garbage names its reason");
    }
    let mut flood_rounds = 0;
    for task in flooders {
        let rounds = within("flooder stops", task).await.expect("flooder ran without panicking");
        assert!(rounds >= 1, "each flooder was closed at least once");
        flood_rounds += rounds;
    }
    for task in deaf {
        let sent = within("deaf client stops", task).await.expect("deaf client ran without panicking");
        assert!(sent > 10, "the deaf client kept sending ({sent} inputs)");
    }
    for task in ghosts {
        within("ghost stops", task).await.expect("ghost ran without panicking");
    }

    // Each kind of abuse was caught by its own rule.
    let disconnects = &server.server_stats.disconnects;
    until("every garbage close counted", || {
        disconnects.get(DisconnectReason::MalformedMessage) == garbage_closes.len() as u64
    })
    .await;
    let floods = disconnects.get(DisconnectReason::MessageFlood);
    assert!((flood_rounds..=flood_rounds + 3).contains(&floods), "{floods} flood closes for {flood_rounds} rounds");
    assert_eq!(disconnects.get(DisconnectReason::SlowClient), 2, "both deaf clients were closed as too slow");
    assert_eq!(room_stats(&server).slow_clients_closed.load(Ordering::Relaxed), 2);
    assert_eq!(disconnects.get(DisconnectReason::IdleTimeout), 2, "both ghosts were reaped as idle");
    for reason in [DisconnectReason::ProtocolError, DisconnectReason::PolicyViolation, DisconnectReason::RoomFull] {
        assert_eq!(disconnects.get(reason), 0, "nobody was closed for {}", reason.name());
    }

    eprintln!(
        "under attack: longest snapshot gap of a good client {longest_gap:?}; {} garbage, {flood_rounds} flood, \
         2 slow and 2 idle closes",
        garbage_closes.len()
    );
    until("everyone released", || {
        players(&server) == 0 && server.server_stats.connections.load(Ordering::Relaxed) == 0
    })
    .await;
    server.shutdown().await;
}

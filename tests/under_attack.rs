//! Fifty well-behaved players keep playing at full tick rate while ten abusive clients do their worst: garbage,
//! floods, clients that never read, and peers that vanish without closing.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use skirmish::client::{self, GameClient};
use skirmish::codec;
use skirmish::config::Config;
use skirmish::protocol::{ClientMessage, Input, PROTOCOL_VERSION};

const GOOD: usize = 50;
const RUN: Duration = Duration::from_secs(5);

/// Joins, then sends garbage; reconnects after each close, until told to stop.
async fn garbage(url: String, stop: Arc<AtomicBool>, seed: u8) {
    let mut round = 0u8;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut client) = GameClient::connect(&url, "garbage").await else { continue };
        round = round.wrapping_add(1);
        let junk: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(seed).wrapping_add(round)).collect();
        let _ = client.send_bytes(junk).await;
        while client.next_message().await.is_ok() {}
    }
}

/// Joins, then floods acknowledgements as fast as it can; reconnects after each close.
async fn flood(url: String, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut client) = GameClient::connect(&url, "flood").await else { continue };
        while !stop.load(Ordering::Relaxed) {
            if client.send(&ClientMessage::Ack { tick: 0 }).await.is_err() {
                break;
            }
        }
    }
}

/// Joins and keeps sending inputs but never reads a byte.
async fn never_reads(url: String, stop: Arc<AtomicBool>) {
    let Ok(mut ws) = client::open(&url).await else { return };
    let hello = codec::encode_client(&ClientMessage::Hello { version: PROTOCOL_VERSION, name: "deaf".into() });
    let _ = ws.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Owned(hello))).await;
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let input = codec::encode_client(&ClientMessage::Input(Input { seq, move_x: 100, ..Input::default() }));
        if ws.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Owned(input))).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(33)).await;
    }
}

/// Joins, then neither reads nor writes: a peer that vanished without a FIN.
async fn vanishes(url: String, stop: Arc<AtomicBool>) {
    let Ok(ws) = GameClient::connect(&url, "ghost").await else { return };
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_behaved_players_keep_their_tick_rate_under_attack() {
    let mut config = Config::for_tests();
    config.limits.idle_timeout = Duration::from_secs(2);
    config.limits.ping_interval = Duration::from_millis(500);
    config.limits.slow_client_timeout = Duration::from_secs(1);
    let server = start(config).await;
    let url = url(&server);
    let stop = Arc::new(AtomicBool::new(false));

    let mut good = Vec::new();
    for i in 0..GOOD {
        let client = connect(&server, &format!("good{i}")).await;
        good.push(tokio::spawn(play_for(client, RUN)));
    }
    let mut abusers = Vec::new();
    for i in 0..3u8 {
        abusers.push(tokio::spawn(garbage(url.clone(), stop.clone(), 31 + i)));
        abusers.push(tokio::spawn(flood(url.clone(), stop.clone())));
    }
    for _ in 0..2 {
        abusers.push(tokio::spawn(never_reads(url.clone(), stop.clone())));
        abusers.push(tokio::spawn(vanishes(url.clone(), stop.clone())));
    }

    for (i, task) in good.into_iter().enumerate() {
        within("good client", task).await.unwrap().assert_nearly_every_tick(&format!("good client {i}"), 120, 90);
    }
    stop.store(true, Ordering::Relaxed);
    for task in abusers {
        let _ = within("abuser stops", task).await;
    }
    // The good clients' tick rate above is the check that matters. Overruns are counted too, but a debug build
    // sharing two cores with 60 clients can miss a slot now and then (seen once in CI: 2 of ~200 ticks), so only a
    // stalled room (more than one tick in 20) fails here; tick times are measured in the benchmarks.
    let overruns = server.room_stats.overruns.load(Ordering::Relaxed);
    let ticks = u64::from(server.room_stats.tick.load(Ordering::Relaxed));
    assert!(overruns * 20 <= ticks, "{overruns} overruns in {ticks} ticks");
    let violations = server.server_stats.violations.load(Ordering::Relaxed);
    assert!(violations >= 6, "the abusers were closed for their violations ({violations})");
    assert!(server.room_stats.slow_clients_closed.load(Ordering::Relaxed) >= 1 || violations >= 8);
    within("everyone released", async {
        loop {
            let players = server.room_stats.players.load(Ordering::Relaxed);
            let connections = server.server_stats.connections.load(Ordering::Relaxed);
            if players == 0 && connections == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    server.shutdown().await;
}

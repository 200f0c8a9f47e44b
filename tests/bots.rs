//! The bots library against a real server on a loopback port: fifty bots join, play, score kills, and the report
//! shows snapshots at about the tick rate and no desyncs; bots told to create rooms spread evenly over them, with
//! spectators watching. Failing targets, and a room the server refuses to create, give clear errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use skirmish::client::ClientError;
use skirmish::config::ServerConfig;
use skirmish::swarm::{self, Progress, RoomsConfig, SwarmConfig, SwarmError};
use tokio::sync::watch;

/// The two tests that measure rates take turns: each is a full room's load for a debug build on a shared machine,
/// and one measured beside the other misses its snapshot rate.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn swarm_config(url: String, count: usize, seconds: f64) -> SwarmConfig {
    SwarmConfig {
        url,
        count,
        duration: Duration::from_secs_f64(seconds),
        ramp_per_sec: 200.0,
        input_rate: 30.0,
        hold_fire: false,
        name_prefix: "bot".into(),
        seed: 7,
        protocol_version: skirmish::protocol::PROTOCOL_VERSION,
        rooms: None,
        spectators: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_bots_play_with_snapshots_at_the_tick_rate_and_no_desyncs() {
    let _turn = MEASURING.lock().await;
    let server = start(ServerConfig::for_tests()).await;
    let (_stop_tx, stop) = watch::channel(false);
    let report = within("swarm", swarm::run(swarm_config(url(&server), 50, 6.0), Arc::new(Progress::default()), stop))
        .await
        .expect("swarm runs");
    println!("{}", report.render());
    assert_eq!(report.connected, 50);
    assert_eq!((report.failed, report.disconnected), (0, 0), "{:?}", report.close_reasons);
    assert!(report.snapshots_per_bot_s > 27.0, "{} snapshots per bot per second", report.snapshots_per_bot_s);
    assert!(report.interarrival_ms_p50 > 25.0 && report.interarrival_ms_p50 < 45.0, "{report:?}");
    assert_eq!(report.desyncs, 0);
    // A full snapshot goes out with the welcome; a bot whose first acknowledgement misses the next tick (a loaded
    // debug build) gets one more. Deltas after that.
    assert!((50..=100).contains(&report.full_snapshots), "{} full snapshots for 50 bots", report.full_snapshots);
    assert!(report.deltas > 50 * 100);
    assert!(report.kills > 0, "the bots fought");
    assert!(report.ack_latency_ms_p50 > 0.0 && report.ack_latency_ms_p99 < 500.0, "{report:?}");
    assert!(report.bytes_in_per_bot_s > 1000.0 && report.bytes_out_per_bot_s > 100.0);
    // Quick play put them all in one room, which the report names.
    assert_eq!(report.rooms.len(), 1, "{:?}", report.rooms);
    assert_eq!((report.rooms[0].bots, report.rooms[0].desyncs), (50, 0));
    assert_eq!(report.spectators.requested, 0);
    // Every bot closed its socket when the run ended.
    until("bots leave", || players(&server) == 0).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_is_down_or_speaks_another_version_is_a_clear_error() {
    // Bind and drop a listener to find a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_stop_tx, stop) = watch::channel(false);
    let config = swarm_config(format!("ws://127.0.0.1:{port}/ws"), 5, 1.0);
    match swarm::run(config, Arc::new(Progress::default()), stop.clone()).await {
        Err(SwarmError::FirstBot { source: ClientError::Connect { .. }, .. }) => {}
        other => panic!("expected a connection error, got {:?}", other.map(|r| r.connected)),
    }

    let server = start(ServerConfig::for_tests()).await;
    let mut config = swarm_config(url(&server), 5, 1.0);
    config.protocol_version = 9;
    let error = swarm::run(config, Arc::new(Progress::default()), stop.clone()).await.unwrap_err();
    assert!(error.to_string().contains("protocol version mismatch: server speaks 3, client sent 9"), "{error}");

    // A refused handshake: a plain HTTP path that is not a WebSocket endpoint.
    let config = swarm_config(format!("ws://{}/healthz", server.local_addr), 5, 1.0);
    let error = swarm::run(config, Arc::new(Progress::default()), stop).await.unwrap_err();
    assert!(matches!(error, SwarmError::FirstBot { source: ClientError::Handshake(_), .. }), "{error}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_spread_evenly_over_the_rooms_they_create_and_spectators_watch_them() {
    let _turn = MEASURING.lock().await;
    let server = start(ServerConfig::for_tests()).await;
    let mut config = swarm_config(url(&server), 9, 5.0);
    config.rooms = Some(RoomsConfig::new(3));
    config.spectators = 2;
    let (_stop_tx, stop) = watch::channel(false);
    let swarm = tokio::spawn(swarm::run(config, Arc::new(Progress::default()), stop));

    // While they play: three rooms of three players each, the spectators in the first two.
    let rooms = within("nine bots in three rooms", async {
        loop {
            let rooms = server.lobby.all();
            let watching: usize = rooms.iter().map(|room| room.spectators()).sum();
            if rooms.len() == 3 && rooms.iter().all(|room| room.players() == 3) && watching == 2 {
                return rooms;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let mut names: Vec<&str> = rooms.iter().map(|room| room.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["bots 1", "bots 2", "bots 3"]);

    let report = within("swarm", swarm).await.expect("swarm task").expect("swarm runs");
    println!("{}", report.render());
    assert_eq!((report.connected, report.failed, report.disconnected), (9, 0, 0), "{:?}", report.close_reasons);
    assert_eq!(report.desyncs, 0);
    assert_eq!(report.rooms.len(), 3, "{:?}", report.rooms);
    for (number, room) in report.rooms.iter().enumerate() {
        // In creation order, with the ids and names the server gave.
        assert_eq!(room.name, format!("bots {}", number + 1));
        let on_server = rooms.iter().find(|entry| entry.id == room.id).expect("the report's room is the server's");
        assert_eq!(on_server.name, room.name);
        assert_eq!((room.bots, room.desyncs), (3, 0), "{room:?}");
        assert_eq!(room.spectators, u64::from(number < 2), "{room:?}");
        assert!(room.snapshots_per_bot_s > 20.0, "{room:?}");
        assert!(room.bytes_in_per_bot_s > 100.0 && room.bytes_out_per_bot_s > 10.0, "{room:?}");
        assert!(room.interarrival_ms_p99 > 0.0 && room.ack_latency_ms_p99 > 0.0, "{room:?}");
    }
    let spectators = &report.spectators;
    assert_eq!((spectators.requested, spectators.connected, spectators.failed), (2, 2, 0), "{spectators:?}");
    assert_eq!((spectators.disconnected, spectators.desyncs), (0, 0), "{spectators:?}");
    assert!(spectators.snapshots > 2 * 30, "{spectators:?}");
    assert!(spectators.snapshots_per_spectator_s > 20.0, "{spectators:?}");
    // Spectators only acknowledge: a handful of bytes a second, against the bots' inputs at 30 per second.
    assert!(spectators.bytes_out_per_spectator_s < report.bytes_out_per_bot_s / 2.0, "{report:?}");
    until("bots leave", || players(&server) == 0).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_the_server_refuses_to_create_ends_the_run_with_a_clear_error() {
    let mut server_config = ServerConfig::for_tests();
    server_config.max_rooms = 2;
    let server = start(server_config).await;
    let (_stop_tx, stop) = watch::channel(false);

    // One room more than the server hosts: 4004 for whichever creator comes third.
    let mut config = swarm_config(url(&server), 6, 5.0);
    config.rooms = Some(RoomsConfig::new(3));
    let error =
        within("refused swarm", swarm::run(config, Arc::new(Progress::default()), stop.clone())).await.unwrap_err();
    assert!(
        matches!(&error, SwarmError::RoomCreator { rooms: 3, source: ClientError::Closed { code: 4004, .. }, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("the server is at its room limit (2 rooms)"), "{error}");

    // Options the server refuses (4005), named in the error.
    let mut config = swarm_config(url(&server), 2, 5.0);
    config.rooms = Some(RoomsConfig { max_players: Some(0), ..RoomsConfig::new(1) });
    let error =
        within("bad options", swarm::run(config, Arc::new(Progress::default()), stop.clone())).await.unwrap_err();
    assert!(matches!(&error, SwarmError::RoomCreator { number: 1, .. }), "{error}");
    assert!(error.to_string().contains("4005") && error.to_string().contains("max_players"), "{error}");

    // More rooms than bots to create them: refused before connecting at all.
    let mut config = swarm_config(url(&server), 2, 5.0);
    config.rooms = Some(RoomsConfig::new(3));
    let error = swarm::run(config, Arc::new(Progress::default()), stop).await.unwrap_err();
    assert!(matches!(error, SwarmError::BadConfig(_)), "{error}");
    server.shutdown().await;
}

//! The bots library against a real server on a loopback port: fifty bots join, play, score kills, and the report
//! shows snapshots at about the tick rate and no desyncs; fifty bots whose connections keep dropping take their
//! seats back every time, continuing on deltas; bots told to create rooms spread evenly over them, with spectators
//! watching. Failing targets, a room the server refuses to create, and churn against a server that holds no seats
//! give clear errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use skirmish::client::{Abrupt, ClientError, ServerEvent};
use skirmish::conditioner::{Conditioner, LinkProfile};
use skirmish::config::{ServerConfig, HISTORY_TICKS};
use skirmish::protocol::PROTOCOL_VERSION;
use skirmish::swarm::{self, Progress, RoomsConfig, SwarmError};
use tokio::sync::watch;

/// The two tests that measure rates take turns: each is a full room's load for a debug build on a shared machine,
/// and one measured beside the other misses its snapshot rate.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_sign_their_own_join_tokens_for_a_server_with_authentication() {
    let _turn = MEASURING.lock().await;
    let secret = b"bots and server share this secret".to_vec();
    let mut config = ServerConfig::for_tests();
    config.auth = Some(Arc::new(skirmish::auth::Authenticator::new(&secret).unwrap()));
    let server = start(config).await;
    let (_stop_tx, stop) = watch::channel(false);
    let mut swarm = swarm_config(url(&server), 10, 2.0);
    swarm.rooms = Some(swarm::RoomsConfig::new(2));
    swarm.auth_secret = Some(secret);
    let report = within("swarm", swarm::run(swarm, Arc::new(Progress::default()), stop)).await.expect("swarm runs");
    assert_eq!((report.connected, report.failed), (10, 0), "{}", report.render());
    assert_eq!(server.lobby.all().len(), 2, "the bots' tokens allow creating their rooms");
    // Without the secret, every bot is refused for want of a token.
    let (_stop_tx, stop) = watch::channel(false);
    let outcome =
        within("swarm", swarm::run(swarm_config(url(&server), 3, 1.0), Arc::new(Progress::default()), stop)).await;
    let error = outcome.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("4010") || error.contains("signed join token"), "{error}");
    server.shutdown().await;
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

/// Load mode: 3 bots in 4 read only snapshot heads and walk a circle, yet the server sees them as players (inputs
/// at the rate, acknowledgements, deltas), while the sampled quarter decodes everything with no desync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_load_mode_light_bots_cost_the_server_a_player_each_and_a_sample_still_decodes() {
    let _turn = MEASURING.lock().await;
    let server = start(ServerConfig::for_tests()).await;
    let (_stop_tx, stop) = watch::channel(false);
    let mut config = swarm_config(url(&server), 40, 5.0);
    config.decode_every = 4;
    config.hold_fire = true;
    let report = within("swarm", swarm::run(config, Arc::new(Progress::default()), stop)).await.expect("swarm runs");
    let text = report.render();
    println!("{text}");
    assert_eq!((report.connected, report.failed, report.disconnected), (40, 0, 0), "{:?}", report.close_reasons);
    assert_eq!(report.light_bots, 30, "bots 1-3, 5-7, ... are light; 0, 4, 8, ... decode");
    assert!(text.starts_with("LOAD MODE: 30 light bots"), "the report says so first: {text}");
    assert!(report.snapshots_per_bot_s > 25.0, "{} snapshots per bot per second", report.snapshots_per_bot_s);
    assert_eq!(report.desyncs, 0);
    assert!(report.predictions_checked > 0, "the decoding bots played and measured their prediction");
    // The light bots acknowledged: nearly all their snapshots were deltas, not a full snapshot per tick.
    assert!(report.deltas > 20 * report.full_snapshots, "{} deltas, {} full", report.deltas, report.full_snapshots);
    // And they sent inputs at the rate like the others (30 a second, 40 bots).
    assert!(report.bytes_out_per_bot_s > 20.0 * 12.0, "{} B/s out per bot", report.bytes_out_per_bot_s);
    until("bots leave", || players(&server) == 0).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_bots_whose_connections_keep_dropping_resume_every_time_on_deltas() {
    // Not a rate measurement, but fifty bots reconnecting twice a second in all would spoil the others' rates.
    let _turn = MEASURING.lock().await;
    let server = start(ServerConfig::for_tests()).await;
    let mut config = swarm_config(url(&server), 50, 6.0);
    // 30 drops per bot per minute: about three per bot in the run, so only one bot in twenty or so keeps its first
    // socket throughout (e^-2.9 of them), and the server sees about 25 drops a second.
    config.churn_per_minute = 30.0;
    let (_stop_tx, stop) = watch::channel(false);
    let report =
        within("churning swarm", swarm::run(config, Arc::new(Progress::default()), stop)).await.expect("swarm runs");
    println!("{}", report.render());
    assert_eq!(report.connected, 50);
    // A failed resume ends its bot, so it would show here too, with the reason.
    assert_eq!((report.failed, report.disconnected), (0, 0), "{:?}", report.close_reasons);
    assert!(report.drops >= 80, "only {} drops", report.drops);
    assert!(report.dropped_bots >= 40, "only {} of 50 bots were dropped", report.dropped_bots);
    assert_eq!(report.failed_resumes, 0);
    assert_eq!(report.resumes, report.drops, "every drop is followed by exactly one resume");
    assert_eq!(report.desyncs, 0);
    // The server starts a resumed seat over with a full snapshot only when the tick the client holds has left its
    // history. The first attempt goes out 75 to 125 ms after the drop and succeeds on loopback, so the held tick is a
    // handful of ticks old (the gap shows it) and every resume must continue on a delta.
    let history = HISTORY_TICKS as u64;
    assert!(
        report.resume_gap_ticks_max + 1 < history,
        "a resume {} ticks after the held one",
        report.resume_gap_ticks_max
    );
    assert_eq!(report.full_snapshots_after_resume, 0);
    assert!(report.resume_ms_max < 1000.0, "a resume took {} ms", report.resume_ms_max);
    // The bots kept playing in between.
    assert!(report.kills > 0 && report.snapshots_per_bot_s > 20.0, "{report:?}");
    // The server agrees: it took back every seat, refused none, and let none run out its grace.
    let stats = room_stats(&server);
    let resumes = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(resumes(&stats.resumes), report.resumes);
    assert_eq!((resumes(&stats.resumes_refused), resumes(&stats.resumes_expired)), (0, 0));
    // It held the seats it saw drop (a resume can also beat the server to noticing, and take over a live seat): no
    // drop sent a close frame, which would have given the seat up.
    let detached = resumes(&stats.detached);
    assert!(detached > 0 && detached <= report.drops, "{detached} seats held for {} drops", report.drops);
    // Every bot left cleanly at the end, even one caught between a drop and its resume: no seat is left held.
    until("bots leave", || players(&server) == 0).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_resumes_after_an_abrupt_drop_on_a_delta_and_reports_a_refusal() {
    let mut server_config = ServerConfig::for_tests();
    server_config.room.resume_grace = Duration::from_millis(500);
    let server = start(server_config).await;
    let mut client = connect(&server, "ana").await;
    let id = client.player_id();
    for _ in 0..5 {
        next_snapshot(&mut client).await;
        client.send_input(10, 0, 0, false).await.expect("input sent");
    }
    for how in [Abrupt::Fin, Abrupt::Reset] {
        let token = client.resume_token().expect("a player's welcome carries a token").to_string();
        let held = client.newest_tick();
        client.drop_connection(how);
        assert!(!client.is_connected());
        assert!(matches!(client.next_event().await, Err(ClientError::NotConnected)), "{how:?}");
        let resumed = within("resume", client.resume(&url(&server))).await.expect("resume accepted");
        assert_eq!(client.player_id(), id, "{how:?}");
        // A delta against the tick held, applied to the replica kept across the sockets.
        assert_eq!((resumed.held_tick, resumed.baseline), (held, held), "{how:?}: {resumed:?}");
        assert!(!resumed.full() && resumed.tick > held, "{how:?}: {resumed:?}");
        assert!(matches!(resumed.event, ServerEvent::Snapshot { .. }), "{how:?}: {resumed:?}");
        assert_eq!(client.newest_tick(), resumed.tick);
        assert_ne!(client.resume_token(), Some(token.as_str()), "a resume's welcome carries the next token");
        // Input seqs continue above what the server saw, and it takes them.
        let seq = client.send_input(-10, 0, 0, false).await.expect("input sent");
        assert!(seq > resumed.input_seq, "{how:?}: seq {seq} after the server's {}", resumed.input_seq);
        within("the input is applied", async {
            loop {
                match client.next_event().await.expect("server message") {
                    ServerEvent::Snapshot { last_input_seq, .. } if last_input_seq >= seq => break,
                    ServerEvent::Desync(error) => panic!("desync: {error}"),
                    _ => {}
                }
            }
        })
        .await;
    }
    assert_eq!(client.stats.desyncs, 0);
    // Past the grace the seat is gone: the refusal is the server's 4007, which the caller can tell apart.
    client.drop_connection(Abrupt::Fin);
    until("the seat expires", || players(&server) == 0).await;
    let error = within("refused resume", client.resume(&url(&server))).await.expect_err("the seat is gone");
    assert!(error.is_resume_refused(), "{error}");
    assert!(
        matches!(&error, ClientError::Closed { code: 4007, reason } if reason.contains("resume refused")),
        "{error}"
    );
    assert!(!client.is_connected());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_against_a_server_that_holds_no_seats_is_refused_up_front() {
    let mut server_config = ServerConfig::for_tests();
    server_config.room.resume_grace = Duration::ZERO;
    let server = start(server_config).await;
    let (_stop_tx, stop) = watch::channel(false);
    let mut config = swarm_config(url(&server), 5, 5.0);
    config.churn_per_minute = 10.0;
    let error = within("swarm", swarm::run(config, Arc::new(Progress::default()), stop.clone())).await.unwrap_err();
    assert!(matches!(error, SwarmError::BadConfig(_)) && error.to_string().contains("resume"), "{error}");
    // Nonsense rates are refused before connecting at all.
    let mut config = swarm_config(url(&server), 5, 5.0);
    config.churn_per_minute = -1.0;
    let error = swarm::run(config, Arc::new(Progress::default()), stop).await.unwrap_err();
    assert!(matches!(error, SwarmError::BadConfig(_)), "{error}");
    until("the first bot leaves", || players(&server) == 0).await;
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
    let expected = format!("protocol version mismatch: server speaks {PROTOCOL_VERSION}, client sent 9");
    assert!(error.to_string().contains(&expected), "{error}");

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

/// A conditioner of `latency` ms each way with ±`jitter` ms.
fn link(latency: u64, jitter: u64) -> Arc<Conditioner> {
    let profile = LinkProfile {
        latency: Duration::from_millis(latency),
        jitter: Duration::from_millis(jitter),
        stall_every: None,
        stall_for: Duration::ZERO,
        share: 1.0,
    };
    Arc::new(Conditioner::new(profile, 3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_behind_a_conditioned_link_measure_what_a_player_feels() {
    let _turn = MEASURING.lock().await;
    let server = start(ServerConfig::for_tests()).await;
    let (_stop_tx, stop) = watch::channel(false);
    let mut config = swarm_config(url(&server), 6, 5.0);
    config.link = Some(link(40, 10));
    let report = within("swarm", swarm::run(config, Arc::new(Progress::default()), stop)).await.expect("swarm runs");
    println!("{}", report.render());
    assert_eq!((report.connected, report.failed, report.desyncs), (6, 0, 0), "{:?}", report.close_reasons);
    // 80 ms of round trip at least, on top of loopback's: the link really delays both ways.
    assert!(
        report.ack_latency_ms_p50 >= 80.0,
        "input to ack p50 {} ms behind a 2 x 40 ms link",
        report.ack_latency_ms_p50
    );
    assert_eq!(report.link.as_deref(), Some("40 ms ± 10 ms each way"));
    // The play-feel figures come from real predictions and frames.
    assert!(report.predictions_checked > 6 * 30, "{} predictions checked", report.predictions_checked);
    assert!((0.0..=1.0).contains(&report.corrected_share));
    assert!(
        report.delay_ticks_mean >= 1.5 && report.delay_ticks_mean <= 6.0,
        "delay {} ticks",
        report.delay_ticks_mean
    );
    assert!(report.behind_newest_ticks_mean > 0.0, "remote players are drawn behind the newest snapshot");
    assert_eq!(report.delay_rule, "adaptive");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_side_conditioner_delays_its_connections_and_refuses_a_public_address() {
    let mut config = ServerConfig::for_tests();
    config.link = Some(link(30, 0).profile().clone());
    let server = start(config).await;
    let mut client =
        within("connect", skirmish::client::GameClient::connect(&url(&server), "ana")).await.expect("joins");
    let sent = std::time::Instant::now();
    client.send(&skirmish::protocol::ClientMessage::Ping { nonce: 7 }).await.expect("ping");
    loop {
        match within("pong", client.next_event()).await.expect("reads") {
            ServerEvent::Pong { nonce: 7 } => break,
            _ => continue,
        }
    }
    assert!(sent.elapsed() >= Duration::from_millis(60), "a 2 x 30 ms link answered in {:?}", sent.elapsed());
    client.close().await;
    server.shutdown().await;

    use clap::Parser;
    let public = skirmish::config::Args::parse_from(["skirmish", "--addr", "0.0.0.0:0", "--link-latency-ms", "50"]);
    let error = ServerConfig::from_args(&public).expect_err("a conditioner beyond loopback is refused");
    assert!(error.to_string().contains("--link-allow-public"), "{error}");
    let allowed = skirmish::config::Args::parse_from([
        "skirmish",
        "--addr",
        "0.0.0.0:0",
        "--link-latency-ms",
        "50",
        "--link-allow-public",
    ]);
    assert!(ServerConfig::from_args(&allowed).expect("allowed").link.is_some());
}

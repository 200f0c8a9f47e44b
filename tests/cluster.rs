//! Several server processes behind one Redis room directory (`--redis`), against a real `redis-server` started
//! here on a loopback port: rooms of every process are listed by each; quick play fills a room on another process
//! (the client follows the redirect with its seat token); a seat token is single-use and for its own process; a
//! process killed with SIGKILL leaves the listing within the TTL; a draining process sends new players elsewhere;
//! and with Redis gone for a while the matches play on and the directory comes back with it.
//!
//! Redis is the Debian package's `redis-server` (`.ci/run` installs it); without it these tests fail, saying so.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::redis::{member, Redis, SECRET, TTL};
use common::*;
use skirmish::client::{self, ClientError, GameClient, ServerEvent};
use skirmish::codec;
use skirmish::config::ServerConfig;
use skirmish::protocol::{ClientMessage, Join, ServerMessage, PROTOCOL_VERSION};
use skirmish::server::RunningServer;

/// The room ids `GET /rooms` lists on `server`.
async fn listed(server: &RunningServer) -> Vec<String> {
    let (status, body) = http(server.local_addr, "GET", "/rooms", "").await;
    assert_eq!(status, 200, "{body}");
    let rooms: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    rooms.as_array().expect("a list").iter().map(|room| room["id"].as_str().expect("an id").to_string()).collect()
}

async fn eventually(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A raw hello on `url`: the first message the server answers with.
async fn first_answer(url: &str, join: Join) -> ServerMessage {
    let mut ws = client::open(url).await.expect("connects");
    let hello = ClientMessage::Hello { version: PROTOCOL_VERSION, name: "raw".into(), join: Some(join), auth: None };
    ws.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Owned(codec::encode_client(&hello))))
        .await
        .expect("sends");
    let frame = within("an answer", ws.read_frame()).await.expect("reads");
    codec::decode_server(&frame.payload).expect("decodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_play_fills_rooms_across_processes_and_every_process_lists_them_all() {
    let redis = Redis::start();
    let servers = [
        start(member(&redis, "fill", 2)).await,
        start(member(&redis, "fill", 2)).await,
        start(member(&redis, "fill", 2)).await,
    ];
    let ana = GameClient::connect(&url(&servers[0]), "ana").await.expect("ana plays");
    let ana_room = ana.welcome.room.id.clone();
    eventually("ana's room to be listed everywhere", TTL * 3, async || {
        for server in &servers {
            if !listed(server).await.contains(&ana_room) {
                return false;
            }
        }
        true
    })
    .await;
    // Bo comes in through the second process: the best room is ana's, on the first.
    let bo = GameClient::connect(&url(&servers[1]), "bo").await.expect("bo plays");
    assert_eq!(bo.welcome.room.id, ana_room, "quick play put bo in the fullest room with a seat, on another process");
    assert_eq!(bo.stats.redirects, 1);
    assert_eq!(bo.server_url(), Some(url(&servers[0]).as_str()));
    // That room is full now: cy gets a new room.
    let cy = GameClient::connect(&url(&servers[2]), "cy").await.expect("cy plays");
    assert_ne!(cy.welcome.room.id, ana_room);
    let cy_room = cy.welcome.room.id.clone();
    // A room created on the second process itself: now every process holds one, and each lists all three.
    let eve = GameClient::connect_as(&url(&servers[1]), "eve", Join::Create(Default::default())).await;
    let eve = eve.expect("eve creates a room on the second process");
    let eve_room = eve.welcome.room.id.clone();
    assert_eq!(eve.stats.redirects, 0, "a create is served where it arrives");
    eventually("the three processes' rooms listed by every process", TTL * 3, async || {
        for server in &servers {
            let rooms = listed(server).await;
            if ![&ana_room, &cy_room, &eve_room].iter().all(|room| rooms.contains(room)) {
                return false;
            }
        }
        true
    })
    .await;
    // Joining a room by id through a process that does not hold it is a redirect too.
    let dee = GameClient::connect_as(&url(&servers[1]), "dee", Join::Room { id: cy_room.clone() }).await;
    let dee = dee.expect("dee follows the redirect to cy's room");
    assert_eq!((dee.welcome.room.id.as_str(), dee.stats.redirects), (cy_room.as_str(), 1));
    for client in [ana, bo, cy, dee, eve] {
        client.close().await;
    }
    for server in servers {
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seat_token_is_single_use_and_only_for_its_own_process() {
    let redis = Redis::start();
    let (a, b) = (start(member(&redis, "seat", 8)).await, start(member(&redis, "seat", 8)).await);
    let ana = GameClient::connect(&url(&a), "ana").await.expect("ana plays");
    let room = ana.welcome.room.id.clone();
    eventually("ana's room listed", TTL * 3, async || listed(&b).await.contains(&room)).await;
    let ServerMessage::Redirect { url: target, join } = first_answer(&url(&b), Join::QuickPlay { map: None }).await
    else {
        panic!("b should send quick play to a's room")
    };
    assert_eq!(target, url(&a));
    assert!(matches!(join, Join::Seat { .. }), "{join:?}");
    // The seat token taken to the wrong process, then used, then replayed.
    match first_answer(&url(&b), join.clone()).await {
        ServerMessage::Close { code, reason } => {
            assert_eq!((code, reason.as_str()), (4015, "seat token is for another server"))
        }
        other => panic!("{other:?}"),
    }
    let mut seated = GameClient::join_with_auth(
        client::open(&target).await.expect("connects"),
        "raw",
        PROTOCOL_VERSION,
        Some(join.clone()),
        None,
    )
    .await
    .expect("the seat token seats");
    assert_eq!(seated.welcome.room.id, room);
    match GameClient::join_with_auth(
        client::open(&target).await.expect("connects"),
        "raw",
        PROTOCOL_VERSION,
        Some(join),
        None,
    )
    .await
    {
        Err(ClientError::Closed { code, reason }) => {
            assert_eq!((code, reason.as_str()), (4015, "seat token already used"))
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a spent seat token seated a player again"),
    }
    assert!(matches!(within("a snapshot", seated.next_event()).await, Ok(ServerEvent::Snapshot { .. })));
    seated.close().await;
    ana.close().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_leaves_the_listing_within_the_ttl() {
    let redis = Redis::start();
    let survivor = start(member(&redis, "kill", 8)).await;
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let mut doomed = Command::new(env!("CARGO_BIN_EXE_skirmish"))
        .args(["--addr", &format!("127.0.0.1:{port}"), "--redis", &redis.url(), "--redis-prefix", "kill"])
        .args(["--cluster-secret", SECRET, "--directory-ttl-secs", "0.9"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server binary starts");
    let doomed_url = format!("ws://127.0.0.1:{port}/ws");
    let mut client = None;
    for _ in 0..50 {
        match GameClient::connect(&doomed_url, "ana").await {
            Ok(connected) => {
                client = Some(connected);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let client = client.expect("the child server took a player");
    let room = client.welcome.room.id.clone();
    eventually("the child's room listed by the survivor", TTL * 3, async || listed(&survivor).await.contains(&room))
        .await;
    doomed.kill().expect("SIGKILL");
    let _ = doomed.wait();
    let killed = tokio::time::Instant::now();
    eventually("the killed process's room to leave the listing", TTL * 2, async || {
        !listed(&survivor).await.contains(&room)
    })
    .await;
    println!("gone from the listing {:?} after SIGKILL (TTL {TTL:?})", killed.elapsed());
    // Quick play no longer sends anyone there: a new room here.
    let bo = GameClient::connect(&url(&survivor), "bo").await.expect("bo plays");
    assert_eq!(bo.stats.redirects, 0);
    drop(client);
    bo.close().await;
    survivor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_process_sends_new_players_elsewhere_and_ends_when_its_match_does() {
    let redis = Redis::start();
    let (a, b) = (start(member(&redis, "drain", 8)).await, start(member(&redis, "drain", 8)).await);
    let ana = GameClient::connect(&url(&a), "ana").await.expect("ana plays on a");
    let a_url = url(&a);
    eventually("both processes registered", TTL * 3, async || listed(&b).await.len() == 1).await;
    let draining = tokio::spawn(a.drain(Duration::from_secs(20)));
    tokio::time::sleep(TTL).await;
    // New players who come to a are sent to b, with a new room there.
    let bo = GameClient::connect(&a_url, "bo").await.expect("bo is sent elsewhere");
    assert_eq!(bo.stats.redirects, 1);
    assert_ne!(bo.welcome.room.id, ana.welcome.room.id);
    assert_eq!(bo.server_url(), Some(url(&b).as_str()));
    // Ana's match goes on while a drains; when she leaves, a stops.
    let mut ana = ana;
    assert!(matches!(within("a snapshot", ana.next_event()).await, Ok(ServerEvent::Snapshot { .. })));
    assert!(!draining.is_finished(), "a still runs its match");
    ana.close().await;
    within("the drain to end", draining).await.expect("drained");
    bo.close().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_play_on_while_redis_is_away_and_the_directory_recovers() {
    let redis = Redis::start();
    let port = redis.port;
    let (a, b) = (start(member(&redis, "away", 8)).await, start(member(&redis, "away", 8)).await);
    let mut ana = GameClient::connect(&url(&a), "ana").await.expect("ana plays");
    let room = ana.welcome.room.id.clone();
    eventually("ana's room listed", TTL * 3, async || listed(&b).await.contains(&room)).await;
    drop(redis);
    // Two seconds without Redis: ana's snapshots keep coming at the tick rate.
    let started = tokio::time::Instant::now();
    let mut snapshots = 0;
    while started.elapsed() < Duration::from_secs(2) {
        if let Ok(ServerEvent::Snapshot { .. }) = within("a snapshot", ana.next_event()).await {
            snapshots += 1;
            let _ = ana.send_ack().await;
        }
    }
    assert!(snapshots >= 50, "only {snapshots} snapshots in 2 s without Redis");
    // Joins still work, on the process's own rooms.
    let bo = GameClient::connect(&url(&a), "bo").await.expect("bo plays without the directory");
    assert_eq!(bo.welcome.room.id, room);
    let _redis = Redis::on(port);
    eventually("the directory to list ana's room again", Duration::from_secs(10), async || {
        listed(&b).await.contains(&room)
    })
    .await;
    for client in [ana, bo] {
        client.close().await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_player_resumes_through_another_process_front_door() {
    let redis = Redis::start();
    let (a, b) = (start(member(&redis, "resume", 8)).await, start(member(&redis, "resume", 8)).await);
    let mut ana = GameClient::connect(&url(&a), "ana").await.expect("ana plays on a");
    let (room, player) = (ana.welcome.room.id.clone(), ana.player_id());
    eventually("ana's room listed", TTL * 3, async || listed(&b).await.contains(&room)).await;
    within("a snapshot", ana.next_event()).await.expect("reads");
    ana.drop_connection(client::Abrupt::Fin);
    // Back through b's door: b sends the resume on to a, which still holds the seat.
    let resumed = within("the resume", ana.resume(&url(&b))).await.expect("resumes through b");
    assert_eq!((ana.welcome.room.id.as_str(), ana.player_id()), (room.as_str(), player));
    assert_eq!(ana.stats.redirects, 1);
    assert!(!resumed.full(), "the seat came back on a delta");
    // Each process reports its part in /healthz.
    let (_, health) = http(b.local_addr, "GET", "/healthz", "").await;
    let health: serde_json::Value = serde_json::from_str(&health).expect("JSON");
    assert_eq!(health["directory"]["reachable"], true, "{health}");
    assert!(health["directory"]["heartbeats"].as_u64().unwrap_or(0) >= 1, "{health}");
    let (_, metrics) = http(a.local_addr, "GET", "/metrics", "").await;
    assert!(metrics.contains("skirmish_directory_redis_commands_total"), "{metrics}");
    ana.close().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[test]
fn redis_flags_are_checked_at_start() {
    use clap::Parser;
    let config = |args: &[&str]| {
        let mut all = vec!["skirmish", "--redis", "redis://127.0.0.1:1/"];
        all.extend_from_slice(args);
        ServerConfig::from_args(&skirmish::config::Args::parse_from(all)).map(|_| ()).map_err(|e| e.to_string())
    };
    let short = config(&["--cluster-secret", "short"]).expect_err("a short secret");
    assert!(short.contains("at least 32 bytes"), "{short}");
    let nowhere = config(&["--cluster-secret", SECRET, "--addr", "0.0.0.0:8080"]).expect_err("no address to send to");
    assert!(nowhere.contains("--public-url"), "{nowhere}");
    let bad = config(&["--cluster-secret", SECRET, "--public-url", "http://x/ws"]).expect_err("not a WebSocket URL");
    assert!(bad.contains("ws:// or wss://"), "{bad}");
    config(&["--cluster-secret", SECRET, "--addr", "0.0.0.0:8080", "--public-url", "ws://10.0.0.5:8080/ws"])
        .expect("a public URL given");
}

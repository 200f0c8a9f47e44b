//! The lobby in process, without sockets: quick play fills the fullest room and then creates one, map filters hold,
//! an empty room closes after its grace, and every limit refuses with its own close code and reason. (That rooms
//! tick independently on the pool is in tests/room_pool.rs, alone in its binary so that nothing else competes.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use skirmish::config::ServerConfig;
use skirmish::link::{ClientLink, CloseReason, DisconnectReason};
use skirmish::lobby::Lobby;
use skirmish::protocol::{Join, RoomOptions};
use skirmish::session::{self, Session};
use tokio::sync::watch;

/// Where the fixture's clients come from.
const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A lobby on a pool of its own (two threads, like the server on this machine), stopped when dropped.
struct Fixture {
    lobby: Arc<Lobby>,
    stop: watch::Sender<bool>,
    pool: Option<tokio::runtime::Runtime>,
    /// The links of seated clients: dropping a link would not leave the room, but keeps their outboxes alive.
    links: Vec<(ClientLink, skirmish::link::OutboxReceiver)>,
}

impl Fixture {
    fn new(configure: impl FnOnce(&mut ServerConfig)) -> Fixture {
        let mut config = ServerConfig::for_tests();
        configure(&mut config);
        let pool = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
        let (stop, stopping) = watch::channel(false);
        let lobby = Lobby::new(&config, pool.handle().clone(), stopping);
        Fixture { lobby, stop, pool: Some(pool), links: Vec::new() }
    }

    /// Seats a client as `join` asks, as a connection would.
    async fn admit(&mut self, name: &str, join: Join) -> Result<Session, CloseReason> {
        let (link, outbox, _close) = ClientLink::new(256);
        let seated = session::admit(&self.lobby, None, name, &join, &link, LOCAL).await;
        self.links.push((link, outbox));
        seated.map_err(|refusal| match refusal {
            session::Refusal::Close(reason) => reason,
            session::Refusal::Redirect { url, .. } => panic!("a process alone redirected to {url}"),
        })
    }

    async fn quick_play(&mut self, name: &str, map: Option<&str>) -> Session {
        self.admit(name, Join::QuickPlay { map: map.map(str::to_string) }).await.expect("seated")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(pool) = self.pool.take() {
            pool.shutdown_background();
        }
    }
}

fn refusal(result: Result<Session, CloseReason>) -> (DisconnectReason, u16, String) {
    let reason = result.expect_err("refused");
    (reason.kind, reason.code, reason.reason)
}

/// Polls `condition` every 10 ms for at most 10 s.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_play_fills_the_fullest_room_with_space_then_creates_and_respects_the_map() {
    let mut fixture = Fixture::new(|config| config.room.max_players = 3);
    // The first quick play creates a room; the next two join it.
    let a = fixture.quick_play("a1", None).await;
    for name in ["a2", "a3"] {
        assert_eq!(fixture.quick_play(name, None).await.room.id, a.room.id);
    }
    // Full: a new room.
    let b = fixture.quick_play("b1", None).await;
    assert_ne!(b.room.id, a.room.id);
    // A third room, joined by id up to 2 players: now the fullest room with a free slot.
    let c = fixture.admit("c1", Join::Create(RoomOptions::default())).await.unwrap();
    fixture.admit("c2", Join::Room { id: c.room.id.clone() }).await.unwrap();
    assert_eq!(fixture.quick_play("x", None).await.room.id, c.room.id, "2 of 3 beats 1 of 3");
    assert_eq!(fixture.quick_play("y", None).await.room.id, b.room.id, "then the only room with space");

    // A map filter skips rooms on other maps and creates one on that map, which the next filtered quick play joins.
    let duel = fixture.quick_play("d1", Some("duel")).await;
    assert!(![&a.room.id, &b.room.id, &c.room.id].contains(&&duel.room.id));
    assert_eq!(duel.room.map, "duel");
    assert_eq!(fixture.quick_play("d2", Some("duel")).await.room.id, duel.room.id);
    assert_eq!(fixture.quick_play("e1", Some("arena")).await.room.id, b.room.id);
    // Private rooms are never picked.
    let private = fixture
        .admit(
            "p1",
            Join::Create(RoomOptions { private: Some(true), map: Some("4000x3000".into()), ..Default::default() }),
        )
        .await
        .unwrap();
    let generated = fixture.quick_play("g1", Some("4000x3000")).await;
    assert_ne!(generated.room.id, private.room.id, "quick play passes over a private room");
    assert!(!fixture.lobby.list().iter().any(|room| room.id == private.room.id), "private rooms are not listed");
    assert_eq!(fixture.lobby.find(&private.room.id).unwrap().players(), 1, "but found by id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_room_closes_after_its_grace_and_a_join_in_time_keeps_it() {
    let mut fixture = Fixture::new(|config| config.room.empty_grace = Duration::from_millis(400));
    // Created and never joined: gone after the grace.
    let unused = fixture.lobby.create(&RoomOptions::default()).unwrap();
    let created = Instant::now();
    eventually("the unused room closes", || fixture.lobby.find(&unused.id).is_err()).await;
    let lasted = created.elapsed();
    assert!(lasted >= Duration::from_millis(400) && lasted < Duration::from_millis(1500), "closed after {lasted:?}");

    // A room whose player leaves: still open within the grace, and a join then keeps it open past it.
    let player = fixture.quick_play("solo", None).await;
    let room = player.room.clone();
    player.send(skirmish::room::RoomCommand::Leave { client: player.key }).await;
    eventually("the player left", || room.players() == 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let back = fixture.admit("back", Join::Room { id: room.id.clone() }).await.expect("the room is still open");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(fixture.lobby.find(&room.id).is_ok(), "a room with a player stays open");
    back.send(skirmish::room::RoomCommand::Leave { client: back.key }).await;
    eventually("the room closes once empty again", || fixture.lobby.find(&room.id).is_err()).await;
    // A join by id to the closed room is a clear "not found".
    let (kind, code, reason) = refusal(fixture.admit("late", Join::Room { id: room.id.clone() }).await);
    assert_eq!((kind, code, reason), (DisconnectReason::RoomNotFound, 4001, format!("no room with id {}", room.id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_refuses_with_its_own_code_and_reason() {
    let mut fixture = Fixture::new(|config| {
        config.max_rooms = 2;
        config.room.max_players = 2;
        config.room.max_spectators = 1;
    });
    // Nothing to spectate yet.
    let (kind, code, reason) = refusal(fixture.admit("watcher", Join::Spectate { room: None }).await);
    assert_eq!((kind, code, reason.as_str()), (DisconnectReason::RoomNotFound, 4001, "no room to spectate"));
    let (_, code, reason) = refusal(fixture.admit("x", Join::Room { id: "nosuchroom22".into() }).await);
    assert_eq!((code, reason.as_str()), (4001, "no room with id nosuchroom22"));

    let first = fixture.quick_play("a", None).await;
    fixture.quick_play("b", None).await;
    let id = first.room.id.clone();
    // The room is full for players (by id) but quick play opens the second room.
    let (kind, code, reason) = refusal(fixture.admit("c", Join::Room { id: id.clone() }).await);
    assert_eq!((kind, code, reason), (DisconnectReason::RoomFull, 4002, format!("room {id} is full (2 players)")));
    let second = fixture.quick_play("c", None).await;
    assert_ne!(second.room.id, id);
    // Spectators have their own slots: one fits in the full room, the next does not.
    let watcher = fixture.admit("w1", Join::Spectate { room: Some(id.clone()) }).await.unwrap();
    assert_eq!(watcher.room.id, id);
    let (kind, code, reason) = refusal(fixture.admit("w2", Join::Spectate { room: Some(id.clone()) }).await);
    assert_eq!(
        (kind, code, reason),
        (DisconnectReason::NoSpectatorSlot, 4003, format!("room {id} has no spectator slot (1 spectators)"))
    );
    // Quick spectate picks the busiest public room with a spectator slot: not the first (2 players, no slot left)
    // but the second.
    let busiest = fixture.lobby.busiest().unwrap();
    assert_eq!(busiest.id, second.room.id);

    // Two rooms open, the limit is two: no third, whether asked for directly or by a quick play finding no space.
    fixture.quick_play("d", None).await;
    let (kind, code, reason) = refusal(fixture.admit("e", Join::Create(RoomOptions::default())).await);
    assert_eq!(
        (kind, code, reason.as_str()),
        (DisconnectReason::RoomLimit, 4004, "the server is at its room limit (2 rooms)")
    );
    let (_, code, _) = refusal(fixture.admit("f", Join::QuickPlay { map: None }).await);
    assert_eq!(code, 4004);

    // Bad options name the option.
    let bad = RoomOptions { max_players: Some(3), ..RoomOptions::default() };
    let (kind, code, reason) = refusal(fixture.admit("g", Join::Create(bad)).await);
    assert_eq!(
        (kind, code, reason.as_str()),
        (DisconnectReason::BadRoomOptions, 4005, "max_players must be 1 to 2, got 3")
    );
    assert_eq!(fixture.lobby.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_may_create_only_its_quota_of_rooms_a_minute() {
    let mut fixture = Fixture::new(|config| config.room_creations_per_minute = 2);
    for _ in 0..2 {
        fixture.admit("maker", Join::Create(RoomOptions::default())).await.unwrap();
    }
    // Refused options cost nothing; a third creation within the minute is refused with the wait.
    let bad = RoomOptions { tick_rate: Some(0), ..RoomOptions::default() };
    assert_eq!(refusal(fixture.admit("maker", Join::Create(bad)).await).1, 4005);
    let (kind, code, reason) = refusal(fixture.admit("maker", Join::Create(RoomOptions::default())).await);
    assert_eq!((kind, code), (DisconnectReason::CreationQuota, 4006));
    assert!(reason.starts_with("this address created 2 rooms in the last minute; try again in "), "{reason}");
    // Another address has its own quota, and quick play may still open a room when every room is full.
    let other: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    assert!(fixture.lobby.create_for(&RoomOptions::default(), other).is_ok());
    assert_eq!(fixture.lobby.len(), 3);
}

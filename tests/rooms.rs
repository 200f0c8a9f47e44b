//! Rooms over the real edge: the lobby's HTTP API (list, create, find, maps) and joining over WebSockets by id, by
//! quick play, by creating, and as a spectator, who sees the game and may not send input. Private rooms are not
//! listed but can be joined by id.

mod common;

use common::*;
use serde_json::{json, Value};
use skirmish::client::{GameClient, ServerEvent};
use skirmish::config::ServerConfig;
use skirmish::protocol::{ClientMessage, Input, Join, Role, RoomOptions};

fn ids(list: &Value) -> Vec<&str> {
    list.as_array().expect("a JSON array").iter().map(|room| room["id"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lobby_api_creates_lists_and_finds_rooms() {
    let mut config = ServerConfig::for_tests();
    config.max_rooms = 3;
    let server = start(config).await;
    let addr = server.local_addr;
    let (status, list) = http_json(addr, "GET", "/rooms", "").await;
    assert_eq!((status, list), (200, json!([])));

    let (status, duel) =
        http_json(addr, "POST", "/rooms", r#"{"name": "duel night", "map": "duel", "max_players": 2}"#).await;
    assert_eq!(status, 201, "{duel}");
    assert_eq!(duel["name"], "duel night");
    assert_eq!(duel["map"], "duel");
    assert_eq!(
        (duel["players"].clone(), duel["spectators"].clone(), duel["max_players"].clone()),
        (json!(0), json!(0), json!(2))
    );
    assert_eq!((duel["tick_rate"].clone(), duel["private"].clone()), (json!(30), json!(false)));
    assert_eq!(duel["id"].as_str().unwrap().len(), 12);
    assert!(duel["created_at"].as_str().unwrap().ends_with('Z'));
    // Every option at once, a generated map, and a private room; then an empty body for all the defaults.
    let (status, secret) = http_json(
        addr,
        "POST",
        "/rooms",
        r#"{"name": "secret", "map": "3000x2000", "max_players": 8, "tick_rate": 20, "view_radius": 600, "private": true}"#,
    )
    .await;
    assert_eq!(status, 201, "{secret}");
    assert_eq!(
        (secret["map"].clone(), secret["view_radius"].clone(), secret["private"].clone()),
        (json!("3000x2000"), json!(600.0), json!(true))
    );
    let (status, plain) = http_json(addr, "POST", "/rooms", "").await;
    assert_eq!((status, plain["map"].clone(), plain["max_players"].clone()), (201, json!("arena"), json!(1000)));

    // Listed: the public rooms only; found by id: the private one too.
    let (_, list) = http_json(addr, "GET", "/rooms", "").await;
    let listed = ids(&list);
    assert_eq!(listed.len(), 2, "{list}");
    assert!(listed.contains(&duel["id"].as_str().unwrap()) && !listed.contains(&secret["id"].as_str().unwrap()));
    let path = format!("/rooms/{}", secret["id"].as_str().unwrap());
    assert_eq!(http_json(addr, "GET", &path, "").await, (200, secret.clone()));
    let (status, missing) = http_json(addr, "GET", "/rooms/nosuchroom22", "").await;
    assert_eq!((status, missing), (404, json!({ "error": "no room with id nosuchroom22" })));

    // Refusals carry their reason: bad options 400, too big 413, the room limit 503.
    for (body, reason) in [
        (r#"{"max_players": 0}"#, "max_players must be 1 to 1000, got 0"),
        (r#"{"map": "moon"}"#, "unknown map \"moon\": use one of arena, duel or WIDTHxHEIGHT"),
        (r#"{"tick_rate": 500}"#, "tick_rate must be 1 to 60, got 500"),
    ] {
        assert_eq!(http_json(addr, "POST", "/rooms", body).await, (400, json!({ "error": reason })), "{body}");
    }
    let (status, unknown) = http_json(addr, "POST", "/rooms", r#"{"colour": "red"}"#).await;
    assert_eq!(status, 400);
    assert!(unknown["error"].as_str().unwrap().starts_with("bad room options: unknown field `colour`"), "{unknown}");
    let (status, _) = http(addr, "POST", "/rooms", &format!(r#"{{"name": "{}"}}"#, "x".repeat(5000))).await;
    assert_eq!(status, 413);
    let (status, full) = http_json(addr, "POST", "/rooms", "{}").await;
    assert_eq!((status, full), (503, json!({ "error": "the server is at its room limit (3 rooms)" })));

    let (status, maps) = http_json(addr, "GET", "/maps", "").await;
    assert_eq!((status, maps["bundled"].clone()), (200, json!(["arena", "duel"])));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_join_by_id_by_quick_play_and_by_creating_and_see_only_their_room() {
    let server = start(ServerConfig::for_tests()).await;
    let url = url(&server);
    let mut creator = within(
        "create",
        GameClient::connect_as(
            &url,
            "creator",
            Join::Create(RoomOptions { name: Some("mine".into()), map: Some("duel".into()), ..RoomOptions::default() }),
        ),
    )
    .await
    .unwrap();
    let room = creator.welcome.room.clone();
    assert_eq!((room.name.as_str(), room.role), ("mine", Role::Player));
    assert_eq!(creator.welcome.map.name, "duel");
    let mut guest =
        within("join by id", GameClient::connect_as(&url, "guest", Join::Room { id: room.id.clone() })).await.unwrap();
    assert_eq!(guest.welcome.room, room);
    // Quick play puts a third player with them (the fullest public room with space).
    let mut third = connect(&server, "third").await;
    assert_eq!(third.welcome.room.id, room.id);
    // A player in another room never appears in this one.
    let mut elsewhere =
        within("another room", GameClient::connect_as(&url, "elsewhere", Join::Create(RoomOptions::default())))
            .await
            .unwrap();
    assert_ne!(elsewhere.welcome.room.id, room.id);
    for client in [&mut creator, &mut guest, &mut third, &mut elsewhere] {
        next_snapshot(client).await;
        next_snapshot(client).await;
    }
    let names = |client: &GameClient| {
        let (_, entities) = client.world().unwrap();
        let mut names: Vec<String> = entities.iter().filter_map(|e| client.name_of(e.id).map(str::to_string)).collect();
        names.sort();
        names
    };
    assert_eq!(names(&guest), ["creator", "guest", "third"]);
    assert_eq!(names(&elsewhere), ["elsewhere"]);
    let (_, list) = http_json(server.local_addr, "GET", "/rooms", "").await;
    assert_eq!(list[0]["id"], room.id.as_str(), "the fullest room is listed first: {list}");
    assert_eq!((list[0]["players"].clone(), list[1]["players"].clone()), (json!(3), json!(1)));
    for client in [creator, guest, third, elsewhere] {
        client.close().await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spectator_sees_the_game_takes_no_player_slot_and_may_not_send_input() {
    let mut config = ServerConfig::for_tests();
    config.room.max_players = 1;
    let server = start(config).await;
    let url = url(&server);
    let mut player = connect(&server, "player").await;
    let room = player.welcome.room.id.clone();
    // The room is full for players; a spectator still gets in (quick spectate: the busiest room).
    let mut spectator =
        within("spectate", GameClient::connect_as(&url, "watcher", Join::Spectate { room: None })).await.unwrap();
    assert_eq!(spectator.welcome.room.id, room);
    assert_eq!((spectator.welcome.room.role, spectator.player_id()), (Role::Spectator, 0));
    // It sees the player move.
    let mut seen = Vec::new();
    while seen.len() < 30 {
        player.send_input(127, 0, 0, false).await.unwrap();
        next_snapshot(&mut player).await;
        if let ServerEvent::Snapshot { .. } = within("spectator snapshot", spectator.next_event()).await.unwrap() {
            let (_, entities) = spectator.world().unwrap();
            assert_eq!(entities.len(), 1, "the spectator is no entity of its own");
            assert_eq!(spectator.name_of(entities[0].id), Some("player"));
            seen.push(entities[0].fields[0]);
            spectator.send_ack().await.unwrap();
        }
    }
    assert!(seen.last() > seen.first(), "the spectator saw the player move right: {seen:?}");
    let (_, summary) = http_json(server.local_addr, "GET", &format!("/rooms/{room}"), "").await;
    assert_eq!((summary["players"].clone(), summary["spectators"].clone()), (json!(1), json!(1)));
    // An input from a spectator is refused.
    spectator.send(&ClientMessage::Input(Input { seq: 1, move_x: 10, ..Input::default() })).await.unwrap();
    assert_eq!(close_of(&mut spectator).await, (1008, "spectators cannot send input".into()));
    until("the spectator's place is freed", || the_room(&server).spectators() == 0).await;
    player.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spectator_with_interest_sees_around_whom_it_follows_or_its_camera() {
    let mut config = ServerConfig::for_tests();
    config.room.view_radius = 300.0;
    let server = start(config).await;
    let url = url(&server);
    // Four players at spawn points spread over the bundled 2400 x 1600 arena.
    let mut players = Vec::new();
    for name in ["p1", "p2", "p3", "p4"] {
        players.push(connect(&server, name).await);
    }
    let room = players[0].welcome.room.id.clone();
    let mut spectator =
        within("spectate", GameClient::connect_as(&url, "eye", Join::Spectate { room: Some(room) })).await.unwrap();
    let target = players[0].player_id();
    spectator.send(&ClientMessage::View { follow: target, x: 0, y: 0 }).await.unwrap();
    // Once the view applies, the followed player is always in it.
    let mut followed = 0;
    for _ in 0..60 {
        for player in players.iter_mut() {
            player.send_ack().await.unwrap();
        }
        next_snapshot(&mut spectator).await;
        spectator.send_ack().await.unwrap();
        let (_, entities) = spectator.world().unwrap();
        followed += usize::from(entities.iter().any(|e| e.id == target));
    }
    assert!(followed >= 55, "the followed player was in view {followed} of 60 ticks");
    // A free camera over open floor more than the radius from every spawn point (the players stand still): no
    // player in view.
    spectator.send(&ClientMessage::View { follow: 0, x: 1200, y: 420 }).await.unwrap();
    let (mut seen, mut empty, mut rosters) = (0, 0, Vec::new());
    while seen < 30 || rosters.is_empty() {
        match within("spectator", spectator.next_event()).await.unwrap() {
            ServerEvent::Snapshot { .. } => {
                spectator.send_ack().await.unwrap();
                let (_, entities) = spectator.world().unwrap();
                seen += 1;
                empty += usize::from(entities.iter().all(|e| e.kind != skirmish::protocol::EntityKind::Player));
            }
            // The roster still lists the whole room, once a second: whom to follow, and the scoreboard.
            ServerEvent::Roster { players, .. } => rosters.push(players),
            other => panic!("unexpected {other:?}"),
        }
    }
    // The view moves at the server's next tick: the frames already on their way may still show the followed one.
    assert!(empty + 3 >= seen, "the camera saw no player in {empty} of {seen} ticks");
    let mut names: Vec<&str> = rosters[0].iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["p1", "p2", "p3", "p4"]);
    assert!(rosters[0].iter().all(|p| p.hp == 100 && p.score == 0), "{:?}", rosters[0]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_rooms_past_the_address_quota_gets_429_and_the_hello_4006() {
    let mut config = ServerConfig::for_tests();
    config.room_creations_per_minute = 1;
    let server = start(config).await;
    assert_eq!(http(server.local_addr, "POST", "/rooms", "{}").await.0, 201);
    let (status, refused) = http_json(server.local_addr, "POST", "/rooms", "{}").await;
    assert_eq!(status, 429);
    assert!(
        refused["error"].as_str().unwrap().starts_with("this address created 1 rooms in the last minute"),
        "{refused}"
    );
    match GameClient::connect_as(&url(&server), "maker", Join::Create(RoomOptions::default())).await {
        Err(skirmish::client::ClientError::Closed { code, .. }) => assert_eq!(code, 4006),
        other => panic!("expected a 4006 close, got {:?}", other.map(|c| c.player_id())),
    }
    assert_eq!(server.server_stats.disconnects.get(skirmish::link::DisconnectReason::CreationQuota), 1);
    server.shutdown().await;
}

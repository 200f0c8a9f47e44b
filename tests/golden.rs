//! Golden vectors shared with the browser client's tests, written by the server's own code:
//! `client/test/golden.json` holds every protocol message, in both directions, encoded by the server's codec, with
//! its hex bytes, the MessagePack value decoded back into JSON, and the message itself (built from the Rust value,
//! not from the bytes) in the plain form the client's parser returns. `client/test/golden.test.mjs` decodes the
//! bytes with the client's decoder and parser and requires every field to match, and re-encodes the client
//! messages. (The simulation's step vectors are in `tests/golden_steps.rs`.)
//!
//! When the encoding changes this test fails until the file is regenerated with
//! `SKIRMISH_BLESS=1 cargo test --test golden` (review the diff: the client must change along with it).

mod common;

use common::golden_files::{check_committed, hex};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use skirmish::codec::{decode_client, decode_server, encode_client, encode_server};
use skirmish::protocol::{
    mask_fields, ClientMessage, EntityKind, EntityState, Event, FieldDelta, Hit, Input, Join, MapInfo, Role, RoomInfo,
    RoomOptions, RosterEntry, RulesInfo, ServerMessage, SessionInfo, Snapshot, Welcome, EVENT_JOIN, EVENT_KILL,
    EVENT_LEAVE, MAX_FIELDS, PROTOCOL_VERSION,
};

/// Where the message vectors live, relative to the crate root.
const GOLDEN_PATH: &str = "client/test/golden.json";
/// The client message size limit the server uses by default (`--max-message-bytes`): every client vector must fit.
const CLIENT_LIMIT: usize = 512;

/// One entry of golden.json, fields in this order.
#[derive(Serialize)]
struct Vector {
    name: String,
    direction: &'static str,
    hex: String,
    value: Value,
    /// The message as the client's parser (server messages) or builders (client messages) see it, from the Rust
    /// value: `client/protocol.js` names, world values exactly (floats as the f32 the server holds).
    message: Value,
}

fn player(id: u32, fields: [i32; 9], name: &str) -> EntityState {
    EntityState { id, kind: EntityKind::Player, fields, name: Some(Arc::from(name)) }
}

fn bullet(id: u32, fields: [i32; 6]) -> EntityState {
    let mut all = [0; MAX_FIELDS];
    all[..6].copy_from_slice(&fields);
    EntityState { id, kind: EntityKind::Bullet, fields: all, name: None }
}

/// A delta carrying `values` for the bits of `mask`, in increasing bit order.
fn delta(id: u32, mask: u16, values: &[i32]) -> FieldDelta {
    assert_eq!(mask.count_ones() as usize, values.len(), "one value per mask bit");
    let mut fields = [0; MAX_FIELDS];
    let mut values = values.iter();
    for (bit, field) in fields.iter_mut().enumerate() {
        if mask & (1 << bit) != 0 {
            *field = *values.next().unwrap();
        }
    }
    FieldDelta { id, mask, fields }
}

fn entry(id: u32, name: &str, score: i32, hp: i32) -> RosterEntry {
    RosterEntry { id, name: name.into(), score, hp }
}

fn welcome() -> Welcome {
    Welcome {
        version: PROTOCOL_VERSION,
        player_id: 7,
        tick_rate: 30,
        tick: 1234,
        map: MapInfo {
            name: "arena".into(),
            width: 2400,
            height: 1600,
            walls: vec![[0, 0, 2400, 40], [600, 300, 120, 500], [1700, 900, 300, 60]],
            spawns: vec![[200, 200], [2200, 1400], [1200, 800]],
        },
        rules: RulesInfo {
            player_radius: 16.0,
            accel: 2400.0,
            friction: 8.5,
            max_speed: 260.0,
            bullet_radius: 4.0,
            bullet_speed: 900.0,
            bullet_lifetime_ticks: 36,
            fire_interval_ticks: 5,
            max_hp: 100,
            respawn_ticks: 90,
            max_rewind_ticks: 6,
        },
        room: RoomInfo { id: "k3j9x2m4q8rt".into(), name: "arena 1".into(), role: Role::Player },
        session: Some(SessionInfo {
            resume_token: "k3j9x2m4q8rt.abcdefghijklmnopqrstuvwxyz234567".into(),
            grace_ms: 20_000,
            input_seq: 0,
        }),
    }
}

/// A spectator's welcome: no player of its own (id 0), another room and tick rate, a generated map without walls.
fn spectator_welcome() -> Welcome {
    Welcome {
        player_id: 0,
        tick_rate: 60,
        tick: 70_000,
        map: MapInfo { name: "4000x3000".into(), width: 4000, height: 3000, walls: vec![], spawns: vec![[2000, 1500]] },
        room: RoomInfo { id: "abcdefgh2345".into(), name: "Nuit blanche à 東京".into(), role: Role::Spectator },
        session: None,
        ..welcome()
    }
}

fn server_messages() -> Vec<(&'static str, ServerMessage)> {
    let full = Snapshot {
        tick: 1235,
        baseline: 0,
        last_input_seq: 0,
        created: vec![
            player(7, [19200, 12800, 0, 0, 0, 100, 0, 0, 0], "ana"),
            player(8, [3200, 25600, -1600, 4160, 49152, 35, 12, 0, 0], "Zoë"),
            player(300, [100, 200, 0, 0, 65535, 0, 3, 90, 1], "日本語の名前"),
            bullet(65536, [19456, 12800, 14400, 0, 7, 1234]),
            bullet(70000, [3000, 25000, -10182, -10182, 8, 1235]),
        ],
        changed: vec![],
        removed: vec![],
        events: vec![
            Event::Kill { tick: 1235, killer: 7, victim: 8 },
            Event::Join { tick: 1235, player: 300, name: Arc::from("日本語の名前") },
            Event::Leave { tick: 1235, player: 9 },
        ],
        hits: vec![Hit { tick: 1234, victim: 8 }, Hit { tick: 1235, victim: 8 }],
    };
    // More than 15 entities: the created array needs an array16 header.
    let crowded = Snapshot {
        tick: 70000,
        baseline: 0,
        last_input_seq: 65536,
        created: (1..=20)
            .map(|i| player(i, [i as i32 * 1000, 500, 0, 0, 0, 100, 0, 0, 0], &format!("bot{i}")))
            .chain([bullet(65536 + 1000, [1, 2, 3, 4, 5, 69999])])
            .collect(),
        changed: vec![],
        removed: vec![],
        events: vec![Event::Join { tick: 70000, player: 20, name: Arc::from("bot20") }],
        hits: vec![],
    };
    let delta_snapshot = Snapshot {
        tick: 1237,
        baseline: 1235,
        last_input_seq: 1,
        created: vec![player(10, [16000, 16000, 0, 0, 0, 100, 0, 0, 0], "late")],
        changed: vec![
            // The example from PROTOCOL.md: x and vx of player 7.
            delta(7, 0b0000_0101, &[19213, 427]),
            // Every field: negative fixint, int8, int16, int32, positive fixint, uint8, uint16, uint32.
            delta(8, 0xff, &[-5, -100, -1000, -100_000, 127, 200, 65535, 100_000]),
            // The extremes of an i32 field; mask with the top bit set needs a uint8.
            delta(9, 0b1000_0001, &[i32::MIN, i32::MAX]),
            // Zero and boundary values of each width.
            delta(11, 0b0111_1111, &[0, -32, -33, -128, -129, -32768, -32769]),
            delta(12, 0b0000_1111, &[128, 255, 256, 65536]),
            // A player losing its socket: the flags field (bit 8) makes the mask a uint16.
            delta(13, 0b1_0000_0000, &[1]),
        ],
        removed: vec![5, 255, 65535, 65536, 70000, 4_000_000_000],
        events: vec![
            Event::Kill { tick: 1236, killer: 8, victim: 7 },
            Event::Leave { tick: 1237, player: 5 },
            Event::Join { tick: 1237, player: 10, name: Arc::from("late") },
        ],
        // A hit on a player with a large id (uint16) in the delta's range.
        hits: vec![Hit { tick: 1236, victim: 300 }],
    };
    let empty_delta = Snapshot {
        tick: 4_000_000_000,
        baseline: 3_999_999_999,
        last_input_seq: u32::MAX,
        created: vec![],
        changed: vec![],
        removed: vec![],
        events: vec![],
        hits: vec![],
    };
    vec![
        ("welcome", ServerMessage::Welcome(welcome())),
        ("welcome_spectator", ServerMessage::Welcome(spectator_welcome())),
        ("snapshot_full", ServerMessage::Snapshot(full)),
        ("snapshot_full_crowded", ServerMessage::Snapshot(crowded)),
        ("snapshot_delta", ServerMessage::Snapshot(delta_snapshot)),
        ("snapshot_delta_empty", ServerMessage::Snapshot(empty_delta)),
        // A spectator's roster: unicode names, a negative and a zero score, a dead player (hp 0), the extremes of
        // the int32 score and of the uint32 id.
        (
            "roster",
            ServerMessage::Roster {
                tick: 1260,
                players: vec![
                    entry(7, "ana", 12, 100),
                    entry(8, "Zoë", -3, 0),
                    entry(300, "日本語の名前", 0, 35),
                    entry(65_535, "bot200", 200, 1),
                    entry(70_000, "min", i32::MIN, -129),
                    entry(u32::MAX, "max", i32::MAX, 65_536),
                ],
            },
        ),
        // More than 15 players: the players array needs an array16 header.
        (
            "roster_crowded",
            ServerMessage::Roster {
                tick: 70_020,
                players: (1..=20).map(|i| entry(i, &format!("bot{i}"), i as i32 - 10, 100 - i as i32 * 5)).collect(),
            },
        ),
        // A room with nobody playing in it (spectators only).
        ("roster_empty", ServerMessage::Roster { tick: 4_000_000_000, players: vec![] }),
        ("chat", ServerMessage::Chat { tick: 1240, from: 7, name: "ana".into(), text: "gg".into() }),
        // A room on another process (protocol v5 with a room directory): follow it with the seat token.
        (
            "redirect_seat",
            ServerMessage::Redirect {
                url: "ws://127.0.0.1:9002/ws".into(),
                join: Join::Seat { token: "eyJhbGciOiJIUzI1NiJ9.eyJwcm9jIjoiYSJ9.c2ln".into() },
            },
        ),
        // A resume sent to the wrong process: the same resume, at the process holding the seat.
        (
            "redirect_resume",
            ServerMessage::Redirect {
                url: "ws://10.0.0.7:8080/ws".into(),
                join: Join::Resume { token: "k3j9x2m4q8rt.abcdefghijklmnopqrstuvwxyz234567".into(), last_tick: 1234 },
            },
        ),
        (
            "chat_spectator",
            ServerMessage::Chat { tick: 70_000, from: 0, name: "Zoë".into(), text: "très bien, 東京 👍".into() },
        ),
        (
            "welcome_resumed",
            ServerMessage::Welcome(Welcome {
                tick: 1400,
                session: Some(SessionInfo {
                    resume_token: "k3j9x2m4q8rt.zyxwvutsrqponmlkjihgfedcba765432".into(),
                    grace_ms: 20_000,
                    input_seq: 4_000_000_000,
                }),
                ..welcome()
            }),
        ),
        (
            "close_resume_refused",
            ServerMessage::Close {
                code: 4007,
                reason: "resume refused: unknown, expired or already used token".into(),
            },
        ),
        ("pong", ServerMessage::Pong { nonce: 99 }),
        ("pong_large_nonce", ServerMessage::Pong { nonce: 0xdead_beef }),
        ("close_shutdown", ServerMessage::Close { code: 1001, reason: "server shutting down".into() }),
        (
            "close_version",
            ServerMessage::Close {
                code: 4000,
                reason: "protocol version mismatch: server speaks 4, client sent 3".into(),
            },
        ),
        ("close_room_not_found", ServerMessage::Close { code: 4001, reason: "no room with id abcdefgh2345".into() }),
        (
            "close_room_full",
            ServerMessage::Close { code: 4002, reason: "room abcdefgh2345 is full (8 players)".into() },
        ),
        (
            "close_bad_room_options",
            ServerMessage::Close { code: 4005, reason: "max_players must be 1 to 1000, got 0".into() },
        ),
        // A reason over 255 bytes needs a str16 header.
        ("close_long_reason", ServerMessage::Close { code: 1008, reason: "input flood; ".repeat(24) }),
    ]
}

fn client_messages() -> Vec<(&'static str, ClientMessage)> {
    let input = |seq, move_x, move_y, aim, buttons, ack_tick, view_delay_ms| {
        ClientMessage::Input(Input { seq, move_x, move_y, aim, buttons, ack_tick, view_delay_ms })
    };
    let hello = |name: &str, join| ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        join: Some(join),
        auth: None,
    };
    let create = |options| hello("cy", Join::Create(options));
    vec![
        ("hello", ClientMessage::hello("ana")),
        ("hello_quick_play_map", hello("bo", Join::QuickPlay { map: Some("duel".into()) })),
        ("hello_room", hello("cy", Join::Room { id: "k3j9x2m4q8rt".into() })),
        // Every option; a view radius that is not a whole number (an f32 on the wire).
        (
            "hello_create_all",
            create(RoomOptions {
                name: Some("Nuit blanche à 東京".into()),
                map: Some("4000x3000".into()),
                max_players: Some(1000),
                tick_rate: Some(120),
                view_radius: Some(750.5),
                private: Some(true),
            }),
        ),
        // Name and size only: the map between them is nil, and the array stops after max_players.
        (
            "hello_create_some",
            create(RoomOptions { name: Some("friday".into()), max_players: Some(8), ..RoomOptions::default() }),
        ),
        // A whole view radius is still an f32; private false is given (not the same as absent).
        (
            "hello_create_view_radius",
            create(RoomOptions {
                tick_rate: Some(60),
                view_radius: Some(500.0),
                private: Some(false),
                ..RoomOptions::default()
            }),
        ),
        ("hello_create_map_only", create(RoomOptions { map: Some("duel".into()), ..RoomOptions::default() })),
        ("hello_create_defaults", create(RoomOptions::default())),
        ("hello_spectate_busiest", hello("di", Join::Spectate { room: None })),
        ("hello_spectate_room", hello("ed", Join::Spectate { room: Some("k3j9x2m4q8rt".into()) })),
        // 16 characters of 3 bytes each: a str8 header.
        (
            "hello_unicode",
            ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: "日本語の名前を十六文字まで書こう".into(),
                join: Some(Join::QuickPlay { map: None }),
                auth: None,
            },
        ),
        // A signed join token after the join; the name may then be empty (the token carries it).
        (
            "hello_auth",
            ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: String::new(),
                join: Some(Join::QuickPlay { map: None }),
                auth: Some("eyJhbGciOiJIUzI1NiJ9.eyJuYW1lIjoiYW5hIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJl".into()),
            },
        ),
        (
            "hello_resume",
            hello(
                "",
                Join::Resume { token: "k3j9x2m4q8rt.abcdefghijklmnopqrstuvwxyz234567".into(), last_tick: 70_000 },
            ),
        ),
        ("hello_resume_nothing_held", hello("ana", Join::Resume { token: "r.t".into(), last_tick: 0 })),
        ("hello_seat", hello("ana", Join::Seat { token: "eyJhbGciOiJIUzI1NiJ9.eyJwcm9jIjoiYSJ9.c2ln".into() })),
        ("chat", ClientMessage::Chat { text: "gg".into() }),
        ("chat_unicode", ClientMessage::Chat { text: "très bien, 東京 👍".into() }),
        ("input_first", input(1, 127, 0, 0, 0, 1235, 0)),
        ("input_negative_moves", input(2, -127, -1, 16384, 1, 1236, 67)),
        ("input_diagonal", input(300, -90, 90, 41234, 0, 70000, 200)),
        ("input_large", input(u32::MAX, 0, -127, 65535, 1, 4_000_000_000, 1000)),
        ("ack", ClientMessage::Ack { tick: 1235 }),
        ("ack_none", ClientMessage::Ack { tick: 0 }),
        ("ack_large", ClientMessage::Ack { tick: 3_000_000_000 }),
        ("ping", ClientMessage::Ping { nonce: 99 }),
        ("ping_max", ClientMessage::Ping { nonce: u32::MAX }),
        ("view_follow", ClientMessage::View { follow: 7, x: 1200, y: 800 }),
        ("view_free_camera", ClientMessage::View { follow: 0, x: 3999, y: 160 }),
        ("view_extremes", ClientMessage::View { follow: u32::MAX, x: -40, y: 70_000 }),
    ]
}

/// `EntityState` as `parseServerMessage` returns a `created` entry: only the kind's own fields.
fn entity_json(e: &EntityState) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind as u8,
        "fields": &e.fields[..e.kind.field_count()],
        "name": e.name.as_deref(),
    })
}

fn event_json(e: &Event) -> Value {
    match e {
        Event::Kill { tick, killer, victim } => {
            json!({ "tick": tick, "kind": EVENT_KILL, "killer": killer, "victim": victim })
        }
        Event::Join { tick, player, name } => {
            json!({ "tick": tick, "kind": EVENT_JOIN, "playerId": player, "name": &**name })
        }
        Event::Leave { tick, player } => json!({ "tick": tick, "kind": EVENT_LEAVE, "playerId": player }),
    }
}

/// The rules as `parseServerMessage` returns them; f32 values widened exactly (JSON keeps every f64 digit).
fn rules_json(r: &RulesInfo) -> Value {
    json!({
        "playerRadius": f64::from(r.player_radius),
        "accel": f64::from(r.accel),
        "friction": f64::from(r.friction),
        "maxSpeed": f64::from(r.max_speed),
        "bulletRadius": f64::from(r.bullet_radius),
        "bulletSpeed": f64::from(r.bullet_speed),
        "bulletLifetimeTicks": r.bullet_lifetime_ticks,
        "fireIntervalTicks": r.fire_interval_ticks,
        "maxHp": r.max_hp,
        "respawnTicks": r.respawn_ticks,
        "maxRewindTicks": r.max_rewind_ticks,
    })
}

fn role_json(role: Role) -> &'static str {
    match role {
        Role::Player => "player",
        Role::Spectator => "spectator",
    }
}

fn map_json(m: &MapInfo) -> Value {
    json!({
        "name": m.name,
        "width": m.width,
        "height": m.height,
        "walls": m.walls.iter().map(|[x, y, w, h]| json!({ "x": x, "y": y, "w": w, "h": h })).collect::<Vec<_>>(),
        "spawns": m.spawns.iter().map(|[x, y]| json!({ "x": x, "y": y })).collect::<Vec<_>>(),
    })
}

/// A server message in the form `parseServerMessage` (client/protocol.js) returns it.
fn server_json(message: &ServerMessage) -> Value {
    match message {
        ServerMessage::Welcome(w) => json!({
            "type": "welcome",
            "version": w.version,
            "playerId": w.player_id,
            "tickRate": w.tick_rate,
            "tick": w.tick,
            "map": map_json(&w.map),
            "rules": rules_json(&w.rules),
            "room": { "id": w.room.id, "name": w.room.name, "role": role_json(w.room.role) },
            "session": w.session.as_ref().map(|s| json!({
                "resumeToken": s.resume_token,
                "graceMs": s.grace_ms,
                "inputSeq": s.input_seq,
            })),
        }),
        ServerMessage::Snapshot(s) => json!({
            "type": "snapshot",
            "tick": s.tick,
            "baseline": s.baseline,
            "lastInputSeq": s.last_input_seq,
            "created": s.created.iter().map(entity_json).collect::<Vec<_>>(),
            "changed": s.changed.iter().map(|c| json!({
                "id": c.id,
                "mask": c.mask,
                "values": mask_fields(u32::from(c.mask)).map(|i| c.fields[i]).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "removed": s.removed,
            "events": s.events.iter().map(event_json).collect::<Vec<_>>(),
            "hits": s.hits.iter().map(|h| json!({ "tick": h.tick, "victim": h.victim })).collect::<Vec<_>>(),
        }),
        ServerMessage::Pong { nonce } => json!({ "type": "pong", "nonce": nonce }),
        ServerMessage::Close { code, reason } => json!({ "type": "close", "code": code, "reason": reason }),
        ServerMessage::Roster { tick, players } => json!({
            "type": "roster",
            "tick": tick,
            "players": players.iter().map(|p| json!({
                "id": p.id,
                "name": p.name,
                "score": p.score,
                "hp": p.hp,
            })).collect::<Vec<_>>(),
        }),
        ServerMessage::Chat { tick, from, name, text } => {
            json!({ "type": "chat", "tick": tick, "from": from, "name": name, "text": text })
        }
        ServerMessage::Redirect { url, join } => json!({ "type": "redirect", "url": url, "join": join_json(join) }),
    }
}

/// A join as client/protocol.js's join builders make it (`quickPlay`, `joinRoom`, `createRoom`, `spectate`): every
/// optional part present, null when absent.
fn join_json(join: &Join) -> Value {
    match join {
        Join::QuickPlay { map } => json!({ "kind": "quickPlay", "map": map }),
        Join::Room { id } => json!({ "kind": "room", "id": id }),
        Join::Create(o) => json!({ "kind": "create", "options": {
            "name": o.name,
            "map": o.map,
            "maxPlayers": o.max_players,
            "tickRate": o.tick_rate,
            // Widened exactly: the client rounds it back to the same f32.
            "viewRadius": o.view_radius.map(f64::from),
            "private": o.private,
        }}),
        Join::Spectate { room } => json!({ "kind": "spectate", "room": room }),
        Join::Resume { token, last_tick } => json!({ "kind": "resume", "token": token, "lastTick": last_tick }),
        Join::Seat { token } => json!({ "kind": "seat", "token": token }),
    }
}

/// A client message with the names of the client's builders' arguments (client/protocol.js).
fn client_json(message: &ClientMessage) -> Value {
    match message {
        ClientMessage::Hello { version, name, join, auth } => {
            let join = join.as_ref().expect("every vector's hello speaks the current version and has a join");
            json!({ "type": "hello", "version": version, "name": name, "join": join_json(join), "auth": auth })
        }
        ClientMessage::Input(i) => json!({
            "type": "input",
            "seq": i.seq,
            "moveX": i.move_x,
            "moveY": i.move_y,
            "aim": i.aim,
            "buttons": i.buttons,
            "ackTick": i.ack_tick,
            "viewDelayMs": i.view_delay_ms,
        }),
        ClientMessage::Ack { tick } => json!({ "type": "ack", "tick": tick }),
        ClientMessage::Ping { nonce } => json!({ "type": "ping", "nonce": nonce }),
        ClientMessage::View { follow, x, y } => json!({ "type": "view", "follow": follow, "x": x, "y": y }),
        ClientMessage::Chat { text } => json!({ "type": "chat", "text": text }),
    }
}

fn vector(name: &str, direction: &'static str, bytes: &[u8], message: Value) -> Vector {
    let value: Value = rmp_serde::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{name}: the encoded bytes do not decode as a MessagePack value: {e}"));
    Vector { name: name.to_string(), direction, hex: hex(bytes), value, message }
}

/// Every vector, after checking that each one decodes back to the message it was built from.
fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    for (name, message) in server_messages() {
        let bytes = encode_server(&message);
        assert_eq!(decode_server(&bytes).unwrap_or_else(|e| panic!("{name}: {e}")), message, "{name} round trip");
        out.push(vector(name, "server", &bytes, server_json(&message)));
    }
    for (name, message) in client_messages() {
        let bytes = encode_client(&message);
        let decoded = decode_client(&bytes, CLIENT_LIMIT).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, message, "{name} round trip");
        out.push(vector(name, "client", &bytes, client_json(&message)));
    }
    out
}

#[test]
fn golden_vectors_match_the_committed_file() {
    let vectors = vectors();
    let mut names: Vec<_> = vectors.iter().map(|v| (v.direction, v.name.as_str())).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), vectors.len(), "vector names are unique per direction");

    let mut expected = serde_json::to_string_pretty(&vectors).expect("vectors serialize");
    expected.push('\n');
    check_committed(GOLDEN_PATH, &expected, "what the codec now writes for the vectors in tests/golden.rs");
}

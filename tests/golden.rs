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

use glam::Vec2;
use serde::Serialize;
use serde_json::{json, Value};
use skirmish::codec::{decode_client, decode_server, encode_client, encode_server};
use skirmish::protocol::{
    ClientMessage, EntityKind, EntityState, Event, Hit, Input, Join, MapInfo, Role, RoomInfo, RoomOptions, RosterEntry,
    RulesInfo, ServerMessage, SessionInfo, Snapshot, Welcome, EVENT_JOIN, EVENT_KILL, EVENT_LEAVE, MAX_FIELDS,
    PROTOCOL_VERSION,
};
use skirmish::sim::{Map, PlayerInput, Rules, World};
use skirmish::snapshot::{encode_delta, Replica, View, WorldSnapshot};

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
            player(8, [3200, 25600, -1620, 4170, 192, 35, 12, 0, 0], "Zoë"),
            player(300, [100, 200, 0, 0, 255, 0, 3, 90, 1], "日本語の名前"),
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
        own: Some([-14, 15]),
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
        own: None,
    };
    let delta_snapshot = Snapshot {
        tick: 1237,
        baseline: 1235,
        last_input_seq: 1,
        created: vec![player(10, [16000, 16000, 0, 0, 0, 100, 0, 0, 0], "late")],
        // The parser keeps the stream as bytes (client/test/deltas.json holds streams applied to baselines); 300
        // bytes need a bin16 header.
        changed: (0..300).map(|i| (i * 7 % 256) as u8).collect(),
        removed: vec![5, 255, 65535, 65536, 70000, 4_000_000_000],
        events: vec![
            Event::Kill { tick: 1236, killer: 8, victim: 7 },
            Event::Leave { tick: 1237, player: 5 },
            Event::Join { tick: 1237, player: 10, name: Arc::from("late") },
        ],
        // A hit on a player with a large id (uint16) in the delta's range.
        hits: vec![Hit { tick: 1236, victim: 300 }],
        own: Some([0, -1]),
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
        own: Some([0, 0]),
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
            "changed": s.changed,
            "removed": s.removed,
            "events": s.events.iter().map(event_json).collect::<Vec<_>>(),
            "hits": s.hits.iter().map(|h| json!({ "tick": h.tick, "victim": h.victim })).collect::<Vec<_>>(),
            "own": s.own.map_or(vec![], |own| own.to_vec()),
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

/// A MessagePack value as JSON, a bin as an array of its bytes (serde_json's own `Value` refuses bytes).
struct MsgpackJson(Value);

impl<'de> serde::Deserialize<'de> for MsgpackJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MsgpackJson;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any MessagePack value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<MsgpackJson, E> {
                Ok(MsgpackJson(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<MsgpackJson, E> {
                Ok(MsgpackJson(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<MsgpackJson, E> {
                Ok(MsgpackJson(v.into()))
            }
            fn visit_f32<E>(self, v: f32) -> Result<MsgpackJson, E> {
                Ok(MsgpackJson(json!(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<MsgpackJson, E> {
                Ok(MsgpackJson(json!(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<MsgpackJson, E> {
                Ok(MsgpackJson(v.into()))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<MsgpackJson, E> {
                Ok(MsgpackJson(json!(v)))
            }
            fn visit_unit<E>(self) -> Result<MsgpackJson, E> {
                Ok(MsgpackJson(Value::Null))
            }
            fn visit_none<E>(self) -> Result<MsgpackJson, E> {
                Ok(MsgpackJson(Value::Null))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<MsgpackJson, D::Error> {
                <MsgpackJson as serde::Deserialize>::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MsgpackJson, A::Error> {
                let mut items = Vec::new();
                while let Some(MsgpackJson(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(MsgpackJson(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MsgpackJson, A::Error> {
                let mut object = serde_json::Map::new();
                while let Some((key, MsgpackJson(value))) = map.next_entry::<String, MsgpackJson>()? {
                    object.insert(key, value);
                }
                Ok(MsgpackJson(Value::Object(object)))
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn vector(name: &str, direction: &'static str, bytes: &[u8], message: Value) -> Vector {
    let MsgpackJson(value) = rmp_serde::from_slice(bytes)
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

/// Where the delta vectors live: baselines, deltas against them and the states they must give.
const DELTAS_PATH: &str = "client/test/deltas.json";

/// One entry of deltas.json: a full snapshot (the baseline), a delta against it, and the state the delta gives.
#[derive(Serialize)]
struct DeltaVector {
    name: String,
    tick_rate: u32,
    /// The baseline as a full snapshot message.
    full_hex: String,
    /// The delta snapshot message against the full one's tick.
    delta_hex: String,
    /// The entities after applying the delta, sorted by id, in the client parser's form.
    expected: Vec<Value>,
}

fn delta_vector(name: &str, tick_rate: u32, base: &WorldSnapshot, current: &WorldSnapshot) -> DeltaVector {
    let message = |base: Option<&WorldSnapshot>, current: &WorldSnapshot| {
        let mut bytes = Vec::new();
        skirmish::codec::encode_snapshot_header(&mut bytes, current.tick, base.map_or(0, |b| b.tick), 0);
        bytes.extend(encode_delta(base.map(View::all), View::all(current), tick_rate));
        bytes.extend([0x90, 0x90, 0x90]);
        bytes
    };
    let (full, delta) = (message(None, base), message(Some(base), current));
    // The vector holds only what the crate's own replica reproduces.
    let mut replica = Replica::new(tick_rate);
    for bytes in [&full, &delta] {
        let ServerMessage::Snapshot(snapshot) = decode_server(bytes).expect("decodes") else { panic!("a snapshot") };
        replica.apply(&snapshot).expect("applies");
    }
    assert_eq!(replica.latest_states().expect("a state").1, current.entities, "{name}");
    DeltaVector {
        name: name.into(),
        tick_rate,
        full_hex: hex(&full),
        delta_hex: hex(&delta),
        expected: current.entities.iter().map(entity_json).collect(),
    }
}

/// Hand-made states for the corners of the coding, then a real world of wandering players at several baseline ages.
fn delta_vectors() -> Vec<DeltaVector> {
    let mut vectors = Vec::new();
    let rate = 30;
    let base = WorldSnapshot::from_entities(
        10,
        vec![
            (player(1, [1600, 1600, 960, 0, 0, 100, 0, 0, 0], "steady"), 1),
            (player(2, [3200, 800, 0, -480, 64, 100, 0, 0, 0], "turning"), 2),
            (player(3, [0, 0, 0, 0, 250, 0, 7, 5, 0], "dead"), 3),
            (player(4, [-50, 90, 30, -30, 3, 100, 2, 0, 1], "held"), 4),
            (bullet(65536, [100, 100, 14400, 0, 1, 9]), 5),
            (bullet(65537, [200, 100, 14400, 0, 1, 9]), 6),
        ],
    );
    type Edit<'a> = &'a dyn Fn(&mut Vec<(EntityState, u32)>);
    let later = |tick: u32, f: Edit<'_>| {
        let mut entities: Vec<(EntityState, u32)> = base
            .entities
            .iter()
            .zip([1, 2, 3, 4, 5, 6])
            .map(|(e, generation)| {
                let mut e = e.clone();
                skirmish::snapshot::delta::predict(e.kind, &mut e.fields, tick - base.tick, rate);
                (e, generation)
            })
            .collect();
        f(&mut entities);
        entities.sort_by_key(|(e, _)| e.id);
        WorldSnapshot::from_entities(tick, entities)
    };
    let predicted = later(12, &|_| {});
    let spec_example = later(12, &|entities| {
        entities[1].0.fields[0] += 1;
        entities[1].0.fields[4] = 66;
    });
    let corners = later(13, &|entities| {
        let (turning, dead, held) = (1, 2, 3);
        entities[turning].0.fields[2] = 300; // vx 0 -> 300: a residual of 10 steps of the tick rate
        entities[turning].0.fields[4] = 250; // aim 64 -> 250: wraps backwards, -70
        entities[dead].0.fields[0] = i32::MIN; // a 32-bit residual
        entities[dead].0.fields[5] = 100; // respawned
        entities[dead].0.fields[7] = 0;
        entities[held].0.fields[8] = 0; // the socket is back
        entities[held].0.fields[6] = i32::MAX;
    });
    let churn = later(14, &|entities| {
        entities.remove(0); // player 1 gone
        entities[3].1 = 99; // bullet 65536 replaced by a new one under its id
        entities[3].0.fields[5] = 14;
        entities.push((player(5, [10, 10, 0, 0, 0, 100, 0, 0, 0], "new"), 7));
    });
    for (name, current) in
        [("predicted_only", &predicted), ("spec_example", &spec_example), ("corners", &corners), ("churn", &churn)]
    {
        vectors.push(delta_vector(name, rate, &base, current));
    }

    // A real world: players steering on seeded walks (turning and stopping), at 30 and 60 Hz, deltas 1, 2 and 7
    // ticks old.
    for tick_rate in [30u32, 60] {
        let map = Map::bundled_arena();
        let mut world = World::new(map, Rules::for_tick_rate(tick_rate), 3);
        let ids: Vec<_> = (0..12).map(|i| world.add_player(&format!("walker{i}"))).collect();
        let mut history = Vec::new();
        for tick in 0..90u32 {
            for (i, id) in ids.iter().enumerate() {
                let angle = (tick as f32 + i as f32 * 7.0) / 10.0;
                let movement =
                    if (tick / 20 + i as u32).is_multiple_of(3) { Vec2::ZERO } else { Vec2::from_angle(angle) };
                let aim = (tick * 900 + i as u32 * 5000) as u16;
                world.set_input(*id, PlayerInput { movement, aim, fire: false, rewind: 0.0 });
            }
            world.step();
            history.push(WorldSnapshot::capture(&world));
        }
        for age in [1, 2, 7] {
            let current = &history[history.len() - 1];
            let base = &history[history.len() - 1 - age];
            vectors.push(delta_vector(&format!("walkers_{tick_rate}hz_{age}_ticks"), tick_rate, base, current));
        }
    }
    vectors
}

#[test]
fn delta_vectors_match_the_committed_file() {
    let mut expected = serde_json::to_string_pretty(&delta_vectors()).expect("vectors serialize");
    expected.push('\n');
    check_committed(DELTAS_PATH, &expected, "what the delta coder now writes for the vectors in tests/golden.rs");
}

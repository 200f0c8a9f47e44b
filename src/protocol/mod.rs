//! Protocol v6: the messages client and server exchange, as plain data.
//!
//! Every message is a MessagePack array whose first element is a small integer type tag; the rest is positional.
//! rmp-serde would write enum variants as their name strings, so the (de)serializers here are written by hand to
//! keep the tags numeric and the layout exactly the one `docs/PROTOCOL.md` documents. Nothing here does I/O.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod wire;

pub use wire::{EVENT_JOIN, EVENT_KILL, EVENT_LEAVE};

/// Version carried by `hello` and `welcome`; a client speaking another version is refused with close code 4000.
pub const PROTOCOL_VERSION: u16 = 7;

/// Type tags of client-to-server messages.
pub mod client_tag {
    pub const HELLO: u8 = 1;
    pub const INPUT: u8 = 2;
    pub const ACK: u8 = 3;
    pub const PING: u8 = 4;
    pub const VIEW: u8 = 5;
    pub const CHAT: u8 = 6;
}

/// Kinds of `join` in a hello (its first element).
pub mod join_tag {
    pub const QUICK_PLAY: u8 = 1;
    pub const ROOM: u8 = 2;
    pub const CREATE: u8 = 3;
    pub const SPECTATE: u8 = 4;
    pub const RESUME: u8 = 5;
    pub const SEAT: u8 = 6;
}

/// Type tags of server-to-client messages.
pub mod server_tag {
    pub const WELCOME: u8 = 1;
    pub const SNAPSHOT: u8 = 2;
    pub const PONG: u8 = 3;
    pub const CLOSE: u8 = 4;
    pub const ROSTER: u8 = 5;
    pub const CHAT: u8 = 6;
    pub const REDIRECT: u8 = 7;
}

/// Entity kinds as they appear in `created` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Player = 0,
    Bullet = 1,
}

impl EntityKind {
    /// How many numeric fields an entity of this kind carries (the name of a player is not a field).
    pub const fn field_count(self) -> usize {
        match self {
            EntityKind::Player => 9,
            EntityKind::Bullet => 6,
        }
    }

    pub fn from_tag(tag: u8) -> Option<EntityKind> {
        match tag {
            0 => Some(EntityKind::Player),
            1 => Some(EntityKind::Bullet),
            _ => None,
        }
    }
}

/// Field indexes of a player entity (see PROTOCOL.md, "Entities").
pub mod player_field {
    pub const X: usize = 0;
    pub const Y: usize = 1;
    pub const VX: usize = 2;
    pub const VY: usize = 3;
    pub const AIM: usize = 4;
    pub const HP: usize = 5;
    pub const SCORE: usize = 6;
    pub const RESPAWN: usize = 7;
    /// Bit set of `FLAG_*` values.
    pub const FLAGS: usize = 8;
}

/// `flags` bit of a player: its socket is gone and its seat is held for the resume grace.
pub const FLAG_DISCONNECTED: i32 = 1;

/// Field indexes of a bullet entity.
pub mod bullet_field {
    pub const X: usize = 0;
    pub const Y: usize = 1;
    pub const VX: usize = 2;
    pub const VY: usize = 3;
    pub const OWNER: usize = 4;
    pub const SPAWN_TICK: usize = 5;
}

/// The widest field array of any kind; unused trailing fields stay 0.
pub const MAX_FIELDS: usize = 9;

/// One entity as a client sees it: the unit of snapshots and deltas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityState {
    pub id: u32,
    pub kind: EntityKind,
    pub fields: [i32; MAX_FIELDS],
    /// Players only; never changes for the life of the entity.
    pub name: Option<Arc<str>>,
}

/// Something that happened in a tick, carried by snapshots until acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Kill { tick: u32, killer: u32, victim: u32 },
    Join { tick: u32, player: u32, name: Arc<str> },
    Leave { tick: u32, player: u32 },
}

impl Event {
    pub fn tick(&self) -> u32 {
        match self {
            Event::Kill { tick, .. } | Event::Join { tick, .. } | Event::Leave { tick, .. } => *tick,
        }
    }
}

/// The player's controls for one tick, as sent by the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Input {
    pub seq: u32,
    pub move_x: i8,
    pub move_y: i8,
    pub aim: u16,
    pub buttons: u8,
    pub ack_tick: u32,
    /// How far behind `ack_tick` the client drew the other players when it made this input, in milliseconds
    /// (0..=[`MAX_VIEW_DELAY_MS`]); the room rewinds this input's shots by it (lag compensation). 0 when absent.
    pub view_delay_ms: u16,
}

/// The largest `view_delay_ms` an input may carry.
pub const MAX_VIEW_DELAY_MS: u16 = 1000;

/// `buttons` bit: fire.
pub const BUTTON_FIRE: u8 = 1;

/// Messages a client sends.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    /// `join` is `None` only when `version` is another protocol's: that hello is refused for its version, whatever
    /// follows it (a v2 hello has no `join`).
    Hello {
        version: u16,
        name: String,
        join: Option<Join>,
        /// A join token signed by the game's backend (required when the server has an auth secret).
        auth: Option<String>,
    },
    Input(Input),
    Ack {
        tick: u32,
    },
    Ping {
        nonce: u32,
    },
    /// A spectator's view: follow player `follow` (0: a free camera centred on `x`, `y` world units).
    View {
        follow: u32,
        x: i32,
        y: i32,
    },
    /// One chat line for everyone in the room.
    Chat {
        text: String,
    },
}

impl ClientMessage {
    /// A hello of this protocol version that quick-plays as `name`.
    pub fn hello(name: &str) -> ClientMessage {
        ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            name: name.into(),
            join: Some(Join::QuickPlay { map: None }),
            auth: None,
        }
    }
}

/// Which room a hello asks for, and in which role.
#[derive(Clone, Debug, PartialEq)]
pub enum Join {
    /// The fullest public room with a free player slot (on `map` when given), or a new one.
    QuickPlay { map: Option<String> },
    /// Play in the room with this id.
    Room { id: String },
    /// Create a room and play in it.
    Create(RoomOptions),
    /// Watch that room, or the busiest public one.
    Spectate { room: Option<String> },
    /// Take back the seat `token` names (from the last welcome), holding snapshots up to `last_tick` (0: none).
    Resume { token: String, last_tick: u32 },
    /// Take the seat another server process reserved on this one (only sent inside a redirect).
    Seat { token: String },
}

/// The settings a room is created with; every one optional (the server's default when absent). On the wire an
/// array `[name, map, max_players, tick_rate, view_radius, private]` with nil for absent (or cut short); in the
/// HTTP API a JSON object with these names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomOptions {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub map: Option<String>,
    #[serde(default)]
    pub max_players: Option<u32>,
    #[serde(default)]
    pub tick_rate: Option<u32>,
    #[serde(default)]
    pub view_radius: Option<f32>,
    #[serde(default)]
    pub private: Option<bool>,
}

/// A client's part in a room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Role {
    #[default]
    Player = 0,
    Spectator = 1,
}

/// The room a welcome admits to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// The map as sent in `welcome`, in integer world units.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MapInfo {
    pub name: String,
    pub width: i32,
    pub height: i32,
    pub walls: Vec<[i32; 4]>,
    pub spawns: Vec<[i32; 2]>,
}

/// Game constants a client needs for prediction, in the order PROTOCOL.md lists them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RulesInfo {
    pub player_radius: f32,
    pub accel: f32,
    pub friction: f32,
    pub max_speed: f32,
    pub bullet_radius: f32,
    pub bullet_speed: f32,
    pub bullet_lifetime_ticks: u32,
    pub fire_interval_ticks: u32,
    pub max_hp: u8,
    pub respawn_ticks: u32,
    /// The furthest back a shot is resolved (lag compensation), in ticks; 0 when lag compensation is off.
    pub max_rewind_ticks: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Welcome {
    pub version: u16,
    pub player_id: u32,
    pub tick_rate: u16,
    pub tick: u32,
    pub map: MapInfo,
    pub rules: RulesInfo,
    pub room: RoomInfo,
    /// A player's way back to its seat; `None` for spectators and when resuming is off.
    pub session: Option<SessionInfo>,
}

/// What a player needs to resume its seat over a new socket.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SessionInfo {
    /// Single-use: a resume spends it and its welcome carries the next one.
    pub resume_token: String,
    /// How long the seat is held after the socket drops.
    pub grace_ms: u32,
    /// The highest input seq the server has received from this seat; the next input must be greater.
    pub input_seq: u32,
}

/// The token is a credential: it never appears in logs or debug output.
impl std::fmt::Debug for SessionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionInfo")
            .field("resume_token", &"<redacted>")
            .field("grace_ms", &self.grace_ms)
            .field("input_seq", &self.input_seq)
            .finish()
    }
}

/// The welcome's (or a recording's) map as the simulation takes it; not validated.
impl From<&MapInfo> for crate::sim::Map {
    fn from(info: &MapInfo) -> crate::sim::Map {
        crate::sim::Map {
            name: info.name.clone(),
            width: info.width,
            height: info.height,
            walls: info.walls.iter().map(|&[x, y, w, h]| crate::sim::Wall { x, y, w, h }).collect(),
            spawns: info.spawns.iter().map(|&[x, y]| glam::IVec2::new(x, y)).collect(),
        }
    }
}

impl From<&crate::sim::Map> for MapInfo {
    fn from(map: &crate::sim::Map) -> MapInfo {
        MapInfo {
            name: map.name.clone(),
            width: map.width,
            height: map.height,
            walls: map.walls.iter().map(|w| [w.x, w.y, w.w, w.h]).collect(),
            spawns: map.spawns.iter().map(|s| [s.x, s.y]).collect(),
        }
    }
}

impl From<&crate::sim::Rules> for RulesInfo {
    fn from(rules: &crate::sim::Rules) -> RulesInfo {
        RulesInfo {
            player_radius: rules.player_radius,
            accel: rules.accel,
            friction: rules.friction,
            max_speed: rules.max_speed,
            bullet_radius: rules.bullet_radius,
            bullet_speed: rules.bullet_speed,
            bullet_lifetime_ticks: rules.bullet_lifetime_ticks,
            fire_interval_ticks: rules.fire_interval_ticks,
            max_hp: rules.max_hp,
            respawn_ticks: rules.respawn_ticks,
            max_rewind_ticks: rules.max_rewind_ticks,
        }
    }
}

/// A decoded snapshot; the server writes the same layout piecewise (see `codec::encode_snapshot`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub tick: u32,
    pub baseline: u32,
    pub last_input_seq: u32,
    pub created: Vec<EntityState>,
    /// The `changed` bit stream (a MessagePack bin): residuals against the prediction, read against the baseline
    /// state (`snapshot::delta`).
    pub changed: Vec<u8>,
    pub removed: Vec<u32>,
    pub events: Vec<Event>,
    /// The receiving player's bullets that hit someone after the baseline (every kept one in a full snapshot).
    pub hits: Vec<Hit>,
    /// What rounding took off the receiving player's velocity (`[dvx, dvy]`); `None` for a spectator.
    pub own: Option<[i32; 2]>,
}

/// One of the receiving player's bullets hit `victim` in `tick` (a hit confirmation, for the shooter's hit marker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hit {
    pub tick: u32,
    pub victim: u32,
}

/// One player of a room as a spectator's roster lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterEntry {
    pub id: u32,
    pub name: String,
    pub score: i32,
    pub hp: i32,
}

/// Messages the server sends.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    Welcome(Welcome),
    Snapshot(Snapshot),
    Pong {
        nonce: u32,
    },
    Close {
        code: u16,
        reason: String,
    },
    /// Every player of the room, sent to spectators once a second: with interest management their snapshots only
    /// hold what is in view, and a spectator still needs the whole room's scoreboard and whom it may follow.
    Roster {
        tick: u32,
        players: Vec<RosterEntry>,
    },
    /// A chat line someone in the room sent; `from` is its player id, 0 for a spectator.
    Chat {
        tick: u32,
        from: u32,
        name: String,
        text: String,
    },
    /// The room is on another server process: open `url` and say hello again with `join` (then a close 4014).
    Redirect {
        url: String,
        join: Join,
    },
}

//! Protocol v3: the messages client and server exchange, as plain data.
//!
//! Every message is a MessagePack array whose first element is a small integer type tag; the rest is positional.
//! rmp-serde would write enum variants as their name strings, so the (de)serializers here are written by hand to
//! keep the tags numeric and the layout exactly the one `docs/PROTOCOL.md` documents. Nothing here does I/O.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

/// Version carried by `hello` and `welcome`; a client speaking another version is refused with close code 4000.
pub const PROTOCOL_VERSION: u16 = 3;

/// Type tags of client-to-server messages.
pub mod client_tag {
    pub const HELLO: u8 = 1;
    pub const INPUT: u8 = 2;
    pub const ACK: u8 = 3;
    pub const PING: u8 = 4;
    pub const VIEW: u8 = 5;
}

/// Kinds of `join` in a hello (its first element).
pub mod join_tag {
    pub const QUICK_PLAY: u8 = 1;
    pub const ROOM: u8 = 2;
    pub const CREATE: u8 = 3;
    pub const SPECTATE: u8 = 4;
}

/// Type tags of server-to-client messages.
pub mod server_tag {
    pub const WELCOME: u8 = 1;
    pub const SNAPSHOT: u8 = 2;
    pub const PONG: u8 = 3;
    pub const CLOSE: u8 = 4;
    pub const ROSTER: u8 = 5;
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
            EntityKind::Player => 8,
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
}

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
pub const MAX_FIELDS: usize = 8;

/// The field indexes whose bits are set in a `changed` mask, ascending (the order their values travel in).
pub fn mask_fields(mask: u32) -> impl Iterator<Item = usize> {
    let mut bits = mask;
    std::iter::from_fn(move || {
        let field = (bits != 0).then(|| bits.trailing_zeros() as usize)?;
        bits &= bits - 1;
        Some(field)
    })
}

/// One entity as a client sees it: the unit of snapshots and deltas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityState {
    pub id: u32,
    pub kind: EntityKind,
    pub fields: [i32; MAX_FIELDS],
    /// Players only; never changes for the life of the entity.
    pub name: Option<Arc<str>>,
}

/// The fields of one entity that differ from the baseline: bit `i` of `mask` set means `fields[i]` is present, as
/// the difference from the baseline's value (wrapping `i32` arithmetic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDelta {
    pub id: u32,
    pub mask: u8,
    pub fields: [i32; MAX_FIELDS],
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
}

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
}

impl ClientMessage {
    /// A hello of this protocol version that quick-plays as `name`.
    pub fn hello(name: &str) -> ClientMessage {
        ClientMessage::Hello { version: PROTOCOL_VERSION, name: name.into(), join: Some(Join::QuickPlay { map: None }) }
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
    pub changed: Vec<FieldDelta>,
    pub removed: Vec<u32>,
    pub events: Vec<Event>,
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
}

// ---------------------------------------------------------------------------------------------------------------
// Serialization. Each impl writes a fixed-length tuple (a MessagePack array) with the tag first.

fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(seq: &mut A, what: &'static str) -> Result<T, A::Error> {
    seq.next_element()?.ok_or_else(|| de::Error::custom(format_args!("missing {what}")))
}

fn end<'de, A: SeqAccess<'de>>(seq: &mut A, message: &'static str) -> Result<(), A::Error> {
    match seq.next_element::<IgnoredAny>()? {
        None => Ok(()),
        Some(_) => Err(de::Error::custom(format_args!("too many elements in {message}"))),
    }
}

impl Serialize for ClientMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ClientMessage::Hello { version, name, join } => {
                let mut t = serializer.serialize_tuple(3 + usize::from(join.is_some()))?;
                t.serialize_element(&client_tag::HELLO)?;
                t.serialize_element(version)?;
                t.serialize_element(name)?;
                if let Some(join) = join {
                    t.serialize_element(join)?;
                }
                t.end()
            }
            ClientMessage::Input(input) => {
                let mut t = serializer.serialize_tuple(7)?;
                t.serialize_element(&client_tag::INPUT)?;
                t.serialize_element(&input.seq)?;
                t.serialize_element(&input.move_x)?;
                t.serialize_element(&input.move_y)?;
                t.serialize_element(&input.aim)?;
                t.serialize_element(&input.buttons)?;
                t.serialize_element(&input.ack_tick)?;
                t.end()
            }
            ClientMessage::Ack { tick } => (client_tag::ACK, tick).serialize(serializer),
            ClientMessage::Ping { nonce } => (client_tag::PING, nonce).serialize(serializer),
            ClientMessage::View { follow, x, y } => (client_tag::VIEW, follow, x, y).serialize(serializer),
        }
    }
}

impl Serialize for Join {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Join::QuickPlay { map: None } => (join_tag::QUICK_PLAY,).serialize(serializer),
            Join::QuickPlay { map: Some(map) } => (join_tag::QUICK_PLAY, map).serialize(serializer),
            Join::Room { id } => (join_tag::ROOM, id).serialize(serializer),
            Join::Create(options) => (join_tag::CREATE, options.wire()).serialize(serializer),
            Join::Spectate { room: None } => (join_tag::SPECTATE,).serialize(serializer),
            Join::Spectate { room: Some(room) } => (join_tag::SPECTATE, room).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Join {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Join;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a join array starting with its kind")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Join, A::Error> {
                let kind: u8 = next(&mut seq, "join kind")?;
                let join = match kind {
                    join_tag::QUICK_PLAY => Join::QuickPlay { map: seq.next_element::<Option<String>>()?.flatten() },
                    join_tag::ROOM => Join::Room { id: next(&mut seq, "room id")? },
                    join_tag::CREATE => {
                        let options: WireRoomOptions = next(&mut seq, "room options")?;
                        Join::Create(options.0)
                    }
                    join_tag::SPECTATE => Join::Spectate { room: seq.next_element::<Option<String>>()?.flatten() },
                    other => return Err(de::Error::custom(format_args!("unknown join kind {other}"))),
                };
                end(&mut seq, "join")?;
                Ok(join)
            }
        }
        deserializer.deserialize_seq(V)
    }
}

impl RoomOptions {
    /// The positional wire form: trailing absent options are left out.
    fn wire(&self) -> WireRoomOptions {
        WireRoomOptions(self.clone())
    }
}

/// `RoomOptions` as the positional array of the wire (`[name, map, max_players, tick_rate, view_radius, private]`).
struct WireRoomOptions(RoomOptions);

impl Serialize for WireRoomOptions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let o = &self.0;
        let present = [
            o.name.is_some(),
            o.map.is_some(),
            o.max_players.is_some(),
            o.tick_rate.is_some(),
            o.view_radius.is_some(),
            o.private.is_some(),
        ];
        let len = present.iter().rposition(|&p| p).map_or(0, |last| last + 1);
        let mut t = serializer.serialize_tuple(len)?;
        if len > 0 {
            t.serialize_element(&o.name)?;
        }
        if len > 1 {
            t.serialize_element(&o.map)?;
        }
        if len > 2 {
            t.serialize_element(&o.max_players)?;
        }
        if len > 3 {
            t.serialize_element(&o.tick_rate)?;
        }
        if len > 4 {
            t.serialize_element(&o.view_radius)?;
        }
        if len > 5 {
            t.serialize_element(&o.private)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for WireRoomOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WireRoomOptions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("room options [name, map, max_players, tick_rate, view_radius, private]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireRoomOptions, A::Error> {
                let options = RoomOptions {
                    name: seq.next_element::<Option<String>>()?.flatten(),
                    map: seq.next_element::<Option<String>>()?.flatten(),
                    max_players: seq.next_element::<Option<u32>>()?.flatten(),
                    tick_rate: seq.next_element::<Option<u32>>()?.flatten(),
                    view_radius: seq.next_element::<Option<f32>>()?.flatten(),
                    private: seq.next_element::<Option<bool>>()?.flatten(),
                };
                end(&mut seq, "room options")?;
                Ok(WireRoomOptions(options))
            }
        }
        deserializer.deserialize_seq(V)
    }
}

impl<'de> Deserialize<'de> for ClientMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClientMessage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a client message array starting with a type tag")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClientMessage, A::Error> {
                let tag: u8 = next(&mut seq, "type tag")?;
                let message = match tag {
                    client_tag::HELLO => {
                        let version: u16 = next(&mut seq, "hello version")?;
                        let name: String = next(&mut seq, "hello name")?;
                        if version != PROTOCOL_VERSION {
                            // Another protocol's hello: only its version matters (it is refused for it).
                            while seq.next_element::<IgnoredAny>()?.is_some() {}
                            return Ok(ClientMessage::Hello { version, name, join: None });
                        }
                        ClientMessage::Hello { version, name, join: Some(next(&mut seq, "hello join")?) }
                    }
                    client_tag::INPUT => ClientMessage::Input(Input {
                        seq: next(&mut seq, "input seq")?,
                        move_x: next(&mut seq, "input move_x")?,
                        move_y: next(&mut seq, "input move_y")?,
                        aim: next(&mut seq, "input aim")?,
                        buttons: next(&mut seq, "input buttons")?,
                        ack_tick: next(&mut seq, "input ack_tick")?,
                    }),
                    client_tag::ACK => ClientMessage::Ack { tick: next(&mut seq, "ack tick")? },
                    client_tag::PING => ClientMessage::Ping { nonce: next(&mut seq, "ping nonce")? },
                    client_tag::VIEW => ClientMessage::View {
                        follow: next(&mut seq, "view follow")?,
                        x: next(&mut seq, "view x")?,
                        y: next(&mut seq, "view y")?,
                    },
                    other => return Err(de::Error::custom(format_args!("unknown message type {other}"))),
                };
                end(&mut seq, "client message")?;
                Ok(message)
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// Serializes a created entity as the flat array `[id, kind, fields..., name?]`.
impl Serialize for EntityState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let count = self.kind.field_count();
        let has_name = self.kind == EntityKind::Player;
        let mut t = serializer.serialize_tuple(2 + count + has_name as usize)?;
        t.serialize_element(&self.id)?;
        t.serialize_element(&(self.kind as u8))?;
        for value in &self.fields[..count] {
            t.serialize_element(value)?;
        }
        if has_name {
            t.serialize_element(self.name.as_deref().unwrap_or(""))?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for EntityState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EntityState;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an entity array [id, kind, fields...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EntityState, A::Error> {
                let id: u32 = next(&mut seq, "entity id")?;
                let kind_tag: u8 = next(&mut seq, "entity kind")?;
                let kind = EntityKind::from_tag(kind_tag)
                    .ok_or_else(|| de::Error::custom(format_args!("unknown entity kind {kind_tag}")))?;
                let mut fields = [0; MAX_FIELDS];
                for field in &mut fields[..kind.field_count()] {
                    *field = next(&mut seq, "entity field")?;
                }
                let name = match kind {
                    EntityKind::Player => Some(Arc::from(next::<String, _>(&mut seq, "player name")?)),
                    EntityKind::Bullet => None,
                };
                end(&mut seq, "entity")?;
                Ok(EntityState { id, kind, fields, name })
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// Serializes a field delta as the flat array `[id, mask, present fields...]`.
impl Serialize for FieldDelta {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut t = serializer.serialize_tuple(2 + self.mask.count_ones() as usize)?;
        t.serialize_element(&self.id)?;
        t.serialize_element(&self.mask)?;
        for field in mask_fields(self.mask.into()) {
            t.serialize_element(&self.fields[field])?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for FieldDelta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldDelta;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field delta array [id, mask, values...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FieldDelta, A::Error> {
                let id: u32 = next(&mut seq, "delta id")?;
                let mask: u8 = next(&mut seq, "delta mask")?;
                let mut fields = [0; MAX_FIELDS];
                for field in mask_fields(mask.into()) {
                    fields[field] = next(&mut seq, "delta field")?;
                }
                end(&mut seq, "field delta")?;
                Ok(FieldDelta { id, mask, fields })
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// Kind tags of events (the second element of an event array).
pub const EVENT_KILL: u8 = 1;
pub const EVENT_JOIN: u8 = 2;
pub const EVENT_LEAVE: u8 = 3;

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::Kill { tick, killer, victim } => (tick, EVENT_KILL, killer, victim).serialize(serializer),
            Event::Join { tick, player, name } => (tick, EVENT_JOIN, player, &**name).serialize(serializer),
            Event::Leave { tick, player } => (tick, EVENT_LEAVE, player).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Event;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an event array [tick, kind, ...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Event, A::Error> {
                let tick: u32 = next(&mut seq, "event tick")?;
                let kind: u8 = next(&mut seq, "event kind")?;
                let event = match kind {
                    EVENT_KILL => {
                        Event::Kill { tick, killer: next(&mut seq, "killer")?, victim: next(&mut seq, "victim")? }
                    }
                    EVENT_JOIN => Event::Join {
                        tick,
                        player: next(&mut seq, "player")?,
                        name: Arc::from(next::<String, _>(&mut seq, "name")?),
                    },
                    EVENT_LEAVE => Event::Leave { tick, player: next(&mut seq, "player")? },
                    other => return Err(de::Error::custom(format_args!("unknown event kind {other}"))),
                };
                end(&mut seq, "event")?;
                Ok(event)
            }
        }
        deserializer.deserialize_seq(V)
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ServerMessage::Welcome(w) => {
                let mut t = serializer.serialize_tuple(8)?;
                t.serialize_element(&server_tag::WELCOME)?;
                t.serialize_element(&w.version)?;
                t.serialize_element(&w.player_id)?;
                t.serialize_element(&w.tick_rate)?;
                t.serialize_element(&w.tick)?;
                t.serialize_element(&w.map)?;
                t.serialize_element(&w.rules)?;
                t.serialize_element(&(&w.room.id, &w.room.name, w.room.role as u8))?;
                t.end()
            }
            ServerMessage::Snapshot(s) => {
                let mut t = serializer.serialize_tuple(8)?;
                t.serialize_element(&server_tag::SNAPSHOT)?;
                t.serialize_element(&s.tick)?;
                t.serialize_element(&s.baseline)?;
                t.serialize_element(&s.last_input_seq)?;
                t.serialize_element(&s.created)?;
                t.serialize_element(&s.changed)?;
                t.serialize_element(&s.removed)?;
                t.serialize_element(&s.events)?;
                t.end()
            }
            ServerMessage::Pong { nonce } => (server_tag::PONG, nonce).serialize(serializer),
            ServerMessage::Close { code, reason } => (server_tag::CLOSE, code, reason).serialize(serializer),
            ServerMessage::Roster { tick, players } => {
                let players: Vec<(u32, &str, i32, i32)> =
                    players.iter().map(|p| (p.id, p.name.as_str(), p.score, p.hp)).collect();
                (server_tag::ROSTER, tick, players).serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServerMessage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a server message array starting with a type tag")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ServerMessage, A::Error> {
                let tag: u8 = next(&mut seq, "type tag")?;
                let message = match tag {
                    server_tag::WELCOME => ServerMessage::Welcome(Welcome {
                        version: next(&mut seq, "version")?,
                        player_id: next(&mut seq, "player id")?,
                        tick_rate: next(&mut seq, "tick rate")?,
                        tick: next(&mut seq, "tick")?,
                        map: next(&mut seq, "map")?,
                        rules: next(&mut seq, "rules")?,
                        room: {
                            let (id, name, role): (String, String, u8) = next(&mut seq, "room")?;
                            let role = match role {
                                0 => Role::Player,
                                1 => Role::Spectator,
                                other => return Err(de::Error::custom(format_args!("unknown role {other}"))),
                            };
                            RoomInfo { id, name, role }
                        },
                    }),
                    server_tag::SNAPSHOT => ServerMessage::Snapshot(Snapshot {
                        tick: next(&mut seq, "tick")?,
                        baseline: next(&mut seq, "baseline")?,
                        last_input_seq: next(&mut seq, "last input seq")?,
                        created: next(&mut seq, "created")?,
                        changed: next(&mut seq, "changed")?,
                        removed: next(&mut seq, "removed")?,
                        events: next(&mut seq, "events")?,
                    }),
                    server_tag::PONG => ServerMessage::Pong { nonce: next(&mut seq, "nonce")? },
                    server_tag::CLOSE => {
                        ServerMessage::Close { code: next(&mut seq, "code")?, reason: next(&mut seq, "reason")? }
                    }
                    server_tag::ROSTER => {
                        let tick = next(&mut seq, "tick")?;
                        let players: Vec<(u32, String, i32, i32)> = next(&mut seq, "players")?;
                        let players = players
                            .into_iter()
                            .map(|(id, name, score, hp)| RosterEntry { id, name, score, hp })
                            .collect();
                        ServerMessage::Roster { tick, players }
                    }
                    other => return Err(de::Error::custom(format_args!("unknown message type {other}"))),
                };
                end(&mut seq, "server message")?;
                Ok(message)
            }
        }
        deserializer.deserialize_seq(V)
    }
}

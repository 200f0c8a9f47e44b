//! The wire layout of every message: each `Serialize` impl writes a fixed-length tuple (a MessagePack array) with
//! the tag first, and each `Deserialize` reads exactly that, refusing missing and extra elements.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

use super::*;

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
            ClientMessage::Hello { version, name, join, auth } => {
                // `auth` is left out when absent (a 4-element hello); it can only follow a join.
                let len = 3 + usize::from(join.is_some()) + usize::from(join.is_some() && auth.is_some());
                let mut t = serializer.serialize_tuple(len)?;
                t.serialize_element(&client_tag::HELLO)?;
                t.serialize_element(version)?;
                t.serialize_element(name)?;
                if let Some(join) = join {
                    t.serialize_element(join)?;
                    if let Some(auth) = auth {
                        t.serialize_element(auth)?;
                    }
                }
                t.end()
            }
            ClientMessage::Input(input) => {
                let mut t = serializer.serialize_tuple(8)?;
                t.serialize_element(&client_tag::INPUT)?;
                t.serialize_element(&input.seq)?;
                t.serialize_element(&input.move_x)?;
                t.serialize_element(&input.move_y)?;
                t.serialize_element(&input.aim)?;
                t.serialize_element(&input.buttons)?;
                t.serialize_element(&input.ack_tick)?;
                t.serialize_element(&input.view_delay_ms)?;
                t.end()
            }
            ClientMessage::Ack { tick } => (client_tag::ACK, tick).serialize(serializer),
            ClientMessage::Ping { nonce } => (client_tag::PING, nonce).serialize(serializer),
            ClientMessage::View { follow, x, y } => (client_tag::VIEW, follow, x, y).serialize(serializer),
            ClientMessage::Chat { text } => (client_tag::CHAT, text).serialize(serializer),
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
            Join::Resume { token, last_tick } => (join_tag::RESUME, token, last_tick).serialize(serializer),
            Join::Seat { token } => (join_tag::SEAT, token).serialize(serializer),
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
                    join_tag::RESUME => Join::Resume {
                        token: next(&mut seq, "resume token")?,
                        last_tick: next(&mut seq, "resume last tick")?,
                    },
                    join_tag::SEAT => Join::Seat { token: next(&mut seq, "seat token")? },
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
                            return Ok(ClientMessage::Hello { version, name, join: None, auth: None });
                        }
                        let join = Some(next(&mut seq, "hello join")?);
                        let auth = seq.next_element::<Option<String>>()?.flatten();
                        ClientMessage::Hello { version, name, join, auth }
                    }
                    client_tag::INPUT => ClientMessage::Input(Input {
                        seq: next(&mut seq, "input seq")?,
                        move_x: next(&mut seq, "input move_x")?,
                        move_y: next(&mut seq, "input move_y")?,
                        aim: next(&mut seq, "input aim")?,
                        buttons: next(&mut seq, "input buttons")?,
                        ack_tick: next(&mut seq, "input ack_tick")?,
                        // Optional: a client that does not interpolate (or predates lag compensation) leaves it out.
                        view_delay_ms: seq.next_element()?.unwrap_or(0),
                    }),
                    client_tag::ACK => ClientMessage::Ack { tick: next(&mut seq, "ack tick")? },
                    client_tag::PING => ClientMessage::Ping { nonce: next(&mut seq, "ping nonce")? },
                    client_tag::VIEW => ClientMessage::View {
                        follow: next(&mut seq, "view follow")?,
                        x: next(&mut seq, "view x")?,
                        y: next(&mut seq, "view y")?,
                    },
                    client_tag::CHAT => ClientMessage::Chat { text: next(&mut seq, "chat text")? },
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

/// A snapshot's `changed` stream, written as a MessagePack bin.
struct ChangeBytes<'a>(&'a [u8]);

impl Serialize for ChangeBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// A snapshot's `changed` stream, read from a MessagePack bin.
struct ChangeBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ChangeBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChangeBuf;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the changed bit stream, a bin")
            }
            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<ChangeBuf, E> {
                Ok(ChangeBuf(bytes.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<ChangeBuf, E> {
                Ok(ChangeBuf(bytes))
            }
        }
        deserializer.deserialize_bytes(V)
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
                let mut t = serializer.serialize_tuple(9)?;
                t.serialize_element(&server_tag::WELCOME)?;
                t.serialize_element(&w.version)?;
                t.serialize_element(&w.player_id)?;
                t.serialize_element(&w.tick_rate)?;
                t.serialize_element(&w.tick)?;
                t.serialize_element(&w.map)?;
                t.serialize_element(&w.rules)?;
                t.serialize_element(&(&w.room.id, &w.room.name, w.room.role as u8))?;
                t.serialize_element(&w.session.as_ref().map(|s| (&s.resume_token, s.grace_ms, s.input_seq)))?;
                t.end()
            }
            ServerMessage::Snapshot(s) => {
                let mut t = serializer.serialize_tuple(10)?;
                t.serialize_element(&server_tag::SNAPSHOT)?;
                t.serialize_element(&s.tick)?;
                t.serialize_element(&s.baseline)?;
                t.serialize_element(&s.last_input_seq)?;
                t.serialize_element(&s.created)?;
                t.serialize_element(&ChangeBytes(&s.changed))?;
                t.serialize_element(&s.removed)?;
                t.serialize_element(&s.events)?;
                t.serialize_element(&s.hits)?;
                t.serialize_element(s.own.as_ref().map_or(&[][..], |own| &own[..]))?;
                t.end()
            }
            ServerMessage::Pong { nonce } => (server_tag::PONG, nonce).serialize(serializer),
            ServerMessage::Close { code, reason } => (server_tag::CLOSE, code, reason).serialize(serializer),
            ServerMessage::Roster { tick, players } => {
                let players: Vec<(u32, &str, i32, i32)> =
                    players.iter().map(|p| (p.id, p.name.as_str(), p.score, p.hp)).collect();
                (server_tag::ROSTER, tick, players).serialize(serializer)
            }
            ServerMessage::Chat { tick, from, name, text } => {
                (server_tag::CHAT, tick, from, name, text).serialize(serializer)
            }
            ServerMessage::Redirect { url, join } => (server_tag::REDIRECT, url, join).serialize(serializer),
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
                        session: {
                            let session: Option<(String, u32, u32)> = next(&mut seq, "session")?;
                            session.map(|(resume_token, grace_ms, input_seq)| SessionInfo {
                                resume_token,
                                grace_ms,
                                input_seq,
                            })
                        },
                    }),
                    server_tag::SNAPSHOT => ServerMessage::Snapshot(Snapshot {
                        tick: next(&mut seq, "tick")?,
                        baseline: next(&mut seq, "baseline")?,
                        last_input_seq: next(&mut seq, "last input seq")?,
                        created: next(&mut seq, "created")?,
                        changed: next::<ChangeBuf, _>(&mut seq, "changed")?.0,
                        removed: next(&mut seq, "removed")?,
                        events: next(&mut seq, "events")?,
                        hits: next(&mut seq, "hits")?,
                        own: match next::<Vec<i32>, _>(&mut seq, "own")?[..] {
                            [] => None,
                            [dvx, dvy] => Some([dvx, dvy]),
                            _ => return Err(de::Error::custom("own is [] or [dvx, dvy]")),
                        },
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
                    server_tag::CHAT => ServerMessage::Chat {
                        tick: next(&mut seq, "tick")?,
                        from: next(&mut seq, "from")?,
                        name: next(&mut seq, "name")?,
                        text: next(&mut seq, "text")?,
                    },
                    server_tag::REDIRECT => ServerMessage::Redirect {
                        url: next(&mut seq, "redirect url")?,
                        join: next(&mut seq, "redirect join")?,
                    },
                    other => return Err(de::Error::custom(format_args!("unknown message type {other}"))),
                };
                end(&mut seq, "server message")?;
                Ok(message)
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// A hit confirmation is the pair `[tick, victim]`.
impl Serialize for Hit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.tick, self.victim).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Hit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (tick, victim) = <(u32, u32)>::deserialize(deserializer)?;
        Ok(Hit { tick, victim })
    }
}

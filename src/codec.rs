//! Bytes to messages and back: size limits, strict decoding and the validation of everything a client sends.
//!
//! Decoding untrusted bytes is the first line of defence: the size is checked before a single byte is parsed, the
//! decoder borrows from the frame (a declared length larger than the frame fails instead of allocating), trailing
//! bytes are refused, and every value is range-checked. Each failure carries the WebSocket close code it earns.

use serde::de::DeserializeOwned;
use thiserror::Error;

use std::sync::Arc;

use crate::msgpack::{ReadError, Reader};
use crate::protocol::{
    server_tag, ClientMessage, EntityKind, EntityState, Event, Hit, ServerMessage, Snapshot, BUTTON_FIRE, EVENT_JOIN,
    EVENT_KILL, EVENT_LEAVE, MAX_FIELDS,
};

/// Deepest nesting of arrays a message may have.
const MAX_NESTING: usize = 8;

/// Longest player name, in characters.
pub const MAX_NAME_CHARS: usize = 16;

/// WebSocket close codes the server uses (RFC 6455 section 7.4 plus one application code).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
    pub const TRY_AGAIN_LATER: u16 = 1013;
    pub const VERSION_MISMATCH: u16 = 4000;
    pub const ROOM_NOT_FOUND: u16 = 4001;
    pub const ROOM_FULL: u16 = 4002;
    pub const NO_SPECTATOR_SLOT: u16 = 4003;
    pub const ROOM_LIMIT: u16 = 4004;
    pub const BAD_ROOM_OPTIONS: u16 = 4005;
    pub const CREATION_QUOTA: u16 = 4006;
    pub const RESUME_REFUSED: u16 = 4007;
    pub const SESSION_TAKEN_OVER: u16 = 4008;
    pub const AUTH_REQUIRED: u16 = 4010;
    pub const AUTH_INVALID: u16 = 4011;
    pub const AUTH_EXPIRED: u16 = 4012;
    pub const AUTH_FORBIDDEN: u16 = 4013;
    /// The room is on another server process; the redirect message before the close says where (4014).
    pub const REDIRECTED: u16 = 4014;
    /// A seat token the server cannot take: forged, expired, for another process, or already used (4015).
    pub const SEAT_REFUSED: u16 = 4015;
    /// Sent by a client closing on purpose that wants its seat held for a resume.
    pub const KEEP_SEAT: u16 = 4100;
}

/// Why a message could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    #[error("invalid value: {0}")]
    Invalid(String),
}

impl DecodeError {
    /// The close code a connection that sent this gets.
    pub fn close_code(&self) -> u16 {
        match self {
            DecodeError::TooLarge { .. } => close_code::MESSAGE_TOO_BIG,
            DecodeError::Malformed(_) | DecodeError::TrailingBytes(_) | DecodeError::Invalid(_) => {
                close_code::INVALID_PAYLOAD
            }
        }
    }
}

/// Decodes exactly one value filling `bytes`. The reader copies strings through a buffer that grows only as bytes
/// actually arrive, so a huge declared length in a small frame fails without allocating.
fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut rest = bytes;
    let mut deserializer = rmp_serde::Deserializer::new(&mut rest);
    // No message nests deeper than 4 (welcome > map > walls > wall); rmp-serde's default of 1024 nested arrays
    // would overflow a thread's stack in a debug build before it is reached (found by tests/fuzz_decoders.rs).
    deserializer.set_max_depth(MAX_NESTING);
    let value = T::deserialize(&mut deserializer).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    match rest.len() {
        0 => Ok(value),
        extra => Err(DecodeError::TrailingBytes(extra)),
    }
}

/// Decodes and validates one client message of at most `limit` bytes.
pub fn decode_client(bytes: &[u8], limit: usize) -> Result<ClientMessage, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge { size: bytes.len(), limit });
    }
    let message: ClientMessage = decode_exact(bytes)?;
    validate_client(&message)?;
    Ok(message)
}

fn validate_client(message: &ClientMessage) -> Result<(), DecodeError> {
    match message {
        // Another version's hello is refused for its version (4000), whatever its name.
        ClientMessage::Hello { version, .. } if *version != crate::protocol::PROTOCOL_VERSION => Ok(()),
        // A resume keeps the seat's name and a signed token carries its own: then the hello's name may be empty.
        ClientMessage::Hello { name, join, auth, .. } => {
            let name_optional = auth.is_some() || matches!(join, Some(crate::protocol::Join::Resume { .. }));
            match name_optional && name.trim().is_empty() {
                true => Ok(()),
                false => validate_name(name),
            }
        }
        ClientMessage::Chat { text } => validate_chat(text),
        ClientMessage::Input(input) => {
            if input.move_x == i8::MIN || input.move_y == i8::MIN {
                return Err(DecodeError::Invalid("movement axis out of range -127..127".into()));
            }
            if input.buttons & !BUTTON_FIRE != 0 {
                return Err(DecodeError::Invalid(format!("unknown button bits {:#04x}", input.buttons)));
            }
            if input.seq == 0 {
                return Err(DecodeError::Invalid("input sequence numbers start at 1".into()));
            }
            if input.view_delay_ms > crate::protocol::MAX_VIEW_DELAY_MS {
                return Err(DecodeError::Invalid(format!("view delay over {} ms", crate::protocol::MAX_VIEW_DELAY_MS)));
            }
            Ok(())
        }
        ClientMessage::Ack { .. } | ClientMessage::Ping { .. } | ClientMessage::View { .. } => Ok(()),
    }
}

/// Longest chat line, in characters, once trimmed.
pub const MAX_CHAT_CHARS: usize = 120;

/// A chat line is 1 to 120 characters once trimmed, with no control characters (so never more than one line).
pub fn validate_chat(text: &str) -> Result<(), DecodeError> {
    let trimmed = text.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(DecodeError::Invalid("chat line is empty".into()));
    }
    if chars > MAX_CHAT_CHARS {
        return Err(DecodeError::Invalid(format!("chat line over {MAX_CHAT_CHARS} characters ({chars})")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(DecodeError::Invalid("chat line holds a control character".into()));
    }
    Ok(())
}

/// A name is 1 to 16 characters once trimmed, with no control characters.
pub fn validate_name(name: &str) -> Result<(), DecodeError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(DecodeError::Invalid(format!("name must be 1 to {MAX_NAME_CHARS} characters, got {chars}")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(DecodeError::Invalid("name contains control characters".into()));
    }
    Ok(())
}

/// Decodes a server message (the client side: bots, tests). Server frames are trusted only as far as their shape.
///
/// Anything that opens like a snapshot takes the lean, exact path of `decode_snapshot_into` and only that: the
/// general serde decoder is more lenient with a snapshot's binary parts (rmp-serde hands a non-UTF-8 str to the
/// same visitor as a bin, and reads a bin where a sequence is wanted), which protocol v6 refuses.
pub fn decode_server(bytes: &[u8]) -> Result<ServerMessage, DecodeError> {
    if is_snapshot(bytes) {
        let mut snapshot = Snapshot::default();
        return decode_snapshot_into(bytes, &mut snapshot).map(|()| ServerMessage::Snapshot(snapshot));
    }
    decode_server_general(bytes)
}

/// The general serde decoder for server messages, without the snapshot fast path (the reference in tests).
pub fn decode_server_general(bytes: &[u8]) -> Result<ServerMessage, DecodeError> {
    decode_exact(bytes)
}

/// Whether `bytes` opens like a snapshot message: a 10-element array whose tag is `SNAPSHOT`.
pub fn is_snapshot(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x9a, server_tag::SNAPSHOT])
}

/// Decodes a snapshot message into `snapshot`, reusing its vectors' capacity, so a client decoding 30 snapshots a
/// second allocates only for the names of newly created players and events. On error `snapshot` holds a partial
/// decode and must not be applied.
pub fn decode_snapshot_into(bytes: &[u8], snapshot: &mut Snapshot) -> Result<(), DecodeError> {
    let mut reader = Reader::new(bytes);
    read_snapshot(&mut reader, snapshot)?;
    match reader.remaining() {
        0 => Ok(()),
        extra => Err(DecodeError::TrailingBytes(extra)),
    }
}

/// A snapshot's head alone: `(tick, baseline, last_input_seq)`, the rest of the message unread.
pub fn snapshot_head(bytes: &[u8]) -> Result<(u32, u32, u32), DecodeError> {
    Ok(read_head(&mut Reader::new(bytes))?)
}

/// The array header, the tag and the three header integers of a snapshot.
fn read_head(reader: &mut Reader) -> Result<(u32, u32, u32), ReadError> {
    reader.array_of(10, "a snapshot has 10 elements")?;
    if reader.int::<u8>()? != server_tag::SNAPSHOT {
        return Err(ReadError::Shape("not a snapshot"));
    }
    Ok((reader.int()?, reader.int()?, reader.int()?))
}

fn read_snapshot(reader: &mut Reader, snapshot: &mut Snapshot) -> Result<(), ReadError> {
    (snapshot.tick, snapshot.baseline, snapshot.last_input_seq) = read_head(reader)?;

    snapshot.created.clear();
    for _ in 0..reader.array_len()? {
        snapshot.created.push(read_entity(reader)?);
    }
    snapshot.changed.clear();
    snapshot.changed.extend_from_slice(reader.bin()?);
    snapshot.removed.clear();
    for _ in 0..reader.array_len()? {
        snapshot.removed.push(reader.int()?);
    }
    snapshot.events.clear();
    for _ in 0..reader.array_len()? {
        snapshot.events.push(read_event(reader)?);
    }
    snapshot.hits.clear();
    for _ in 0..reader.array_len()? {
        if reader.array_len()? != 2 {
            return Err(ReadError::Shape("a hit is [tick, victim]"));
        }
        snapshot.hits.push(Hit { tick: reader.int()?, victim: reader.int()? });
    }
    snapshot.own = match reader.array_len()? {
        0 => None,
        2 => Some([reader.int()?, reader.int()?]),
        _ => return Err(ReadError::Shape("own is [] or [dvx, dvy]")),
    };
    Ok(())
}

fn read_entity(reader: &mut Reader) -> Result<EntityState, ReadError> {
    let len = reader.array_len()?;
    let id = reader.int()?;
    let kind = EntityKind::from_tag(reader.int()?).ok_or(ReadError::Shape("unknown entity kind"))?;
    let has_name = kind == EntityKind::Player;
    if len != 2 + kind.field_count() + usize::from(has_name) {
        return Err(ReadError::Shape("an entity's length does not match its kind"));
    }
    let mut fields = [0; MAX_FIELDS];
    for field in &mut fields[..kind.field_count()] {
        *field = reader.int()?;
    }
    let name = if has_name { Some(Arc::from(reader.str()?)) } else { None };
    Ok(EntityState { id, kind, fields, name })
}

fn read_event(reader: &mut Reader) -> Result<Event, ReadError> {
    let len = reader.array_len()?;
    let tick = reader.int()?;
    let (event, expected_len) = match reader.int::<u8>()? {
        EVENT_KILL => (Event::Kill { tick, killer: reader.int()?, victim: reader.int()? }, 4),
        EVENT_JOIN => (Event::Join { tick, player: reader.int()?, name: Arc::from(reader.str()?) }, 4),
        EVENT_LEAVE => (Event::Leave { tick, player: reader.int()? }, 3),
        _ => return Err(ReadError::Shape("unknown event kind")),
    };
    match len == expected_len {
        true => Ok(event),
        false => Err(ReadError::Shape("an event's length does not match its kind")),
    }
}

/// Encodes a client message.
pub fn encode_client(message: &ClientMessage) -> Vec<u8> {
    encode(message)
}

/// Encodes a server message in one piece (snapshots on the hot path use `encode_snapshot_header` instead).
pub fn encode_server(message: &ServerMessage) -> Vec<u8> {
    encode(message)
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    // Writing to a Vec cannot fail and every message type serializes unconditionally.
    value.serialize(&mut rmp_serde::Serializer::new(&mut buf)).expect("serializing to a Vec cannot fail");
    buf
}

/// Appends `value` to `buf` as one MessagePack value (used to build a snapshot body once for many clients).
pub fn append<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    value.serialize(&mut rmp_serde::Serializer::new(buf)).expect("serializing to a Vec cannot fail");
}

/// Writes the per-client head of a snapshot message: the array header, the tag and the three header integers.
/// The shared body (`created, changed, removed, events`, four values) and the client's own `hits` follow it;
/// together they are byte for byte what serializing a whole `ServerMessage::Snapshot` gives (a unit test holds this).
pub fn encode_snapshot_header(buf: &mut Vec<u8>, tick: u32, baseline: u32, last_input_seq: u32) {
    use rmp::encode::{write_array_len, write_uint};
    // Writing to a Vec cannot fail.
    let _ = write_array_len(buf, 10);
    for value in [crate::protocol::server_tag::SNAPSHOT as u32, tick, baseline, last_input_seq] {
        let _ = write_uint(buf, u64::from(value));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::protocol::*;

    fn player(id: u32, x: i32) -> EntityState {
        EntityState {
            id,
            kind: EntityKind::Player,
            fields: [x, 2, -3, 4, 65535, 100, 7, 0, 0],
            name: Some(Arc::from("ana")),
        }
    }

    #[test]
    fn client_messages_round_trip() {
        let messages = [
            ClientMessage::hello("ana"),
            ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: "bo".into(),
                join: Some(Join::QuickPlay { map: Some("duel".into()) }),
                auth: None,
            },
            ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: "cy".into(),
                join: Some(Join::Room { id: "abcdefgh2345".into() }),
                auth: None,
            },
            ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: "di".into(),
                join: Some(Join::Create(RoomOptions {
                    name: Some("night".into()),
                    map: None,
                    max_players: Some(8),
                    tick_rate: None,
                    view_radius: None,
                    private: None,
                })),
                auth: None,
            },
            ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: "ed".into(),
                join: Some(Join::Create(RoomOptions {
                    name: Some("全部".into()),
                    map: Some("4000x4000".into()),
                    max_players: Some(1000),
                    tick_rate: Some(120),
                    view_radius: Some(750.5),
                    private: Some(true),
                })),
                auth: None,
            },
            ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: "fa".into(),
                join: Some(Join::Spectate { room: None }),
                auth: None,
            },
            ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: "gu".into(),
                join: Some(Join::Spectate { room: Some("abcdefgh2345".into()) }),
                auth: None,
            },
            ClientMessage::Input(Input {
                seq: 70000,
                move_x: -127,
                move_y: 127,
                aim: 40000,
                buttons: 1,
                ack_tick: 9,
                view_delay_ms: 1000,
            }),
            ClientMessage::Ack { tick: 123456 },
            ClientMessage::Ping { nonce: u32::MAX },
            ClientMessage::View { follow: 7, x: -5, y: 20000 },
        ];
        for message in messages {
            let bytes = encode_client(&message);
            assert_eq!(decode_client(&bytes, 128).unwrap(), message);
        }
    }

    #[test]
    fn client_messages_are_compact_arrays_with_integer_tags() {
        let hello = encode_client(&ClientMessage::Hello { version: 1, name: "ab".into(), join: None, auth: None });
        assert_eq!(hello, [0x93, 0x01, 0x01, 0xa2, b'a', b'b']);
        // Another version's hello decodes whatever follows its name, so that it can be refused for its version.
        assert_eq!(
            decode_client(&[0x94, 0x01, 0x02, 0xa2, b'a', b'b', 0xc0], 128).unwrap(),
            ClientMessage::Hello { version: 2, name: "ab".into(), join: None, auth: None }
        );
        // ... even an empty name, which this version would refuse (1007).
        assert_eq!(
            decode_client(&[0x93, 0x01, 0x02, 0xa0], 128).unwrap(),
            ClientMessage::Hello { version: 2, name: String::new(), join: None, auth: None }
        );
        assert!(decode_client(&[0x94, 0x01, 0x07, 0xa0, 0x91, 0x01], 128).is_err());
        let hello = encode_client(&ClientMessage::hello("ab"));
        assert_eq!(hello, [0x94, 0x01, 0x07, 0xa2, b'a', b'b', 0x91, 0x01]);
        // Room options leave out what follows the last one given.
        let create = Join::Create(RoomOptions { max_players: Some(8), ..RoomOptions::default() });
        let hello =
            encode_client(&ClientMessage::Hello { version: 3, name: "ab".into(), join: Some(create), auth: None });
        assert_eq!(hello, [0x94, 0x01, 0x03, 0xa2, b'a', b'b', 0x92, 0x03, 0x93, 0xc0, 0xc0, 0x08]);
        let input = encode_client(&ClientMessage::Input(Input {
            seq: 1,
            move_x: -1,
            move_y: 0,
            aim: 0,
            buttons: 1,
            ack_tick: 200,
            view_delay_ms: 50,
        }));
        assert_eq!(input, [0x98, 0x02, 0x01, 0xff, 0x00, 0x00, 0x01, 0xcc, 200, 50]);
        // A typical mid-game input (seq and tick in the thousands, an arbitrary aim) takes 17 bytes.
        let typical = encode_client(&ClientMessage::Input(Input {
            seq: 5000,
            move_x: 90,
            move_y: -90,
            aim: 41234,
            buttons: 1,
            ack_tick: 90000,
            view_delay_ms: 83,
        }));
        assert_eq!(typical.len(), 18);
    }

    #[test]
    fn server_messages_round_trip() {
        let snapshot = Snapshot {
            tick: 500,
            baseline: 498,
            last_input_seq: 77,
            created: vec![
                player(3, 160),
                EntityState { id: 65536, kind: EntityKind::Bullet, fields: [1, 2, 3, 4, 3, 499, 0, 0, 0], name: None },
            ],
            changed: vec![0b0000_0101, 0xff, 0],
            removed: vec![5, 65537],
            hits: vec![Hit { tick: 499, victim: 4 }, Hit { tick: 500, victim: 9 }],
            own: Some([-3, 14]),
            events: vec![
                Event::Kill { tick: 499, killer: 3, victim: 4 },
                Event::Join { tick: 500, player: 6, name: Arc::from("bo") },
                Event::Leave { tick: 500, player: 5 },
            ],
        };
        let messages = [
            ServerMessage::Snapshot(snapshot),
            ServerMessage::Pong { nonce: 5 },
            ServerMessage::Close { code: 4000, reason: "protocol version mismatch".into() },
            ServerMessage::Welcome(Welcome {
                version: 1,
                player_id: 3,
                tick_rate: 30,
                tick: 10,
                map: MapInfo {
                    name: "t".into(),
                    width: 100,
                    height: 80,
                    walls: vec![[1, 2, 3, 4]],
                    spawns: vec![[50, 40]],
                },
                rules: RulesInfo {
                    player_radius: 16.0,
                    accel: 2400.0,
                    friction: 8.0,
                    max_speed: 260.0,
                    bullet_radius: 4.0,
                    bullet_speed: 900.0,
                    bullet_lifetime_ticks: 36,
                    fire_interval_ticks: 5,
                    max_hp: 100,
                    respawn_ticks: 90,
                    max_rewind_ticks: 6,
                },
                room: RoomInfo { id: "abcdefgh2345".into(), name: "arena 1".into(), role: Role::Spectator },
                session: None,
            }),
        ];
        for message in messages {
            let bytes = encode_server(&message);
            assert_eq!(decode_server(&bytes).unwrap(), message);
        }
    }

    #[test]
    fn snapshot_header_plus_body_equals_the_whole_message() {
        let snapshot = Snapshot {
            tick: 70000,
            baseline: 69998,
            last_input_seq: 300,
            created: vec![player(1, 5)],
            changed: vec![1, 2],
            removed: vec![2],
            events: vec![],
            hits: vec![Hit { tick: 69999, victim: 2 }],
            own: None,
        };
        let mut pieces = Vec::new();
        encode_snapshot_header(&mut pieces, snapshot.tick, snapshot.baseline, snapshot.last_input_seq);
        append(&mut pieces, &snapshot.created);
        pieces.extend([0xc4, 2, 1, 2]);
        append(&mut pieces, &snapshot.removed);
        append(&mut pieces, &snapshot.events);
        append(&mut pieces, &snapshot.hits);
        pieces.push(0x90);
        assert_eq!(pieces, encode_server(&ServerMessage::Snapshot(snapshot)));
    }

    #[test]
    fn oversized_messages_are_refused_before_decoding() {
        let bytes = vec![0x91; 200];
        let error = decode_client(&bytes, 128).unwrap_err();
        assert_eq!(error, DecodeError::TooLarge { size: 200, limit: 128 });
        assert_eq!(error.close_code(), close_code::MESSAGE_TOO_BIG);
    }

    #[test]
    fn malformed_and_invalid_messages_get_1007_with_a_reason() {
        let cases: [(&[u8], &str); 8] = [
            (&[0xc1], "malformed"),                                           // a byte MessagePack never uses
            (&[0x92, 0x09, 0x00], "unknown message type 9"),                  // unknown tag
            (&[0x92, 0x02, 0x01], "missing"),                                 // input with too few fields
            (&[0x93, 0x04, 0x01, 0x02], "too many elements"),                 // ping with an extra field
            (&[0x92, 0x04, 0x01, 0x00], "trailing"),                          // a second value after the message
            (&[0x97, 0x02, 0x01, 0xd0, 0x80, 0, 0, 0, 0], "movement"),        // move_x = -128
            (&[0x97, 0x02, 0x01, 0, 0, 0, 0x02, 0], "button"),                // unknown button bit
            (&[0x93, 0x01, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff], "malformed"), // a 4 GiB string in 8 bytes
        ];
        for (bytes, needle) in cases {
            let error = decode_client(bytes, 128).unwrap_err();
            assert_eq!(error.close_code(), close_code::INVALID_PAYLOAD, "{bytes:?}");
            assert!(error.to_string().to_lowercase().contains(needle), "{bytes:?}: {error}");
        }
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name(" ana ").is_ok());
        assert!(validate_name("sixteen chars ok").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("   ").is_err());
        assert!(validate_name("seventeen chars!!").is_err());
        assert!(validate_name("a\u{7}b").is_err());
    }
}

//! The bytes of a recording (`.skrec`) and of a frame log: the types, their MessagePack encoding and a strict
//! decoder. docs/RECORDING.md describes the same layout for anyone writing a reader in another language.
//!
//! A file is a sequence of MessagePack values with nothing in between: first a header (a map with named fields,
//! so a reader can check what it holds and later versions can add fields), then frames, each an array whose first
//! element is a small integer tag. Frames are positional arrays rather than maps: a recording holds one per tick for
//! hours, and field names in every frame would double its size.

use std::io;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::protocol::{EntityKind, Input, MapInfo, BUTTON_FIRE};
use crate::sim::{Map, PlayerInput, Rules, REWIND_STEPS};
use crate::snapshot::WorldSnapshot;

/// The header's `format` of a match recording.
pub const RECORDING_FORMAT: &str = "skirmish-recording";
/// The header's `format` of one connection's frame log.
pub const FRAME_LOG_FORMAT: &str = "skirmish-frames";
/// The layout version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 2;

/// Tags of frames (the first element of each frame array).
pub mod frame_tag {
    /// The file ends here, and why.
    pub const END: u8 = 0;
    /// One tick of a recording.
    pub const TICK: u8 = 1;
    /// One WebSocket frame of a frame log.
    pub const WIRE: u8 = 2;
}

/// Tags of the operations in a tick frame.
pub mod op_tag {
    pub const JOIN: u8 = 1;
    pub const LEAVE: u8 = 2;
    pub const INPUT: u8 = 3;
    pub const FLAG: u8 = 4;
}

/// The first value of a recording: everything needed to build the room's world again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`RECORDING_FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written.
    pub version: u32,
    /// The server that wrote it, e.g. "skirmish 0.1.0".
    pub server: String,
    pub room: RoomRecord,
    /// When the room opened, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    pub tick_rate: u32,
    /// The world's seed.
    pub seed: u64,
    /// The map itself, not a name: a recording must replay even where that map no longer exists.
    pub map: MapInfo,
    /// The rules the world was built with, every field as the room used it.
    pub rules: RulesRecord,
    /// A checksum is recorded at every tick that is a multiple of this.
    pub checksum_every: u32,
    /// Every this-many-th checksum also carries the full state of every entity (1: all of them).
    pub state_every: u32,
}

/// The room's settings besides those the world needs, for whoever reads the recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub id: String,
    pub name: String,
    /// The map as the lobby listed it (a bundled name, `WIDTHxHEIGHT` or a map file's name).
    pub map_label: String,
    pub max_players: u32,
    pub max_spectators: u32,
    pub view_radius: f32,
    pub private: bool,
    pub resume_grace_ms: u32,
}

/// [`Rules`], field for field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulesRecord {
    pub player_radius: f32,
    pub accel: f32,
    pub friction: f32,
    pub max_speed: f32,
    pub bullet_radius: f32,
    pub bullet_speed: f32,
    pub bullet_lifetime_ticks: u32,
    pub fire_interval_ticks: u32,
    pub max_hp: u8,
    pub bullet_damage: u8,
    pub respawn_ticks: u32,
    pub dt: f32,
    /// Lag compensation's furthest rewind (format version 2; a version 1 recording had none).
    #[serde(default)]
    pub max_rewind_ticks: u32,
}

impl From<&Rules> for RulesRecord {
    fn from(rules: &Rules) -> RulesRecord {
        RulesRecord {
            player_radius: rules.player_radius,
            accel: rules.accel,
            friction: rules.friction,
            max_speed: rules.max_speed,
            bullet_radius: rules.bullet_radius,
            bullet_speed: rules.bullet_speed,
            bullet_lifetime_ticks: rules.bullet_lifetime_ticks,
            fire_interval_ticks: rules.fire_interval_ticks,
            max_hp: rules.max_hp,
            bullet_damage: rules.bullet_damage,
            respawn_ticks: rules.respawn_ticks,
            dt: rules.dt,
            max_rewind_ticks: rules.max_rewind_ticks,
        }
    }
}

impl From<&RulesRecord> for Rules {
    fn from(rules: &RulesRecord) -> Rules {
        Rules {
            player_radius: rules.player_radius,
            accel: rules.accel,
            friction: rules.friction,
            max_speed: rules.max_speed,
            bullet_radius: rules.bullet_radius,
            bullet_speed: rules.bullet_speed,
            bullet_lifetime_ticks: rules.bullet_lifetime_ticks,
            fire_interval_ticks: rules.fire_interval_ticks,
            max_hp: rules.max_hp,
            bullet_damage: rules.bullet_damage,
            respawn_ticks: rules.respawn_ticks,
            dt: rules.dt,
            max_rewind_ticks: rules.max_rewind_ticks,
        }
    }
}

impl Header {
    /// The recorded map as the simulation takes it, checked as a map file would be.
    pub fn map(&self) -> Result<Map, FormatError> {
        let map = Map::from(&self.map);
        map.validate().map_err(|problem| FormatError::Header(format!("the recorded map is invalid: {problem}")))?;
        Ok(map)
    }

    /// The recorded rules; refuses values the simulation cannot run with.
    pub fn rules(&self) -> Result<Rules, FormatError> {
        let rules = Rules::from(&self.rules);
        let finite = [rules.player_radius, rules.accel, rules.friction, rules.max_speed, rules.bullet_radius]
            .into_iter()
            .chain([rules.bullet_speed, rules.dt])
            .all(f32::is_finite);
        if !finite || rules.dt <= 0.0 {
            return Err(FormatError::Header("the recorded rules are not finite".into()));
        }
        Ok(rules)
    }
}

/// The first value of a frame log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameLogHeader {
    /// [`FRAME_LOG_FORMAT`].
    pub format: String,
    pub version: u32,
    pub server: String,
    /// The peer's address, `ip:port`.
    pub peer: String,
    /// When the connection opened, in milliseconds since the Unix epoch; frames count microseconds from here.
    pub started_unix_ms: u64,
}

/// What a file starts with.
#[derive(Clone, Debug, PartialEq)]
pub enum FileHeader {
    /// Boxed: a recording's header holds the whole map.
    Recording(Box<Header>),
    FrameLog(FrameLogHeader),
}

/// One frame after the header.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Tick(TickFrame),
    Wire(WireFrame),
    End(EndFrame),
}

/// What the room did to its world in one tick, in the order it did it, before stepping it to `tick`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TickFrame {
    /// The tick the world reached when stepped after the operations.
    pub tick: u32,
    pub ops: Vec<Op>,
    /// At ticks that are a multiple of `checksum_every`.
    pub check: Option<Check>,
}

/// One call the room made into the world. Ids are wire ids (a player's slot + 1): at any moment they name one
/// player, and a join records the generation the world gave it, which the replay checks.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `add_player(name)` returned this id and generation.
    Join { id: u32, generation: u32, name: String },
    /// `remove_player` (a leave, or a held seat whose grace ran out).
    Leave { id: u32 },
    /// `set_input`, recorded only when it changed the input the world holds (a repeat of it changes nothing).
    Input { id: u32, input: WireInput },
    /// `set_disconnected`: the player's socket dropped (its seat held) or it resumed.
    Flag { id: u32, disconnected: bool },
}

/// An input as the room applies it: the wire's integers, from which the world's [`PlayerInput`] follows exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireInput {
    /// -127..=127 per axis.
    pub move_x: i8,
    pub move_y: i8,
    /// 65536 steps per turn.
    pub aim: u16,
    pub fire: bool,
    /// How far back this input's shots are resolved, in 1/64 ticks (lag compensation; 0: the present).
    pub rewind_q: u16,
}

impl WireInput {
    /// What the room gives the world for it; the replay goes through the same function.
    pub fn player_input(self) -> PlayerInput {
        PlayerInput {
            movement: glam::Vec2::new(f32::from(self.move_x), f32::from(self.move_y)) / 127.0,
            aim: self.aim,
            fire: self.fire,
            rewind: f32::from(self.rewind_q) / REWIND_STEPS,
        }
    }
}

impl From<&Input> for WireInput {
    fn from(input: &Input) -> WireInput {
        WireInput {
            move_x: input.move_x,
            move_y: input.move_y,
            aim: input.aim,
            fire: input.buttons & BUTTON_FIRE != 0,
            rewind_q: 0,
        }
    }
}

/// The world's state after a tick: its checksum, and every `state_every`-th time every entity's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// [`state_hash`] of the snapshot.
    pub hash: u64,
    /// Sorted by id, as in a snapshot.
    pub state: Option<Vec<EntityRecord>>,
}

/// One entity's fields as a snapshot carries them (players: 9, bullets: 6; see PROTOCOL.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityRecord {
    pub id: u32,
    pub kind: EntityKind,
    pub fields: Vec<i32>,
}

impl EntityRecord {
    /// Every entity of a snapshot.
    pub fn all(snapshot: &WorldSnapshot) -> Vec<EntityRecord> {
        snapshot
            .entities
            .iter()
            .map(|e| EntityRecord { id: e.id, kind: e.kind, fields: e.fields[..e.kind.field_count()].to_vec() })
            .collect()
    }
}

/// Why a file ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The room closed (it had been empty for its grace period).
    RoomClosed = 0,
    /// The server shut down.
    Shutdown = 1,
    /// The file reached its size bound; the room played on unrecorded.
    SizeLimit = 2,
    /// The writer fell behind (its queue was full): the frames after this were lost, so the file stops here.
    WriterBehind = 3,
    /// Written by the writer itself: the source stopped without ending the file (a room that panicked).
    Aborted = 4,
    /// The connection of a frame log closed.
    ConnectionClosed = 5,
}

impl EndReason {
    pub fn from_code(code: u8) -> Option<EndReason> {
        Some(match code {
            0 => EndReason::RoomClosed,
            1 => EndReason::Shutdown,
            2 => EndReason::SizeLimit,
            3 => EndReason::WriterBehind,
            4 => EndReason::Aborted,
            5 => EndReason::ConnectionClosed,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            EndReason::RoomClosed => "room closed",
            EndReason::Shutdown => "server shutdown",
            EndReason::SizeLimit => "size limit",
            EndReason::WriterBehind => "writer behind",
            EndReason::Aborted => "aborted",
            EndReason::ConnectionClosed => "connection closed",
        }
    }

    /// Whether frames are missing after this end (the room or the connection went on without the file).
    pub fn is_truncation(self) -> bool {
        matches!(self, EndReason::SizeLimit | EndReason::WriterBehind | EndReason::Aborted)
    }
}

/// The last frame of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndFrame {
    pub reason: EndReason,
    /// A sentence for humans (empty when there is nothing to add).
    pub detail: String,
}

/// Which way a logged WebSocket frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the server.
    In = 0,
    /// From the server to the client.
    Out = 1,
}

/// One WebSocket frame of a frame log, as it crossed the wire (a client's payload unmasked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    /// Microseconds since the header's `started_unix_ms`.
    pub micros: u64,
    pub direction: Direction,
    /// RFC 6455 opcode: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    pub opcode: u8,
    pub fin: bool,
    pub payload: Vec<u8>,
}

/// Hashes a snapshot's entities: FNV-1a (64 bit) over, for each entity in id order, its id (u32, little endian),
/// its kind (one byte: 0 player, 1 bullet) and its fields (players 9, bullets 6; each i32, little endian).
pub fn state_hash(snapshot: &WorldSnapshot) -> u64 {
    let mut hash = Fnv64::new();
    for entity in &snapshot.entities {
        hash.entity(entity.id, entity.kind, &entity.fields[..entity.kind.field_count()]);
    }
    hash.finish()
}

/// [`state_hash`] of recorded entities (equal to the snapshot's they were taken from).
pub fn records_hash(records: &[EntityRecord]) -> u64 {
    let mut hash = Fnv64::new();
    for record in records {
        hash.entity(record.id, record.kind, &record.fields);
    }
    hash.finish()
}

/// FNV-1a, 64 bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn entity(&mut self, id: u32, kind: EntityKind, fields: &[i32]) {
        self.bytes(&id.to_le_bytes());
        self.bytes(&[kind as u8]);
        for field in fields {
            self.bytes(&field.to_le_bytes());
        }
    }

    fn finish(self) -> u64 {
        self.0
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding.

/// Appends MessagePack values to a buffer. Writing to a `Vec` cannot fail, so the results are dropped.
struct Enc<'a>(&'a mut Vec<u8>);

impl Enc<'_> {
    fn array(&mut self, len: usize) {
        let _ = rmp::encode::write_array_len(self.0, len as u32);
    }

    fn uint(&mut self, value: u64) {
        let _ = rmp::encode::write_uint(self.0, value);
    }

    fn int(&mut self, value: i64) {
        let _ = rmp::encode::write_sint(self.0, value);
    }

    fn bool(&mut self, value: bool) {
        let _ = rmp::encode::write_bool(self.0, value);
    }

    fn str(&mut self, value: &str) {
        let _ = rmp::encode::write_str(self.0, value);
    }

    fn bin(&mut self, value: &[u8]) {
        let _ = rmp::encode::write_bin(self.0, value);
    }

    fn nil(&mut self) {
        let _ = rmp::encode::write_nil(self.0);
    }
}

/// Encodes a header (either kind) as a MessagePack map with named fields.
pub fn encode_header<T: Serialize>(header: &T) -> Vec<u8> {
    // Every header type serializes unconditionally, and writing to a Vec cannot fail.
    rmp_serde::to_vec_named(header).expect("a header always serializes")
}

impl Frame {
    /// Appends this frame's MessagePack encoding to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            Frame::Tick(tick) => tick.encode(buf),
            Frame::Wire(wire) => wire.encode(buf),
            Frame::End(end) => end.encode(buf),
        }
    }

    /// This frame's encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode(&mut buf);
        buf
    }
}

impl TickFrame {
    /// `[1, tick, [op...], check or nil]`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let mut e = Enc(buf);
        e.array(4);
        e.uint(u64::from(frame_tag::TICK));
        e.uint(u64::from(self.tick));
        e.array(self.ops.len());
        for op in &self.ops {
            op.encode(&mut e);
        }
        match &self.check {
            None => e.nil(),
            Some(check) => check.encode(&mut e),
        }
    }
}

impl Op {
    fn encode(&self, e: &mut Enc<'_>) {
        match self {
            Op::Join { id, generation, name } => {
                e.array(4);
                e.uint(u64::from(op_tag::JOIN));
                e.uint(u64::from(*id));
                e.uint(u64::from(*generation));
                e.str(name);
            }
            Op::Leave { id } => {
                e.array(2);
                e.uint(u64::from(op_tag::LEAVE));
                e.uint(u64::from(*id));
            }
            Op::Input { id, input } => {
                // The rewind only when there is one: most inputs have none, and then the op reads as version 1's.
                e.array(if input.rewind_q == 0 { 6 } else { 7 });
                e.uint(u64::from(op_tag::INPUT));
                e.uint(u64::from(*id));
                e.int(i64::from(input.move_x));
                e.int(i64::from(input.move_y));
                e.uint(u64::from(input.aim));
                e.bool(input.fire);
                if input.rewind_q != 0 {
                    e.uint(u64::from(input.rewind_q));
                }
            }
            Op::Flag { id, disconnected } => {
                e.array(3);
                e.uint(u64::from(op_tag::FLAG));
                e.uint(u64::from(*id));
                e.bool(*disconnected);
            }
        }
    }
}

impl Check {
    /// `[hash, state or nil]`, a state being `[[id, kind, field...], ...]`.
    fn encode(&self, e: &mut Enc<'_>) {
        e.array(2);
        e.uint(self.hash);
        match &self.state {
            None => e.nil(),
            Some(state) => {
                e.array(state.len());
                for entity in state {
                    e.array(2 + entity.fields.len());
                    e.uint(u64::from(entity.id));
                    e.uint(entity.kind as u64);
                    for &field in &entity.fields {
                        e.int(i64::from(field));
                    }
                }
            }
        }
    }
}

impl WireFrame {
    /// `[2, micros, direction, opcode, fin, payload (bin)]`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let mut e = Enc(buf);
        e.array(6);
        e.uint(u64::from(frame_tag::WIRE));
        e.uint(self.micros);
        e.uint(self.direction as u64);
        e.uint(u64::from(self.opcode));
        e.bool(self.fin);
        e.bin(&self.payload);
    }
}

impl EndFrame {
    /// `[0, reason, detail]`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let mut e = Enc(buf);
        e.array(3);
        e.uint(u64::from(frame_tag::END));
        e.uint(self.reason as u64);
        e.str(&self.detail);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding.

/// Why a file could not be read.
#[derive(Debug, Error)]
pub enum FormatError {
    #[error("not a skirmish recording or frame log: {0}")]
    NotOurs(String),
    #[error("format version {0} is newer than this build reads (version {FORMAT_VERSION})")]
    Version(u32),
    #[error("bad header: {0}")]
    Header(String),
    #[error("at byte {offset}: {what}")]
    Malformed { offset: usize, what: String },
    /// The bytes stop inside a frame: the writer was stopped mid-write (a crash, a full disk).
    #[error("at byte {offset}: the file ends inside a frame")]
    Incomplete { offset: usize },
}

/// Deepest nesting in a header (header > map > walls > wall).
const HEADER_DEPTH: usize = 8;

/// Reads a file's header; returns it and the bytes after it (the frames).
pub fn read_header(bytes: &[u8]) -> Result<(FileHeader, &[u8]), FormatError> {
    #[derive(Deserialize)]
    struct Probe {
        format: String,
        version: u32,
    }
    let mut rest = bytes;
    let mut deserializer = rmp_serde::Deserializer::new(&mut rest);
    deserializer.set_max_depth(HEADER_DEPTH);
    let value = serde_json::Value::deserialize(&mut deserializer)
        .map_err(|e| FormatError::NotOurs(format!("the first value is not a header ({e})")))?;
    let probe: Probe = serde_json::from_value(value.clone())
        .map_err(|e| FormatError::NotOurs(format!("the header has no format and version ({e})")))?;
    if probe.version > FORMAT_VERSION {
        return Err(FormatError::Version(probe.version));
    }
    let header = match probe.format.as_str() {
        RECORDING_FORMAT => {
            FileHeader::Recording(serde_json::from_value(value).map_err(|e| FormatError::Header(e.to_string()))?)
        }
        FRAME_LOG_FORMAT => {
            FileHeader::FrameLog(serde_json::from_value(value).map_err(|e| FormatError::Header(e.to_string()))?)
        }
        other => return Err(FormatError::NotOurs(format!("unknown format {other:?}"))),
    };
    Ok((header, rest))
}

/// Reads the frames after a header one at a time.
pub struct FrameReader<'a> {
    rest: &'a [u8],
    /// Offset of `rest` in the file, for error messages.
    offset: usize,
}

impl<'a> FrameReader<'a> {
    /// Frames in `rest`, which starts at byte `offset` of the file.
    pub fn new(rest: &'a [u8], offset: usize) -> FrameReader<'a> {
        FrameReader { rest, offset }
    }

    /// Offset in the file of the next frame.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The next frame; `None` at the end of the bytes.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FormatError>> {
        if self.rest.is_empty() {
            return None;
        }
        let mut dec = Dec { rest: self.rest, start: self.offset, len: self.rest.len() };
        let frame = dec.frame();
        if frame.is_ok() {
            self.offset += self.rest.len() - dec.rest.len();
            self.rest = dec.rest;
        } else {
            // Nothing after a broken frame can be trusted to start where a frame does.
            self.rest = &[];
        }
        Some(frame)
    }
}

impl Iterator for FrameReader<'_> {
    type Item = Result<Frame, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame()
    }
}

/// Reads a whole file into memory: its header and a reader over its frames.
pub fn open(bytes: &[u8]) -> Result<(FileHeader, FrameReader<'_>), FormatError> {
    let (header, rest) = read_header(bytes)?;
    let offset = bytes.len() - rest.len();
    Ok((header, FrameReader::new(rest, offset)))
}

/// A cursor over MessagePack values with errors that say where.
struct Dec<'a> {
    rest: &'a [u8],
    /// The file offset of the first byte this cursor was given, and how many bytes that was.
    start: usize,
    len: usize,
}

impl<'a> Dec<'a> {
    fn offset(&self) -> usize {
        self.start + self.len - self.rest.len()
    }

    fn malformed(&self, what: impl Into<String>) -> FormatError {
        FormatError::Malformed { offset: self.offset(), what: what.into() }
    }

    /// Maps rmp's error: running out of bytes means the file was cut, anything else that it is not ours.
    fn read_error<E: std::fmt::Display>(&self, eof: bool, error: E) -> FormatError {
        match eof {
            true => FormatError::Incomplete { offset: self.offset() },
            false => self.malformed(error.to_string()),
        }
    }

    fn value_error(&self, error: rmp::decode::ValueReadError<io::Error>) -> FormatError {
        use rmp::decode::ValueReadError::{InvalidDataRead, InvalidMarkerRead};
        let eof =
            matches!(&error, InvalidMarkerRead(e) | InvalidDataRead(e) if e.kind() == io::ErrorKind::UnexpectedEof);
        self.read_error(eof, error)
    }

    fn array(&mut self) -> Result<usize, FormatError> {
        let len = rmp::decode::read_array_len(&mut self.rest).map_err(|e| self.value_error(e))? as usize;
        // Every element takes a byte at least: a longer array cannot be in the file.
        if len > self.rest.len() {
            return Err(FormatError::Incomplete { offset: self.offset() });
        }
        Ok(len)
    }

    fn array_of(&mut self, expected: usize, what: &str) -> Result<(), FormatError> {
        let len = self.array()?;
        if len != expected {
            return Err(self.malformed(format!("{what} has {len} elements, expected {expected}")));
        }
        Ok(())
    }

    fn int<T: TryFrom<i64> + TryFrom<u64>>(&mut self, what: &str) -> Result<T, FormatError> {
        use rmp::decode::NumValueReadError::{InvalidDataRead, InvalidMarkerRead};
        let at = self.offset();
        // Read as the widest integer of its sign, then narrow: an out-of-range value is an error, not a wrap.
        let negative = matches!(self.rest.first(), Some(0xe0..=0xff | 0xd0..=0xd3));
        let value = if negative {
            rmp::decode::read_int::<i64, _>(&mut self.rest).map(T::try_from).map(Result::ok)
        } else {
            rmp::decode::read_int::<u64, _>(&mut self.rest).map(T::try_from).map(Result::ok)
        };
        match value {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(FormatError::Malformed { offset: at, what: format!("{what} out of range") }),
            Err(error) => {
                let eof = matches!(&error, InvalidMarkerRead(e) | InvalidDataRead(e) if e.kind() == io::ErrorKind::UnexpectedEof);
                Err(self.read_error(eof, format!("{what}: {error}")))
            }
        }
    }

    fn bool(&mut self) -> Result<bool, FormatError> {
        rmp::decode::read_bool(&mut self.rest).map_err(|e| self.value_error(e))
    }

    fn bytes_of(&mut self, len: usize) -> Result<&'a [u8], FormatError> {
        if len > self.rest.len() {
            return Err(FormatError::Incomplete { offset: self.offset() });
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    fn str(&mut self) -> Result<String, FormatError> {
        let len = rmp::decode::read_str_len(&mut self.rest).map_err(|e| self.value_error(e))? as usize;
        let at = self.offset();
        let bytes = self.bytes_of(len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| FormatError::Malformed { offset: at, what: "a string is not UTF-8".into() })
    }

    fn bin(&mut self) -> Result<Vec<u8>, FormatError> {
        let len = rmp::decode::read_bin_len(&mut self.rest).map_err(|e| self.value_error(e))? as usize;
        Ok(self.bytes_of(len)?.to_vec())
    }

    /// Consumes a nil if one is next.
    fn nil(&mut self) -> bool {
        match self.rest.first() {
            Some(0xc0) => {
                self.rest = &self.rest[1..];
                true
            }
            _ => false,
        }
    }

    fn frame(&mut self) -> Result<Frame, FormatError> {
        let len = self.array()?;
        if len == 0 {
            return Err(self.malformed("an empty frame"));
        }
        match self.int::<u8>("the frame tag")? {
            frame_tag::TICK if len == 4 => self.tick().map(Frame::Tick),
            frame_tag::WIRE if len == 6 => self.wire().map(Frame::Wire),
            frame_tag::END if len == 3 => self.end().map(Frame::End),
            tag @ (frame_tag::TICK | frame_tag::WIRE | frame_tag::END) => {
                Err(self.malformed(format!("frame of tag {tag} has {len} elements")))
            }
            tag => Err(self.malformed(format!("unknown frame tag {tag}"))),
        }
    }

    fn tick(&mut self) -> Result<TickFrame, FormatError> {
        let tick = self.int("the tick")?;
        let count = self.array()?;
        let mut ops = Vec::with_capacity(count);
        for _ in 0..count {
            ops.push(self.op()?);
        }
        let check = if self.nil() { None } else { Some(self.check()?) };
        Ok(TickFrame { tick, ops, check })
    }

    fn op(&mut self) -> Result<Op, FormatError> {
        let len = self.array()?;
        if len < 2 {
            return Err(self.malformed("an operation needs a tag and an id"));
        }
        let tag = self.int::<u8>("the operation tag")?;
        let expected = match tag {
            op_tag::JOIN => 4,
            op_tag::LEAVE => 2,
            op_tag::INPUT if len == 7 => 7,
            op_tag::INPUT => 6,
            op_tag::FLAG => 3,
            _ => return Err(self.malformed(format!("unknown operation tag {tag}"))),
        };
        if len != expected {
            return Err(self.malformed(format!("operation of tag {tag} has {len} elements, expected {expected}")));
        }
        let id = self.int("a player id")?;
        Ok(match tag {
            op_tag::JOIN => Op::Join { id, generation: self.int("a generation")?, name: self.str()? },
            op_tag::LEAVE => Op::Leave { id },
            op_tag::INPUT => Op::Input {
                id,
                input: WireInput {
                    move_x: self.int("move_x")?,
                    move_y: self.int("move_y")?,
                    aim: self.int("aim")?,
                    fire: self.bool()?,
                    rewind_q: if len == 7 { self.int("rewind")? } else { 0 },
                },
            },
            _ => Op::Flag { id, disconnected: self.bool()? },
        })
    }

    fn check(&mut self) -> Result<Check, FormatError> {
        self.array_of(2, "a checksum")?;
        let hash = self.int("the hash")?;
        if self.nil() {
            return Ok(Check { hash, state: None });
        }
        let count = self.array()?;
        let mut state = Vec::with_capacity(count);
        for _ in 0..count {
            let len = self.array()?;
            let id = self.int("an entity id")?;
            let kind = EntityKind::from_tag(self.int("an entity kind")?)
                .ok_or_else(|| self.malformed("unknown entity kind"))?;
            if len != 2 + kind.field_count() {
                return Err(self.malformed(format!("entity {id} has {} fields", len.saturating_sub(2))));
            }
            let fields = (0..kind.field_count()).map(|_| self.int("a field")).collect::<Result<_, _>>()?;
            state.push(EntityRecord { id, kind, fields });
        }
        Ok(Check { hash, state: Some(state) })
    }

    fn wire(&mut self) -> Result<WireFrame, FormatError> {
        let micros = self.int("the time")?;
        let direction = match self.int::<u8>("the direction")? {
            0 => Direction::In,
            1 => Direction::Out,
            other => return Err(self.malformed(format!("unknown direction {other}"))),
        };
        Ok(WireFrame { micros, direction, opcode: self.int("the opcode")?, fin: self.bool()?, payload: self.bin()? })
    }

    fn end(&mut self) -> Result<EndFrame, FormatError> {
        let code = self.int::<u8>("the end reason")?;
        let reason = EndReason::from_code(code).ok_or_else(|| self.malformed(format!("unknown end reason {code}")))?;
        Ok(EndFrame { reason, detail: self.str()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: Frame) {
        let bytes = frame.to_bytes();
        let mut reader = FrameReader::new(&bytes, 0);
        assert_eq!(reader.next_frame().expect("a frame").expect("decodes"), frame);
        assert!(reader.next_frame().is_none());
    }

    #[test]
    fn frames_round_trip() {
        round_trip(Frame::Tick(TickFrame::default()));
        round_trip(Frame::Tick(TickFrame {
            tick: 70_000,
            ops: vec![
                Op::Join { id: 3, generation: 9, name: "bob".into() },
                Op::Input { id: 3, input: WireInput { move_x: -127, move_y: 5, aim: 65535, fire: true, rewind_q: 0 } },
                Op::Input { id: 3, input: WireInput { move_x: 0, move_y: 0, aim: 1, fire: true, rewind_q: 321 } },
                Op::Flag { id: 3, disconnected: true },
                Op::Leave { id: 3 },
            ],
            check: Some(Check {
                hash: u64::MAX,
                state: Some(vec![
                    EntityRecord { id: 1, kind: EntityKind::Player, fields: vec![1, -2, 3, i32::MIN, 5, 6, 7, 8, 9] },
                    EntityRecord { id: 65536, kind: EntityKind::Bullet, fields: vec![i32::MAX, 0, 0, 0, 1, 2] },
                ]),
            }),
        }));
        round_trip(Frame::Tick(TickFrame { tick: 30, ops: vec![], check: Some(Check { hash: 7, state: None }) }));
        round_trip(Frame::Wire(WireFrame {
            micros: 123_456_789,
            direction: Direction::Out,
            opcode: 2,
            fin: true,
            payload: vec![0x93, 1, 2, 3],
        }));
        round_trip(Frame::End(EndFrame { reason: EndReason::SizeLimit, detail: "past 4096 bytes".into() }));
    }

    #[test]
    fn a_cut_frame_is_incomplete_and_garbage_is_malformed() {
        let bytes = Frame::Tick(TickFrame {
            tick: 5,
            ops: vec![Op::Join { id: 1, generation: 1, name: "somebody".into() }],
            check: None,
        })
        .to_bytes();
        for cut in 1..bytes.len() {
            let mut reader = FrameReader::new(&bytes[..cut], 100);
            match reader.next_frame() {
                Some(Err(FormatError::Incomplete { offset })) => assert!(offset >= 100),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        let mut reader = FrameReader::new(&[0x93, 9, 1, 2], 0);
        assert!(matches!(reader.next_frame(), Some(Err(FormatError::Malformed { .. }))));
        assert!(reader.next_frame().is_none(), "nothing is read after a broken frame");
        // An input's axis beyond i8 is refused, not wrapped.
        let mut bytes = Vec::new();
        let mut e = Enc(&mut bytes);
        e.array(4);
        e.uint(1);
        e.uint(1);
        e.array(1);
        e.array(6);
        e.uint(3);
        e.uint(1);
        e.int(200);
        e.int(0);
        e.uint(0);
        e.bool(false);
        e.nil();
        assert!(matches!(FrameReader::new(&bytes, 0).next_frame(), Some(Err(FormatError::Malformed { .. }))));
    }

    #[test]
    fn headers_are_named_maps_and_are_told_apart() {
        let header = FrameLogHeader {
            format: FRAME_LOG_FORMAT.into(),
            version: FORMAT_VERSION,
            server: "skirmish test".into(),
            peer: "127.0.0.1:5000".into(),
            started_unix_ms: 1_700_000_000_000,
        };
        let mut bytes = encode_header(&header);
        assert_eq!(bytes[0] & 0xf0, 0x80, "a map");
        let end = Frame::End(EndFrame { reason: EndReason::ConnectionClosed, detail: String::new() });
        end.encode(&mut bytes);
        let (read, mut frames) = open(&bytes).expect("opens");
        assert_eq!(read, FileHeader::FrameLog(header.clone()));
        assert_eq!(frames.next_frame().unwrap().unwrap(), end);
        let newer = FrameLogHeader { version: FORMAT_VERSION + 1, ..header.clone() };
        assert!(matches!(open(&encode_header(&newer)), Err(FormatError::Version(_))));
        let other = FrameLogHeader { format: "something else".into(), ..header };
        assert!(matches!(open(&encode_header(&other)), Err(FormatError::NotOurs(_))));
        assert!(matches!(open(b"\x93\x01\x02\x03"), Err(FormatError::NotOurs(_))));
        assert!(matches!(open(b""), Err(FormatError::NotOurs(_))));
    }

    #[test]
    fn fnv_1a_matches_its_reference_values() {
        let mut hash = Fnv64::new();
        hash.bytes(b"a");
        assert_eq!(hash.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut hash = Fnv64::new();
        hash.bytes(b"foobar");
        assert_eq!(hash.finish(), 0x8594_4171_f739_67e8);
    }
}

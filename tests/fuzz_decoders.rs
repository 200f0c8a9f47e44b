//! Property-based fuzzing of every decoder that reads bytes from the network, and of the client's replica that
//! consumes what they decode:
//!
//! - the server's `codec::decode_client`, on arbitrary bytes and on mutated valid client messages;
//! - the client's `codec::decode_server`, on arbitrary bytes, on mutated valid server messages and on snapshot
//!   frames whose `changed` element (a bin since protocol v6, with escapes in its columns since v7) and `own` element take any shape: on a frame that
//!   opens like a snapshot it is exactly the lean snapshot decoder (`codec::decode_snapshot_into`), which accepts
//!   nothing the general serde decoder refuses and nothing the v7 spec forbids;
//! - the client's `snapshot::Replica` (protocol v7: prediction, then the bit-packed residuals of `changed`), on
//!   inconsistent snapshot streams, checked against a plain model of the v7 rules for applying snapshots (PROTOCOL.md
//!   6.2 and 7), with `changed` streams built by the test's own bit writer, well-formed or corrupt in every way the
//!   rules name; and on consistent streams built by the server's own `SnapshotHistory`, `DeltaWriter` /
//!   `encode_delta`, event log and message layout, which it must rebuild exactly;
//! - the client's `client::parse_close`, on arbitrary close-frame payloads.
//!
//! A decoder that panics, aborts (a stack overflow) or answers outside its contract fails the property; proptest
//! then shrinks the input to a minimal one and prints it. The model reads the spec only, and the crate must match
//! it exactly. The v7 spec's worked example of a `changed` stream is checked first as a fixed case
//! (`changed_stream_worked_example`), through the test's own bit writer and reader and the crate's replica, and so
//! is each deviation from the spec this suite once found in the crate, now fixed (the `regression_*` tests: a
//! non-UTF-8 str as `changed`, a bin as `own` or `removed`, a predicted aim outside 0..255, a respawn countdown over
//! more than `i32::MAX` ticks, `wire_velocity` at the ends of `i32`).
//!
//! # Running
//!
//! Each property runs 256 cases by default, a few seconds in a debug build, so the suite runs in CI with the rest
//! of `cargo test`. A long campaign sets `PROPTEST_CASES` (proptest's other `PROPTEST_*` variables work too, for
//! example `PROPTEST_RNG_SEED` to repeat a run):
//!
//! ```text
//! PROPTEST_CASES=200000 cargo test --release --test fuzz_decoders -- --nocapture
//! ```
//!
//! With `--nocapture` each property prints how many cases passed, how many decoder calls they made and how those
//! ended. The seed of a failure is saved under `target/proptest-regressions/` (never in the source tree), and the
//! next run replays it first.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{FileFailurePersistence, TestCaseResult, TestRunner};
use skirmish::client::parse_close;
use skirmish::codec::{self, close_code, DecodeError, MAX_CHAT_CHARS, MAX_NAME_CHARS};
use skirmish::protocol::{
    player_field, ClientMessage, EntityKind, EntityState, Event, Hit, Input, Join, MapInfo, Role, RoomInfo,
    RoomOptions, RosterEntry, RulesInfo, ServerMessage, SessionInfo, Snapshot, Welcome, BUTTON_FIRE, MAX_FIELDS,
    PROTOCOL_VERSION,
};
use skirmish::sim::{GameEvent, PlayerId, TimedEvent};
use skirmish::snapshot::{
    encode_delta, wire_velocity, DeltaWriter, Entity, EventLog, Replica, ReplicaError, SnapshotHistory, View,
    WorldSnapshot,
};

/// The server's default limit on a client message (`--max-message-bytes`): 512 since v4, so that a chat line of
/// 120 four-byte characters (484 bytes framed) fits.
const LIMIT: usize = 512;

/// Cases per property when `PROPTEST_CASES` is not set: enough to catch a regression in CI within seconds.
const CI_CASES: u32 = 256;

/// The configuration of the property `name`: `PROPTEST_*` variables honoured, failures kept under `target/`.
fn config(name: &str) -> ProptestConfig {
    // `default()` already holds whatever `PROPTEST_*` variables are set; only the case count is ours to choose.
    let defaults = ProptestConfig::default();
    // One file per property, so a saved seed is replayed by the property that failed with it. (proptest wants a
    // `&'static str`: one small leak per property and run.)
    let regressions = format!("{}/target/proptest-regressions/fuzz_decoders/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { defaults.cases } else { CI_CASES },
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions.leak()))),
        // Shrinking a deep case can go on for long; this many steps always reach a readable input.
        max_shrink_iters: 20_000,
        ..defaults
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Running a property and counting what it did.

/// What one property did, printed when it passes (visible with `--nocapture`).
#[derive(Default)]
struct Tally {
    cases: Cell<u64>,
    decodes: Cell<u64>,
    decoded: Cell<u64>,
    refused_1007: Cell<u64>,
    refused_1009: Cell<u64>,
    applied: Cell<u64>,
    replica_errors: Cell<u64>,
    /// Property-specific outcomes (the close parser's kinds of payload).
    notes: std::cell::RefCell<Vec<(&'static str, u64)>>,
}

/// An outcome a property must have seen at least once over its run, so that a generator that stops producing
/// one side (only garbage, only valid messages) cannot turn the property into a no-op.
#[derive(Clone, Copy, Debug)]
enum Seen {
    Decoded,
    Refused1007,
    Refused1009,
    Applied,
    ReplicaRefused,
    Note(&'static str),
}

fn bump(cell: &Cell<u64>) {
    cell.set(cell.get() + 1);
}

impl Tally {
    fn decode<T>(&self, result: &Result<T, DecodeError>) {
        bump(&self.decodes);
        match result {
            Ok(_) => bump(&self.decoded),
            Err(error) if error.close_code() == close_code::MESSAGE_TOO_BIG => bump(&self.refused_1009),
            Err(_) => bump(&self.refused_1007),
        }
    }

    fn apply<T>(&self, result: &Result<T, ReplicaError>) {
        bump(if result.is_ok() { &self.applied } else { &self.replica_errors });
    }

    fn note(&self, what: &'static str) {
        let mut notes = self.notes.borrow_mut();
        match notes.iter_mut().find(|(name, _)| *name == what) {
            Some((_, count)) => *count += 1,
            None => notes.push((what, 1)),
        }
    }

    fn count(&self, seen: Seen) -> u64 {
        match seen {
            Seen::Decoded => self.decoded.get(),
            Seen::Refused1007 => self.refused_1007.get(),
            Seen::Refused1009 => self.refused_1009.get(),
            Seen::Applied => self.applied.get(),
            Seen::ReplicaRefused => self.replica_errors.get(),
            Seen::Note(what) => self.notes.borrow().iter().find(|(name, _)| *name == what).map_or(0, |(_, n)| *n),
        }
    }
}

/// Runs `test` on the configured number of cases drawn from `strategy`; panics with the shrunk failing input, or
/// when an outcome in `required` never happened.
fn check<S>(name: &str, strategy: S, required: &[Seen], test: impl Fn(S::Value, &Tally) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let tally = Tally::default();
    let started = Instant::now();
    let mut runner = TestRunner::new(config(name));
    let result = runner.run(&strategy, |value| {
        bump(&tally.cases);
        test(value, &tally)
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    let mut line = format!("fuzz {name}: {} cases passed in {:.2?}", tally.cases.get(), started.elapsed());
    if tally.decodes.get() > 0 {
        line += &format!(
            "; {} decoder calls: {} decoded, {} refused with 1007, {} refused with 1009",
            tally.decodes.get(),
            tally.decoded.get(),
            tally.refused_1007.get(),
            tally.refused_1009.get()
        );
    }
    if tally.applied.get() + tally.replica_errors.get() > 0 {
        line += &format!(
            "; {} snapshots applied, {} refused by the replica",
            tally.applied.get(),
            tally.replica_errors.get()
        );
    }
    for (what, count) in tally.notes.borrow().iter() {
        line += &format!("; {what}: {count}");
    }
    eprintln!("{line}");
    for &seen in required {
        assert!(tally.count(seen) > 0, "{name}: no case ended {seen:?} in {} cases ({line})", tally.cases.get());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Generators of values, with the edges of each range drawn far more often than chance would.

fn edge_u8() -> impl Strategy<Value = u8> + Clone {
    prop_oneof![2 => any::<u8>(), 1 => select(&[0u8, 1, 2, 3, 0x7f, 0x80, 0xfe, 0xff][..])]
}

fn edge_i8() -> impl Strategy<Value = i8> + Clone {
    prop_oneof![2 => any::<i8>(), 1 => select(&[i8::MIN, -127, -1, 0, 1, 126, 127][..])]
}

fn edge_u16() -> impl Strategy<Value = u16> + Clone {
    prop_oneof![2 => any::<u16>(), 1 => select(&[0u16, 1, 2, 127, 128, 255, 256, 1000, 0x7fff, 0xffff][..])]
}

fn edge_u32() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        2 => any::<u32>(),
        1 => 0u32..300,
        1 => select(&[0u32, 1, 127, 128, 255, 256, 65535, 65536, 0x7fff_ffff, 0x8000_0000, u32::MAX - 1, u32::MAX][..]),
    ]
}

fn edge_i32() -> impl Strategy<Value = i32> + Clone {
    prop_oneof![
        2 => any::<i32>(),
        1 => -300i32..300,
        1 => select(&[i32::MIN, i32::MIN + 1, -65536, -129, -128, -33, -32, -1, 0, 127, 128, 65535, i32::MAX][..]),
    ]
}

/// Any Unicode text, control characters included.
fn text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    vec(any::<char>(), len).prop_map(String::from_iter)
}

/// Whitespace that `str::trim` removes: ASCII, a control character that is whitespace (NEL), and Unicode spaces.
const WHITESPACE: [char; 9] = [' ', '\t', '\n', '\r', '\u{0b}', '\u{85}', '\u{a0}', '\u{2003}', '\u{3000}'];

/// Nothing but whitespace (the empty string included): an empty name or chat line once trimmed.
fn blank() -> impl Strategy<Value = String> {
    vec(select(&WHITESPACE[..]), 0..6).prop_map(String::from_iter)
}

/// `core` with up to 3 whitespace characters before and after it.
fn padded(core: impl Strategy<Value = Vec<char>>) -> impl Strategy<Value = String> {
    let padding = vec(select(&WHITESPACE[..]), 0..4);
    (padding.clone(), core, padding)
        .prop_map(|(before, core, after)| before.into_iter().chain(core).chain(after).collect::<String>())
}

/// Player names around every rule: arbitrary Unicode, plausible names near the 16-character limit, names padded
/// with (Unicode) whitespace and control characters, blank names (which a v4 hello may send with a join token or
/// a resume), and names far too long for a frame.
fn name() -> impl Strategy<Value = String> {
    let core =
        vec(prop_oneof![4 => any::<char>(), 1 => select(&['a', 'é', '字', '🦀', '\u{7}', '\u{feff}'][..])], 1..18);
    prop_oneof![
        2 => text(0..24),
        2 => "[a-zA-Z0-9_ .-]{0,20}",
        2 => padded(core),
        2 => blank(),
        1 => text(150..500),
    ]
}

/// Join tokens (JWT-shaped: three base64url parts), resume tokens (`<room id>.<24 base64url characters>`) and any
/// text: the codec carries them, the server judges them.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[a-z2-9]{12}\\.[A-Za-z0-9_-]{24}",
        2 => "[A-Za-z0-9_-]{16,36}\\.[A-Za-z0-9_-]{16,60}\\.[A-Za-z0-9_-]{43}",
        1 => text(0..40),
        1 => Just(String::new()),
    ]
}

/// Chat lines around every rule: arbitrary Unicode, plausible lines of any length up to the 120-character limit
/// and just past it (also in 4-byte characters, whose 120 only just fit the frame limit), padded with whitespace,
/// with a control character inside (a newline, a tab, NUL, DEL, C1 controls), blank lines, and lines far too long
/// for a frame.
fn chat_text() -> impl Strategy<Value = String> {
    let plain = || {
        prop_oneof![
            12 => prop::char::range('a', 'z'),
            3 => Just(' '),
            2 => select(&['.', ',', '!', '?', '0', '9', 'A', 'Z'][..]),
            2 => select(&['é', 'ß', '字', '🦀', '\u{feff}', '\u{200b}', '\u{a0}', '\u{3000}'][..]),
            1 => any::<char>(),
        ]
    };
    let control = select(&['\n', '\t', '\r', '\u{0}', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'][..]);
    let near_limit = MAX_CHAT_CHARS - 4..MAX_CHAT_CHARS + 4;
    let widest = prop_oneof![3 => Just(MAX_CHAT_CHARS), 1 => near_limit.clone()];
    prop_oneof![
        2 => text(0..30),
        3 => padded(vec(plain(), 1..=MAX_CHAT_CHARS)),
        2 => padded(vec(plain(), near_limit)),
        2 => padded(widest.prop_map(|len| vec!['🦀'; len])),
        2 => (padded(vec(plain(), 0..60)), any::<Index>(), control).prop_map(|(mut line, at, control)| {
            let boundaries: Vec<usize> = (0..=line.len()).filter(|&i| line.is_char_boundary(i)).collect();
            line.insert(*at.get(&boundaries), control);
            line
        }),
        2 => blank(),
        2 => vec(select(&['a', 'é', '字', '🦀'][..]), 130..400).prop_map(String::from_iter),
    ]
}

/// Bytes a mutation writes: any byte, or a MessagePack type marker more often than chance would pick one.
fn wire_byte() -> impl Strategy<Value = u8> {
    const MARKERS: [u8; 34] = [
        0x00, 0x01, 0x02, 0x04, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x92, 0x97, 0x9f, 0xa0, 0xa1, 0xbf, 0xc0, 0xc1,
        0xc2, 0xc3, 0xc4, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xff,
    ];
    prop_oneof![any::<u8>(), select(&MARKERS[..])]
}

/// Array headers that can open a message (fixarrays of 0 to 15 elements and an array16 prefix).
const ARRAY_HEADERS: [u8; 12] = [0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9f, 0xdc];

/// An array header and a type tag, then random bytes.
fn opened_like_a_message((header, tag, rest): (u8, u8, Vec<u8>)) -> Vec<u8> {
    [&[header, tag][..], &rest].concat()
}

/// One well-formed MessagePack scalar of any type (integer, float, nil, boolean, string, binary) in any of its
/// encodings, not only the shortest.
fn msgpack_scalar() -> impl Strategy<Value = Vec<u8>> + Clone {
    fn with(marker: u8, bytes: &[u8]) -> Vec<u8> {
        [&[marker][..], bytes].concat()
    }
    prop_oneof![
        8 => (0u8..0x80).prop_map(|v| vec![v]),
        1 => (0xe0u8..=0xff).prop_map(|v| vec![v]),
        2 => any::<u8>().prop_map(|v| with(0xcc, &[v])),
        2 => any::<u16>().prop_map(|v| with(0xcd, &v.to_be_bytes())),
        2 => any::<u32>().prop_map(|v| with(0xce, &v.to_be_bytes())),
        1 => any::<u64>().prop_map(|v| with(0xcf, &v.to_be_bytes())),
        1 => any::<i8>().prop_map(|v| with(0xd0, &v.to_be_bytes())),
        1 => any::<i16>().prop_map(|v| with(0xd1, &v.to_be_bytes())),
        1 => any::<i32>().prop_map(|v| with(0xd2, &v.to_be_bytes())),
        1 => any::<i64>().prop_map(|v| with(0xd3, &v.to_be_bytes())),
        1 => any::<f32>().prop_map(|v| with(0xca, &v.to_be_bytes())),
        1 => any::<f64>().prop_map(|v| with(0xcb, &v.to_be_bytes())),
        1 => select(&[0xc0u8, 0xc2, 0xc3][..]).prop_map(|v| vec![v]),
        2 => text(0..20).prop_map(|text| {
            let mut buf = Vec::new();
            rmp::encode::write_str(&mut buf, &text).expect("writing to a Vec");
            buf
        }),
        1 => vec(any::<u8>(), 0..20).prop_map(|bytes| {
            let mut buf = Vec::new();
            rmp::encode::write_bin(&mut buf, &bytes).expect("writing to a Vec");
            buf
        }),
    ]
}

/// One well-formed MessagePack value: mostly a scalar, sometimes arrays and maps of them nested a few levels deep.
/// The raw material of frames that are valid MessagePack but not necessarily valid messages.
fn msgpack_value() -> impl Strategy<Value = Vec<u8>> {
    let nested = msgpack_scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            3 => vec(inner.clone(), 0..6).prop_map(|items| {
                let mut buf = Vec::new();
                rmp::encode::write_array_len(&mut buf, items.len() as u32).expect("writing to a Vec");
                [buf, items.concat()].concat()
            }),
            1 => vec((inner.clone(), inner), 0..3).prop_map(|entries| {
                let mut buf = Vec::new();
                rmp::encode::write_map_len(&mut buf, entries.len() as u32).expect("writing to a Vec");
                for (key, value) in entries {
                    buf.extend(key);
                    buf.extend(value);
                }
                buf
            }),
        ]
    });
    prop_oneof![4 => msgpack_scalar(), 1 => nested]
}

/// An array whose first element is a plausible type tag, then well-formed values of any type: usually as many as
/// that message type has (in the client's or the server's numbering), and the array's declared length is usually
/// right and sometimes off by one.
fn msgpack_message() -> impl Strategy<Value = Vec<u8>> {
    // Values after the tag, by tag. Client: hello (version, name, join, auth), input (7), ack, ping, view (3),
    // chat (1). Server: welcome (8), snapshot (9 since v6: `own` is new), pong, close (2), roster (2), chat event
    // (4), redirect (2).
    const CLIENT_ARITY: &[usize] = &[0, 4, 7, 1, 1, 3, 1];
    const SERVER_ARITY: &[usize] = &[0, 8, 9, 1, 2, 2, 4, 2];
    let tag = prop_oneof![9 => 1u8..=7, 1 => Just(0u8), 1 => 8u8..=255];
    let arity = prop_oneof![3 => Just(Some(CLIENT_ARITY)), 2 => Just(Some(SERVER_ARITY)), 1 => Just(None)];
    let skew = prop_oneof![4 => Just(0i64), 1 => Just(-1i64), 1 => Just(1i64)];
    (tag, vec(msgpack_value(), 0..9), arity, skew).prop_map(|(tag, mut values, arity, skew)| {
        if let Some(arity) = arity {
            values.truncate(arity.get(usize::from(tag)).copied().unwrap_or(values.len()));
        }
        let mut buf = Vec::new();
        let len = (values.len() as i64 + 1 + skew).max(0) as u32;
        rmp::encode::write_array_len(&mut buf, len).expect("writing to a Vec");
        buf.push(tag);
        [buf, values.concat()].concat()
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations of a valid frame.

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(Index, u8),
    Truncate(Index),
    Insert(Index, u8),
    Delete(Index),
    Replace(Index, u8),
    Append(Vec<u8>),
    /// Keeps this frame up to a point and continues with the other frame from a point.
    Splice(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), wire_byte()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), wire_byte()).prop_map(|(at, byte)| Mutation::Replace(at, byte)),
        vec(wire_byte(), 1..8).prop_map(Mutation::Append),
        (any::<Index>(), any::<Index>()).prop_map(|(at, from)| Mutation::Splice(at, from)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, other: &[u8], mutation: &Mutation) {
    let len = bytes.len();
    match mutation {
        Mutation::FlipBit(at, bit) if len > 0 => bytes[at.index(len)] ^= 1 << bit,
        Mutation::Truncate(at) => bytes.truncate(at.index(len + 1)),
        Mutation::Insert(at, byte) => bytes.insert(at.index(len + 1), *byte),
        Mutation::Delete(at) if len > 0 => {
            bytes.remove(at.index(len));
        }
        Mutation::Replace(at, byte) if len > 0 => bytes[at.index(len)] = *byte,
        Mutation::Append(tail) => bytes.extend_from_slice(tail),
        Mutation::Splice(at, from) => {
            bytes.truncate(at.index(len + 1));
            bytes.extend_from_slice(&other[from.index(other.len() + 1)..]);
        }
        // A position inside an empty frame: nothing to change.
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Client messages: the server's decoder.

/// Where a hello asks to go: every join kind, room ids and maps of any text, room options with each one present
/// or not (finite view radii, so that a message equals itself), resumes with any token and last tick.
fn join() -> impl Strategy<Value = Join> {
    let options = (
        prop::option::of(text(0..30)),
        prop::option::of(text(0..12)),
        prop::option::of(edge_u32()),
        prop::option::of(edge_u32()),
        prop::option::of(-1e6f32..1e6f32),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(name, map, max_players, tick_rate, view_radius, private)| RoomOptions {
            name,
            map,
            max_players,
            tick_rate,
            view_radius,
            private,
        });
    prop_oneof![
        1 => prop::option::of(text(0..12)).prop_map(|map| Join::QuickPlay { map }),
        1 => text(0..16).prop_map(|id| Join::Room { id }),
        1 => options.prop_map(Join::Create),
        1 => prop::option::of(text(0..16)).prop_map(|room| Join::Spectate { room }),
        2 => (token(), edge_u32()).prop_map(|(token, last_tick)| Join::Resume { token, last_tick }),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    let buttons = prop_oneof![2 => 0u8..=1, 1 => edge_u8()];
    let version = prop_oneof![3 => Just(PROTOCOL_VERSION), 1 => edge_u16()];
    prop_oneof![
        // Another version's hello has no `join` and no `auth` (it is refused for its version, whatever follows).
        6 => (version, name(), join(), prop::option::of(token())).prop_map(|(version, name, join, auth)| {
            let current = version == PROTOCOL_VERSION;
            ClientMessage::Hello { version, name, join: current.then_some(join), auth: auth.filter(|_| current) }
        }),
        5 => chat_text().prop_map(|text| ClientMessage::Chat { text }),
        1 => (edge_u32(), edge_i32(), edge_i32()).prop_map(|(follow, x, y)| ClientMessage::View { follow, x, y }),
        3 => (edge_u32(), edge_i8(), edge_i8(), edge_u16(), buttons, edge_u32(), view_delay()).prop_map(
            |(seq, move_x, move_y, aim, buttons, ack_tick, view_delay_ms)| {
                ClientMessage::Input(Input { seq, move_x, move_y, aim, buttons, ack_tick, view_delay_ms })
            }
        ),
        1 => edge_u32().prop_map(|tick| ClientMessage::Ack { tick }),
        1 => edge_u32().prop_map(|nonce| ClientMessage::Ping { nonce }),
    ]
}

/// A view delay: mostly in range (0..=1000 ms), sometimes just past it or anywhere in a uint16.
fn view_delay() -> impl Strategy<Value = u16> {
    prop_oneof![4 => 0u16..=1000, 1 => Just(1001u16), 1 => edge_u16()]
}

/// PROTOCOL.md's rules for a client message, written out independently of the codec. (The version in `hello` is
/// the connection's business: it answers a mismatch with 4000, so the codec accepts any.)
fn obeys_protocol(message: &ClientMessage) -> bool {
    match message {
        // Another version's hello is refused for its version (4000), so the decoder takes it whatever its name.
        ClientMessage::Hello { version, .. } if *version != PROTOCOL_VERSION => true,
        // A resume keeps its seat's name and a join token carries its own: then the name may also be blank. A name
        // that is not blank must be a valid one all the same.
        ClientMessage::Hello { name, join, auth, .. } => {
            let trimmed = name.trim();
            let chars = trimmed.chars().count();
            let may_be_blank = auth.is_some() || matches!(join, Some(Join::Resume { .. }));
            (chars == 0 && may_be_blank)
                || ((1..=MAX_NAME_CHARS).contains(&chars) && !trimmed.chars().any(char::is_control))
        }
        ClientMessage::Chat { text } => chat_breaks(text).is_empty(),
        ClientMessage::Input(input) => {
            input.seq >= 1
                && (-127..=127).contains(&input.move_x)
                && (-127..=127).contains(&input.move_y)
                && input.buttons & !BUTTON_FIRE == 0
                && input.view_delay_ms <= 1000
        }
        // Room ids, maps and options are the lobby's to judge (close 4001 or 4005), not the decoder's.
        ClientMessage::Ack { .. } | ClientMessage::Ping { .. } | ClientMessage::View { .. } => true,
    }
}

/// The v4 rules a chat line breaks, each as the reason the server gives for it (v4.md): trimmed of whitespace it
/// must hold 1 to 120 characters and no control character.
fn chat_breaks(text: &str) -> Vec<String> {
    let trimmed = text.trim();
    let chars = trimmed.chars().count();
    let mut broken = Vec::new();
    if chars == 0 {
        broken.push("chat line is empty".to_string());
    }
    if chars > MAX_CHAT_CHARS {
        broken.push(format!("chat line over {MAX_CHAT_CHARS} characters ({chars})"));
    }
    if trimmed.chars().any(char::is_control) {
        broken.push("chat line holds a control character".to_string());
    }
    broken
}

/// Which of the cases new in v4 an intact client message is, each with whether it obeys the protocol: what the
/// structure-aware property must have seen both sides of.
fn client_cases(message: &ClientMessage) -> Vec<&'static str> {
    let ok = obeys_protocol(message);
    let pick = |accepted, refused| if ok { accepted } else { refused };
    match message {
        ClientMessage::Hello { version, .. } if *version != PROTOCOL_VERSION => vec![],
        ClientMessage::Hello { name, join, auth, .. } => {
            let mut cases = vec![match auth {
                Some(_) => pick("hello with auth accepted", "hello with auth refused"),
                None => pick("hello without auth accepted", "hello without auth refused"),
            }];
            if matches!(join, Some(Join::Resume { .. })) {
                cases.push(pick("resume accepted", "resume refused"));
            }
            if name.trim().is_empty() {
                cases.push(pick("blank name accepted", "blank name refused"));
            }
            cases
        }
        ClientMessage::Chat { text } => {
            let chars = text.trim().chars().count();
            vec![match chat_breaks(text).len() {
                0 if chars == MAX_CHAT_CHARS => "chat at 120 characters accepted",
                0 => "chat accepted",
                _ if chars == 0 => "chat refused: blank",
                _ if chars > MAX_CHAT_CHARS => "chat refused: over 120 characters",
                _ => "chat refused: control character",
            }]
        }
        _ => vec![],
    }
}

/// `decode_client`'s contract on any frame: it refuses with 1009 exactly when the frame is over the limit and with
/// 1007 otherwise, and what it accepts obeys the protocol and re-encodes (in at most as many bytes) to itself.
fn check_client_frame(bytes: &[u8], limit: usize, tally: &Tally) -> TestCaseResult {
    let result = codec::decode_client(bytes, limit);
    tally.decode(&result);
    match result {
        Err(error) if bytes.len() > limit => {
            prop_assert_eq!(error, DecodeError::TooLarge { size: bytes.len(), limit });
        }
        Err(error) => {
            prop_assert_eq!(error.close_code(), close_code::INVALID_PAYLOAD, "{}", error);
        }
        Ok(message) => {
            prop_assert!(bytes.len() <= limit);
            prop_assert!(obeys_protocol(&message), "accepted {:?}", message);
            let encoded = codec::encode_client(&message);
            prop_assert!(encoded.len() <= bytes.len(), "the encoder writes the shortest form: {:?}", encoded);
            prop_assert_eq!(codec::decode_client(&encoded, limit), Ok(message));
        }
    }
    Ok(())
}

/// `decode_client` on arbitrary bytes (0 to 1200, so a good share is over the 512-byte limit), on random bytes after
/// an array header and a plausible tag, and on arrays of well-formed MessagePack values of any type (which get past
/// the parser to the validation far more often): it never panics, every refusal carries 1007 or 1009 (`TooLarge`
/// exactly when the frame is over the limit), and every message it accepts re-encodes and decodes to itself.
#[test]
fn client_decoder_on_arbitrary_bytes() {
    let frames = prop_oneof![
        1 => vec(any::<u8>(), 0..1200),
        1 => (select(&ARRAY_HEADERS[..]), 0u8..8, vec(wire_byte(), 0..560)).prop_map(opened_like_a_message),
        2 => msgpack_message(),
    ];
    let both = [Seen::Decoded, Seen::Refused1007, Seen::Refused1009];
    check("client_decoder_on_arbitrary_bytes", frames, &both, |bytes, tally| check_client_frame(&bytes, LIMIT, tally));
}

/// A client message intact, encoded: judged on its content alone it is accepted (and decodes to itself) exactly
/// when it obeys the protocol, and refused with 1007 otherwise (a chat line for a rule it breaks); under the
/// server's limit the answer is the same unless the frame is over it (1009). Returns its encoding.
fn check_intact_client(message: &ClientMessage, tally: &Tally) -> Result<Vec<u8>, TestCaseError> {
    let bytes = codec::encode_client(message);
    for case in client_cases(message) {
        tally.note(case);
    }
    let unlimited = codec::decode_client(&bytes, usize::MAX);
    tally.decode(&unlimited);
    if obeys_protocol(message) {
        prop_assert_eq!(&unlimited, &Ok(message.clone()));
    } else {
        prop_assert!(matches!(unlimited, Err(DecodeError::Invalid(_))), "{:?} gave {:?}", message, unlimited);
        prop_assert_eq!(unlimited.as_ref().unwrap_err().close_code(), close_code::INVALID_PAYLOAD);
        if let (ClientMessage::Chat { text }, Err(DecodeError::Invalid(reason))) = (message, &unlimited) {
            let broken = chat_breaks(text);
            prop_assert!(broken.contains(reason), "{:?} refused for {:?}, it breaks {:?}", text, reason, broken);
        }
    }
    let limited = codec::decode_client(&bytes, LIMIT);
    tally.decode(&limited);
    if let ClientMessage::Chat { text } = message {
        if bytes.len() > LIMIT {
            tally.note("chat line over the frame limit");
        } else if limited.is_ok() && text.trim().chars().filter(|c| c.len_utf8() == 4).count() == MAX_CHAT_CHARS {
            // v4's reason for the 512-byte limit: the longest line of the widest characters fits.
            tally.note("chat of 120 four-byte characters within the frame limit");
        }
    }
    if bytes.len() > LIMIT {
        prop_assert_eq!(limited, Err(DecodeError::TooLarge { size: bytes.len(), limit: LIMIT }));
    } else {
        prop_assert_eq!(limited, unlimited);
    }
    Ok(bytes)
}

/// Structure-aware: valid-shaped client messages of every type over the full range of each field (names of
/// arbitrary Unicode, control characters, whitespace padding, blank, far too long; hellos with and without a join
/// token, resumes; chat lines blank, at and past 120 characters, with control characters), encoded, then put
/// through a chain of mutations (bit flips, truncation, inserted, deleted or replaced bytes, trailing bytes, a
/// splice with a second message). Intact (both messages of a case), a message that obeys the protocol round-trips
/// exactly and one that breaks a rule is refused with 1007 (`Invalid`, a chat line with the reason of a rule it
/// breaks), or with 1009 when its frame is over the limit; mutated, the decoder never panics and keeps the contract
/// of `check_client_frame`.
#[test]
fn client_decoder_on_mutated_messages() {
    let cases = (client_message(), client_message(), vec(mutation(), 1..6));
    let required = [
        Seen::Decoded,
        Seen::Refused1007,
        Seen::Refused1009,
        Seen::Note("hello without auth accepted"),
        Seen::Note("hello without auth refused"),
        Seen::Note("hello with auth accepted"),
        Seen::Note("hello with auth refused"),
        Seen::Note("blank name accepted"),
        Seen::Note("blank name refused"),
        Seen::Note("resume accepted"),
        Seen::Note("resume refused"),
        Seen::Note("chat accepted"),
        Seen::Note("chat at 120 characters accepted"),
        Seen::Note("chat refused: blank"),
        Seen::Note("chat refused: over 120 characters"),
        Seen::Note("chat refused: control character"),
        Seen::Note("chat line over the frame limit"),
        Seen::Note("chat of 120 four-byte characters within the frame limit"),
    ];
    check("client_decoder_on_mutated_messages", cases, &required, |(message, other, mutations), tally| {
        let bytes = check_intact_client(&message, tally)?;
        let other = check_intact_client(&other, tally)?;
        let mut mutated = bytes;
        for mutation in &mutations {
            mutate(&mut mutated, &other, mutation);
            check_client_frame(&mutated, LIMIT, tally)?;
        }
        check_client_frame(&mutated, usize::MAX, tally)
    });
}

/// Starts of client messages that put the next value where the decoder reads a string or skips an element.
const CLIENT_PREFIXES: [&[u8]; 8] = [
    &[0x93, 0x04, 0x00],                               // ping, then an extra element to skip
    &[0x93, 0x03, 0x00],                               // ack, then an extra element to skip
    &[0x93, 0x01, 0x01],                               // hello, then the name
    &[0x99, 0x02, 1, 0, 0, 0, 0, 0, 0],                // input, then an extra element to skip
    &[0x92, 0x06],                                     // chat, then the text
    &[0x95, 0x01, 0x07, 0xa0, 0x91, 0x01],             // a v7 hello with a join, then the auth token
    &[0x94, 0x01, 0x07, 0xa0, 0x93, 0x05],             // a v7 resume, then the resume token
    &[0x96, 0x01, 0x07, 0xa0, 0x91, 0x01, 0xa1, b'x'], // a v7 hello with auth, then an extra element to skip
];

/// `decode_client` on nesting bombs (up to 3000 nested arrays or maps where the decoder reads or skips a value)
/// under the default limit and under a raised `--max-message-bytes` (up to 64 KiB, which the flag allows): it
/// refuses them without exhausting the stack of the connection task's thread.
#[test]
fn client_decoder_on_nesting_bombs() {
    let frames = (
        select(&CLIENT_PREFIXES[..]),
        select(&NESTED_OPENERS[..]),
        0usize..3000,
        vec(wire_byte(), 0..8),
        prop_oneof![Just(LIMIT), 128usize..=65536],
    )
        .prop_map(|(prefix, opener, depth, tail, limit)| ([prefix, &opener.repeat(depth), &tail].concat(), limit));
    assert_eq!(PROTOCOL_VERSION, 7, "CLIENT_PREFIXES hold hellos of this version");
    // Bombs are all refused: by size (1009) when over the limit, by depth or shape (1007) otherwise.
    let refusals = [Seen::Refused1007, Seen::Refused1009];
    check("client_decoder_on_nesting_bombs", frames, &refusals, |(bytes, limit), tally| {
        check_client_frame(&bytes, limit, tally)
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Server messages: the client's decoder.

/// Every field of an entity of any kind (a player's 9, its v4 `flags` included), each over the range of `i32`.
/// (Boxed, and drawn as a vector: the value tree of an array of nine unions, kept on the stack in a debug build,
/// overflows a test thread's stack once nested in the stream plans below.)
fn fields() -> BoxedStrategy<[i32; MAX_FIELDS]> {
    vec(edge_i32(), MAX_FIELDS).prop_map(|fields| fields.try_into().expect("MAX_FIELDS values")).boxed()
}

/// A created entity exactly as the decoder would return it: fields beyond the kind's count are 0, only players
/// have a name.
fn entity_state(id: impl Strategy<Value = u32> + 'static) -> BoxedStrategy<EntityState> {
    (id, any::<bool>(), fields(), text(0..20))
        .prop_map(|(id, player, mut fields, name)| {
            let kind = if player { EntityKind::Player } else { EntityKind::Bullet };
            fields[kind.field_count()..].fill(0);
            EntityState { id, kind, fields, name: player.then(|| Arc::from(name)) }
        })
        .boxed()
}

fn event(id: impl Strategy<Value = u32> + Clone) -> impl Strategy<Value = Event> {
    prop_oneof![
        (edge_u32(), id.clone(), id.clone()).prop_map(|(tick, killer, victim)| Event::Kill { tick, killer, victim }),
        (edge_u32(), id.clone(), text(0..20)).prop_map(|(tick, player, name)| Event::Join {
            tick,
            player,
            name: Arc::from(name)
        }),
        (edge_u32(), id).prop_map(|(tick, player)| Event::Leave { tick, player }),
    ]
}

/// A snapshot's `changed` bin as the decoder carries it: empty (nothing changed, always so in a full snapshot) or
/// any bytes (the decoder does not read the bit stream; the replica does).
fn changed_bytes() -> impl Strategy<Value = Vec<u8>> + Clone {
    prop_oneof![2 => Just(Vec::new()), 3 => vec(any::<u8>(), 1..24), 1 => vec(any::<u8>(), 250..300)]
}

/// A snapshot's `own` element: a spectator's `[]` or a player's velocity correction, any two `i32`.
fn own() -> impl Strategy<Value = Option<[i32; 2]>> + Clone {
    prop::option::of(prop::array::uniform2(edge_i32()))
}

fn snapshot_message() -> impl Strategy<Value = Snapshot> {
    (
        (edge_u32(), edge_u32(), edge_u32()),
        vec(entity_state(edge_u32()), 0..6),
        changed_bytes(),
        vec(edge_u32(), 0..6),
        vec(event(edge_u32()), 0..4),
        vec((edge_u32(), edge_u32()).prop_map(|(tick, victim)| Hit { tick, victim }), 0..4),
        own(),
    )
        .prop_map(|((tick, baseline, last_input_seq), created, changed, removed, events, hits, own)| Snapshot {
            tick,
            baseline,
            last_input_seq,
            created,
            changed,
            removed,
            events,
            hits,
            own,
        })
}

fn welcome() -> impl Strategy<Value = Welcome> {
    let map = (
        text(0..24),
        edge_i32(),
        edge_i32(),
        vec(prop::array::uniform4(edge_i32()), 0..6),
        vec(prop::array::uniform2(edge_i32()), 0..6),
    )
        .prop_map(|(name, width, height, walls, spawns)| MapInfo { name, width, height, walls, spawns });
    // Any f32 at all, NaN and infinities included: the decoder must carry them, not judge them.
    let rules = (prop::array::uniform6(any::<f32>()), edge_u32(), edge_u32(), edge_u8(), edge_u32(), edge_u32())
        .prop_map(
            |(
                [player_radius, accel, friction, max_speed, bullet_radius, bullet_speed],
                lifetime,
                interval,
                max_hp,
                respawn,
                max_rewind_ticks,
            )| {
                RulesInfo {
                    player_radius,
                    accel,
                    friction,
                    max_speed,
                    bullet_radius,
                    bullet_speed,
                    bullet_lifetime_ticks: lifetime,
                    fire_interval_ticks: interval,
                    max_hp,
                    respawn_ticks: respawn,
                    max_rewind_ticks,
                }
            },
        );
    let room = (text(0..16), text(0..30), any::<bool>()).prop_map(|(id, name, spectator)| RoomInfo {
        id,
        name,
        role: if spectator { Role::Spectator } else { Role::Player },
    });
    // A player's session (v4), or none (a spectator, resuming off).
    let session = prop::option::of((token(), edge_u32(), edge_u32())).prop_map(|session| {
        session.map(|(resume_token, grace_ms, input_seq)| SessionInfo { resume_token, grace_ms, input_seq })
    });
    ((edge_u16(), edge_u32(), edge_u16(), edge_u32()), map, rules, room, session).prop_map(
        |((version, player_id, tick_rate, tick), map, rules, room, session)| Welcome {
            version,
            player_id,
            tick_rate,
            tick,
            map,
            rules,
            room,
            session,
        },
    )
}

/// A full snapshot a fresh replica accepts: baseline 0, entities in ascending id order, an empty `changed` (a
/// full snapshot's is always empty), nothing removed, `own` or not.
fn full_snapshot() -> impl Strategy<Value = Snapshot> {
    (1u32..u32::MAX, edge_u32(), vec(entity_state(edge_u32()), 0..6), own()).prop_map(
        |(tick, last_input_seq, mut created, own)| {
            created.sort_by_key(|entity| entity.id);
            created.dedup_by_key(|entity| entity.id);
            Snapshot {
                tick,
                baseline: 0,
                last_input_seq,
                created,
                changed: vec![],
                removed: vec![],
                events: vec![],
                hits: vec![],
                own,
            }
        },
    )
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        3 => snapshot_message().prop_map(ServerMessage::Snapshot),
        1 => full_snapshot().prop_map(ServerMessage::Snapshot),
        1 => welcome().prop_map(ServerMessage::Welcome),
        1 => edge_u32().prop_map(|nonce| ServerMessage::Pong { nonce }),
        1 => (edge_u16(), text(0..40)).prop_map(|(code, reason)| ServerMessage::Close { code, reason }),
        1 => (edge_u32(), vec((edge_u32(), text(0..20), edge_i32(), edge_i32()), 0..6)).prop_map(|(tick, players)| {
            let players =
                players.into_iter().map(|(id, name, score, hp)| RosterEntry { id, name, score, hp }).collect();
            ServerMessage::Roster { tick, players }
        }),
        // The client carries whatever line the server relays, even one the server itself would refuse.
        2 => (edge_u32(), prop_oneof![1 => Just(0u32), 3 => edge_u32()], text(0..20), chat_text())
            .prop_map(|(tick, from, name, text)| ServerMessage::Chat { tick, from, name, text }),
    ]
}

/// Which of the cases an accepted server message holds, for the `Seen` requirements: v4's sessions, chat and
/// player flags, v6's `own` element and bit-stream `changed`.
fn note_server_cases(message: &ServerMessage, tally: &Tally) {
    match message {
        ServerMessage::Welcome(welcome) if welcome.session.is_some() => tally.note("welcome with session"),
        ServerMessage::Welcome(_) => tally.note("welcome without session"),
        ServerMessage::Chat { text, .. } if chat_breaks(text).is_empty() => tally.note("chat event"),
        ServerMessage::Chat { .. } => tally.note("chat event with a line the server refuses"),
        ServerMessage::Snapshot(snapshot) => {
            if snapshot.created.iter().any(|e| e.kind == EntityKind::Player && e.fields[player_field::FLAGS] != 0) {
                tally.note("player with flags");
            }
            if snapshot.own.is_some() {
                tally.note("snapshot with own");
            }
            if !snapshot.changed.is_empty() {
                tally.note("non-empty changed");
            }
        }
        _ => {}
    }
}

/// The tick rate of the fresh replicas decoded snapshots are handed to (a fresh replica only takes full
/// snapshots, for which it does not matter).
const FRESH_RATE: u32 = 30;

/// `decode_server`'s contract on any frame: it returns (no panic, no stack overflow, no huge allocation), refuses
/// with 1007, and what it accepts has one canonical encoding that decodes back to the same message. A decoded
/// snapshot is also handed to a fresh replica, as the client library does, which must apply it or refuse it.
///
/// On a frame that opens like a snapshot (`codec::is_snapshot`), `decode_server` is exactly the lean snapshot
/// decoder the clients use: the same snapshot, or a refusal with 1007 when the lean decoder refuses. And the lean
/// decoder accepts nothing the general serde decoder refuses: every snapshot it takes, the general one takes as the
/// same snapshot. The general one may take more (rmp-serde reads a bin as a sequence and a non-UTF-8 str as bytes),
/// but never a snapshot's canonical encoding that the lean one refuses.
fn check_server_frame(bytes: &[u8], tally: &Tally) -> TestCaseResult {
    let result = codec::decode_server(bytes);
    if codec::is_snapshot(bytes) {
        let mut lean = Snapshot::default();
        match codec::decode_snapshot_into(bytes, &mut lean) {
            Ok(()) => {
                let lean = Ok(ServerMessage::Snapshot(lean));
                prop_assert_eq!(&result, &lean, "decode_server differs from the lean decoder");
                prop_assert_eq!(
                    &codec::decode_server_general(bytes),
                    &lean,
                    "the general decoder differs on a snapshot the lean one accepts"
                );
            }
            Err(error) => {
                prop_assert_eq!(error.close_code(), close_code::INVALID_PAYLOAD, "the lean decoder: {}", error);
                prop_assert!(
                    matches!(&result, Err(refusal) if *refusal == error),
                    "decode_server gives {:?} where the lean decoder refuses: {}",
                    result,
                    error
                );
                if let Ok(ServerMessage::Snapshot(general)) = codec::decode_server_general(bytes) {
                    // Only where the general decoder is lenient: never on a snapshot's canonical encoding.
                    let canonical = codec::encode_server(&ServerMessage::Snapshot(general));
                    prop_assert!(canonical != bytes, "the lean decoder refuses a canonical snapshot: {}", error);
                    tally.note("snapshot the general decoder takes refused");
                }
            }
        }
    }
    let result = codec::decode_server(bytes);
    tally.decode(&result);
    match result {
        Err(error) => prop_assert_eq!(error.close_code(), close_code::INVALID_PAYLOAD, "{}", error),
        Ok(message) => {
            note_server_cases(&message, tally);
            // Compared as bytes: a NaN in `rules` is not equal to itself, but its encoding is.
            let canonical = codec::encode_server(&message);
            let again = codec::decode_server(&canonical);
            prop_assert!(again.is_ok(), "the re-encoded {:?} does not decode: {:?}", message, again);
            prop_assert_eq!(codec::encode_server(&again.unwrap()), canonical);
            if let ServerMessage::Snapshot(snapshot) = message {
                tally.apply(&Replica::new(FRESH_RATE).apply(&snapshot));
            }
        }
    }
    Ok(())
}

/// Starts of server messages that put the next value where the decoder reads a string, a list, a bin, an entity,
/// or an element it skips, for the nesting and length bombs below. A v6 snapshot is a 10-element array (`0x9a`):
/// tag, tick, baseline, last input seq, `created`, `changed` (a bin), `removed`, `events`, `hits`, `own`.
fn server_prefixes() -> Vec<&'static [u8]> {
    const FIXED: [&[u8]; 16] = [
        &[],
        &[0x93, 0x03, 0x00],                               // pong, then an extra element to skip
        &[0x93, 0x04, 0xcd, 0x03, 0xe8],                   // close 1000, then the reason
        &[0x9a, 0x02, 0x01, 0x00, 0x00],                   // snapshot, then `created`
        &[0x9a, 0x02, 0x01, 0x00, 0x00, 0x90],             // ... then `changed`
        &[0x9a, 0x02, 0x01, 0x00, 0x00, 0x90, 0xc4, 0x00], // ... then `removed`
        &[0x9a, 0x02, 0x01, 0x00, 0x00, 0x90, 0xc4, 0x00, 0x90], // ... then `events`
        &[0x9a, 0x02, 0x01, 0x00, 0x00, 0x90, 0xc4, 0x00, 0x90, 0x90], // ... then `hits`
        &[0x9a, 0x02, 0x01, 0x00, 0x00, 0x90, 0xc4, 0x00, 0x90, 0x90, 0x90], // ... then `own`
        &[0x9a, 0x02, 0x01, 0x00, 0x00, 0x90, 0xc4, 0x00, 0x90, 0x90, 0x90, 0x92], // `own` opened, then its dvx
        &[0x9a, 0x02, 0x01, 0x00, 0x00, 0x90, 0xc5, 0x01, 0x00], // a 256-byte `changed`, then its bytes
        &[0x9a, 0x02, 0x01, 0x00, 0x00, 0x91, 0x9c, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0], // a player, then its name
        &[0x99, 0x01, 0x01, 0x01, 0x1e, 0x01, 0x95],       // welcome, then the map's name
        &[0x99, 0x01, 0x01, 0x01, 0x1e, 0x01, 0x95, 0xa0, 0x01, 0x01], // ... then its walls
        &[0x95, 0x06, 0x00, 0x00],                         // chat event, then the sender's name
        &[0x95, 0x06, 0x00, 0x00, 0xa0],                   // ... then the line
    ];
    // A whole welcome up to its session (v4), and up to the session's resume token: its encoding ends with the
    // session `[0x93, "", 0, 0]`. (Leaked once per property run, as `select` wants `'static` values.)
    let session = Some(SessionInfo::default());
    let welcome = codec::encode_server(&ServerMessage::Welcome(Welcome { session, ..Welcome::default() }));
    let welcome: &'static [u8] = welcome.leak();
    let end = welcome.len();
    assert_eq!(&welcome[end - 4..], [0x93, 0xa0, 0x00, 0x00]);
    // The snapshot prefixes are those of a real (empty, spectator's) snapshot.
    let empty = codec::encode_server(&ServerMessage::Snapshot(Snapshot { tick: 1, ..Snapshot::default() }));
    assert_eq!(empty, [FIXED[8], &[0x90]].concat());
    FIXED.into_iter().chain([&welcome[..end - 4], &welcome[..end - 3]]).collect()
}

/// Headers that declare about 4 GiB (or 4 billion elements) in a frame that holds a few bytes.
const HUGE_HEADERS: [&[u8]; 5] = [
    &[0xdb, 0xff, 0xff, 0xff, 0xff], // str32
    &[0xc6, 0xff, 0xff, 0xff, 0xff], // bin32
    &[0xdd, 0xff, 0xff, 0xff, 0xff], // array32
    &[0xdf, 0xff, 0xff, 0xff, 0xff], // map32
    &[0xc9, 0xff, 0xff, 0xff, 0xff], // ext32
];

/// Openers of one nested level: a one-element array, a one-entry map, a one-element array16.
const NESTED_OPENERS: [&[u8]; 3] = [&[0x91], &[0x81], &[0xdc, 0x00, 0x01]];

/// `decode_server` on arbitrary bytes: plain random frames, frames opening like a message, arrays of well-formed
/// MessagePack values of any type, nesting bombs (up to 3000 levels where the decoder reads or skips a value, past
/// rmp-serde's depth limit of 1024), length bombs (4 GiB declared in a small frame, a `changed` bin32 among them)
/// and hand-written snapshot frames whose `changed` and `own` take any shape: it never panics, overflows its stack
/// or allocates what was declared, and keeps the contract of `check_server_frame`.
#[test]
fn server_decoder_on_arbitrary_bytes() {
    let frames = prop_oneof![
        2 => vec(any::<u8>(), 0..600),
        2 => (select(&ARRAY_HEADERS[..]), 0u8..8, vec(wire_byte(), 0..600))
            .prop_map(opened_like_a_message),
        2 => msgpack_message(),
        // Real messages too, so the accepting side is exercised in every run.
        1 => server_message().prop_map(|message| codec::encode_server(&message)),
        1 => full_snapshot().prop_map(|snapshot| codec::encode_server(&ServerMessage::Snapshot(snapshot))),
        1 => (select(server_prefixes()), select(&NESTED_OPENERS[..]), 0usize..3000, vec(wire_byte(), 0..8))
            .prop_map(|(prefix, opener, depth, tail)| [prefix, &opener.repeat(depth), &tail].concat()),
        1 => (select(server_prefixes()), select(&HUGE_HEADERS[..]), vec(wire_byte(), 0..64))
            .prop_map(|(prefix, header, tail)| [prefix, header, &tail].concat()),
        1 => element_case().prop_map(|case| case.bytes),
    ];
    let required = [
        Seen::Decoded,
        Seen::Refused1007,
        Seen::Applied,
        Seen::ReplicaRefused,
        Seen::Note("player with flags"),
        Seen::Note("snapshot with own"),
        Seen::Note("non-empty changed"),
    ];
    check("server_decoder_on_arbitrary_bytes", frames, &required, |bytes, tally| check_server_frame(&bytes, tally));
}

/// A snapshot frame's `changed` element, written by hand.
#[derive(Clone, Debug)]
enum ChangedElement {
    /// A bin of these bytes, under marker 0xc4, 0xc5 or 0xc6 (any of its encodings that can hold them, not only
    /// the shortest).
    Bin(u8, Vec<u8>),
    /// A str of these bytes, valid UTF-8 or not.
    Str(Vec<u8>),
    /// Any other MessagePack value, never a bin: nil, integers, strings, arrays (v5's field deltas had that shape),
    /// maps, extension values.
    Other(Vec<u8>),
}

impl ChangedElement {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            ChangedElement::Bin(marker, bytes) => {
                let len = bytes.len();
                match marker {
                    0xc4 if len <= 0xff => out.extend([0xc4, len as u8]),
                    0xc4 | 0xc5 if len <= 0xffff => out.extend([&[0xc5][..], &(len as u16).to_be_bytes()].concat()),
                    _ => out.extend([&[0xc6][..], &(len as u32).to_be_bytes()].concat()),
                }
                out.extend_from_slice(bytes);
            }
            ChangedElement::Str(bytes) => {
                match bytes.len() {
                    len @ 0..=31 => out.push(0xa0 | len as u8),
                    len => out.extend([0xd9, len as u8]),
                }
                out.extend_from_slice(bytes);
            }
            ChangedElement::Other(value) => out.extend_from_slice(value),
        }
    }
}

/// The payload of one MessagePack bin, whatever its encoding; `None` for any other value.
fn bin_payload(value: &[u8]) -> Option<&[u8]> {
    let (len, payload) = match value {
        [0xc4, len, payload @ ..] => (usize::from(*len), payload),
        [0xc5, a, b, payload @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), payload),
        [0xc6, a, b, c, d, payload @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]) as usize, payload),
        _ => return None,
    };
    (payload.len() == len).then_some(payload)
}

/// An integer in any MessagePack encoding that can hold it (the shortest or a wider one), in the range of `i32` or
/// past it.
fn msgpack_int() -> impl Strategy<Value = Vec<u8>> + Clone {
    fn shortest(value: i64) -> Vec<u8> {
        let mut buf = Vec::new();
        rmp::encode::write_sint(&mut buf, value).expect("writing to a Vec");
        buf
    }
    prop_oneof![
        4 => edge_i32().prop_map(|v| shortest(v.into())),
        1 => edge_i32().prop_map(|v| [&[0xd3][..], &i64::from(v).to_be_bytes()].concat()),
        1 => any::<u32>().prop_map(|v| [&[0xce][..], &v.to_be_bytes()].concat()),
        1 => any::<i64>().prop_map(shortest),
        1 => any::<u64>().prop_map(|v| [&[0xcf][..], &v.to_be_bytes()].concat()),
    ]
}

/// The value of one MessagePack integer, whatever its encoding; `None` for any other value.
fn int_value(bytes: &[u8]) -> Option<i128> {
    let be =
        |rest: &[u8], len: usize| (rest.len() == len).then(|| rest.iter().fold(0u128, |v, &b| v << 8 | u128::from(b)));
    let (&marker, rest) = bytes.split_first()?;
    Some(match marker {
        0x00..=0x7f if rest.is_empty() => i128::from(marker),
        0xe0..=0xff if rest.is_empty() => i128::from(marker as i8),
        0xcc => be(rest, 1)? as i128,
        0xcd => be(rest, 2)? as i128,
        0xce => be(rest, 4)? as i128,
        0xcf => be(rest, 8)? as i128,
        0xd0 => i128::from(be(rest, 1)? as u8 as i8),
        0xd1 => i128::from(be(rest, 2)? as u16 as i16),
        0xd2 => i128::from(be(rest, 4)? as u32 as i32),
        0xd3 => i128::from(be(rest, 8)? as u64 as i64),
        _ => return None,
    })
}

/// A snapshot frame's `own` element, written by hand: an array of any values (mostly integers of any encoding and
/// range, mostly 0 or 2 of them), or sometimes not an array at all (often a bin, of 0 or 2 bytes among others:
/// what a reader that takes a bin as a sequence of its bytes would take as `[]` or `[dvx, dvy]`).
#[derive(Clone, Debug)]
enum OwnElement {
    Array(Vec<Vec<u8>>),
    NotArray(Vec<u8>),
}

impl OwnElement {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            OwnElement::Array(items) => {
                rmp::encode::write_array_len(out, items.len() as u32).expect("writing to a Vec");
                items.iter().for_each(|item| out.extend_from_slice(item));
            }
            OwnElement::NotArray(value) => out.extend_from_slice(value),
        }
    }

    /// What a decoder must make of it (v6: `own` is `[]` or `[dvx, dvy]`, both `i32`): `Err` when it must refuse.
    fn meaning(&self) -> Result<Option<[i32; 2]>, ()> {
        let as_i32 = |item: &Vec<u8>| int_value(item).and_then(|v| i32::try_from(v).ok());
        match self {
            OwnElement::Array(items) if items.is_empty() => Ok(None),
            OwnElement::Array(items) if items.len() == 2 => match (as_i32(&items[0]), as_i32(&items[1])) {
                (Some(dvx), Some(dvy)) => Ok(Some([dvx, dvy])),
                _ => Err(()),
            },
            _ => Err(()),
        }
    }
}

/// How an `ElementCase` picks its `changed` element.
#[derive(Clone, Debug)]
enum ChangedPick {
    /// A bin under this marker holding a stream written by `write_changes` against the frame's baseline.
    Stream(u8, StreamPlan),
    Element(ChangedElement),
}

/// A hand-written snapshot frame with a `changed` element and an `own` element of any shape, the rest valid: the
/// baseline state a client may hold (`base`, the full snapshot of tick `baseline`), and what the frame must decode
/// to when both elements are valid.
#[derive(Clone, Debug)]
struct ElementCase {
    tick_rate: u32,
    base: Snapshot,
    changed: ChangedElement,
    own: OwnElement,
    /// The frame's snapshot with an empty `changed` and no `own`: the decoder must return it with those two set.
    rest: Snapshot,
    bytes: Vec<u8>,
}

fn element_case() -> impl Strategy<Value = ElementCase> {
    let sorted_entities = |len| {
        vec(entity_state(loose_id()), len).prop_map(|mut entities| {
            entities.sort_by_key(|e| e.id);
            entities.dedup_by_key(|e| e.id);
            entities
        })
    };
    let markers = || select(&[0xc4u8, 0xc5, 0xc6][..]);
    let changed = prop_oneof![
        // A stream written against the baseline, well-formed or with a corruption of its own, as a bin.
        4 => (markers(), stream_plan()).prop_map(|(marker, plan)| ChangedPick::Stream(marker, plan)),
        2 => (markers(), vec(any::<u8>(), 0..40))
            .prop_map(|(marker, bytes)| ChangedPick::Element(ChangedElement::Bin(marker, bytes))),
        1 => vec(any::<u8>(), 0..24).prop_map(|bytes| ChangedPick::Element(ChangedElement::Str(bytes))),
        2 => msgpack_value()
            .prop_filter("not a bin", |value| !matches!(value[0], 0xc4..=0xc6))
            .prop_map(|value| ChangedPick::Element(ChangedElement::Other(value))),
        // v5's `changed` (nothing changed; one field delta), nil, a fixext.
        1 => select(vec![vec![0x90u8], vec![0x91, 0x93, 0x01, 0x01, 0x05], vec![0xc0], vec![0xd4, 0x01, 0x00]])
            .prop_map(|value| ChangedPick::Element(ChangedElement::Other(value))),
    ];
    let own = prop_oneof![
        2 => Just(OwnElement::Array(vec![])),
        4 => vec(msgpack_int(), 2).prop_map(OwnElement::Array),
        1 => vec(msgpack_int(), 0..5).prop_map(OwnElement::Array),
        1 => vec(msgpack_value(), 0..4).prop_map(OwnElement::Array),
        1 => msgpack_scalar().prop_map(OwnElement::NotArray),
        1 => (select(&[0xc4u8, 0xc5, 0xc6][..]), prop_oneof![Just(0usize), Just(2), 0usize..5])
            .prop_flat_map(|(marker, len)| (Just(marker), vec(any::<u8>(), len)))
            .prop_map(|(marker, bytes)| {
                let mut value = Vec::new();
                ChangedElement::Bin(marker, bytes).write(&mut value);
                OwnElement::NotArray(value)
            }),
    ];
    (
        select(&LOOSE_RATES[..]),
        prop_oneof![1 => Just(0u32), 4 => 1u32..1000],
        prop_oneof![4 => 1u32..5, 1 => 1u32..100_000],
        sorted_entities(0..7),
        sorted_entities(0..3),
        vec(loose_id(), 0..3),
        changed,
        own,
    )
        .prop_map(|(tick_rate, baseline, k, base, mut created, mut removed, changed, own)| {
            removed.sort_unstable();
            removed.dedup();
            let tick = baseline + k;
            let changed = match changed {
                ChangedPick::Stream(marker, plan) => {
                    // A full snapshot has no baseline entities to write change bits for.
                    let kinds: Vec<(u32, EntityKind)> = match baseline {
                        0 => vec![],
                        _ => base.iter().map(|e| (e.id, e.kind)).collect(),
                    };
                    ChangedElement::Bin(marker, write_changes(&plan, &kinds, &mut created, &mut removed))
                }
                ChangedPick::Element(element) => element,
            };
            let rest = Snapshot { tick, baseline, created, removed, ..Snapshot::default() };
            let mut bytes = Vec::new();
            codec::encode_snapshot_header(&mut bytes, tick, baseline, 0);
            codec::append(&mut bytes, &rest.created);
            changed.write(&mut bytes);
            codec::append(&mut bytes, &rest.removed);
            bytes.extend([0x90, 0x90]);
            own.write(&mut bytes);
            let base = Snapshot { tick: baseline, created: base, ..Snapshot::default() };
            ElementCase { tick_rate, base, changed, own, rest, bytes }
        })
}

/// Both snapshot decoders on the elements v6 changed, in hand-written frames: `changed` (element 5) any bin, in
/// any of its three encodings (random bytes, or a stream written against the frame's baseline, well-formed or
/// corrupt), or any value that is not a bin (a str, UTF-8 or not, v5's array, nil, a map ...); `own` (element 10)
/// any array (integers of any encoding in the range of `i32` or past it, other values, any length) or not an array
/// (a bin of any length among them). `decode_server` is the lean decoder and the general one takes whatever it
/// takes (`check_server_frame`); the frame decodes, to exactly its elements, when `changed` is a bin and `own` is
/// `[]` or `[int, int]` (each an `i32`), and is refused with 1007 otherwise: a non-UTF-8 str as `changed` and a bin
/// as `own` too, which the general decoder would take. A decoded snapshot goes to a fresh replica and to one
/// holding the frame's baseline, which apply it or refuse it exactly as the model of the v6 rules does.
#[test]
fn server_decoder_on_changed_element() {
    let required = [
        Seen::Decoded,
        Seen::Refused1007,
        Seen::Applied,
        Seen::ReplicaRefused,
        Seen::Note("snapshot with own"),
        Seen::Note("non-empty changed"),
        Seen::Note("changed in a bin16 or bin32"),
        Seen::Note("non-bin changed refused"),
        Seen::Note("own not [] or [int, int] refused"),
        Seen::Note("own past i32 refused"),
        Seen::Note("non-UTF-8 str as changed refused"),
        Seen::Note("bin as own refused"),
        Seen::Note("changed applied against the baseline with residuals"),
        Seen::Note("changed refused against the baseline as corrupt"),
    ];
    check("server_decoder_on_changed_element", element_case(), &required, |case, tally| {
        check_server_frame(&case.bytes, tally)?;
        let decoded = codec::decode_server(&case.bytes);
        let changed = match &case.changed {
            ChangedElement::Bin(_, bytes) => Some(bytes.clone()),
            _ => None,
        };
        match (changed, case.own.meaning()) {
            (Some(changed), Ok(own)) => {
                if matches!(case.changed, ChangedElement::Bin(marker, _) if marker != 0xc4) {
                    tally.note("changed in a bin16 or bin32");
                }
                let expected = Snapshot { changed, own, ..case.rest.clone() };
                prop_assert_eq!(&decoded, &Ok(ServerMessage::Snapshot(expected)));
            }
            (changed, own) => {
                if changed.is_none() {
                    tally.note("non-bin changed refused");
                }
                if own.is_err() {
                    tally.note("own not [] or [int, int] refused");
                    if let OwnElement::Array(items) = &case.own {
                        if items.len() == 2 && items.iter().all(|item| int_value(item).is_some()) {
                            tally.note("own past i32 refused");
                        }
                    }
                }
                // Refused for that element alone (the other one valid), among them what the general decoder takes
                // (a non-UTF-8 str as the bin of its bytes, a bin of 0 or 2 bytes as `own`).
                if matches!(&case.changed, ChangedElement::Str(bytes) if std::str::from_utf8(bytes).is_err())
                    && own.is_ok()
                {
                    tally.note("non-UTF-8 str as changed refused");
                }
                if matches!(&case.own, OwnElement::NotArray(value) if bin_payload(value).is_some()) && changed.is_some()
                {
                    tally.note("bin as own refused");
                }
                prop_assert!(decoded.is_err(), "{:?} / {:?} decodes to {:?}", case.changed, case.own, decoded);
                prop_assert_eq!(decoded.unwrap_err().close_code(), close_code::INVALID_PAYLOAD);
                return Ok(());
            }
        }
        // The decoded snapshot against the baseline it names, as a client holding it would apply it.
        let Ok(ServerMessage::Snapshot(snapshot)) = decoded else { unreachable!("checked above") };
        if case.base.tick == 0 {
            return Ok(());
        }
        let mut replica = Replica::new(case.tick_rate);
        let mut model = ReplicaModel::new(case.tick_rate);
        prop_assert!(replica.apply(&case.base).is_ok() && model.apply(&case.base).is_ok(), "the baseline applies");
        let result = replica.apply(&snapshot);
        tally.apply(&result);
        let expected = model.apply(&snapshot);
        match (result, expected) {
            (Ok(applied), Ok(expected)) => {
                if expected.residual_rows > 0 {
                    tally.note("changed applied against the baseline with residuals");
                }
                prop_assert_eq!(applied.tick, snapshot.tick);
                prop_assert_eq!(replica.latest_states(), Some((snapshot.tick, expected.states)));
            }
            (Err(error), Err((expected, _))) => {
                if matches!(error, ReplicaError::CorruptChanges { .. }) {
                    tally.note("changed refused against the baseline as corrupt");
                }
                prop_assert_eq!(error, expected);
            }
            (got, expected) => {
                let expected = expected.map(|applied| applied.states);
                prop_assert!(false, "{:?}: got {:?}, the rules give {:?}", snapshot, got, expected)
            }
        }
        Ok(())
    });
}

/// A server message intact, encoded: it decodes to itself (compared as bytes for a welcome, whose rules may hold a
/// NaN) and a snapshot goes to a fresh replica. Returns its encoding.
fn check_intact_server(message: &ServerMessage, tally: &Tally) -> Result<Vec<u8>, TestCaseError> {
    let bytes = codec::encode_server(message);
    let intact = codec::decode_server(&bytes);
    tally.decode(&intact);
    let decoded = intact.map_err(|error| TestCaseError::fail(format!("{message:?} does not decode: {error}")))?;
    note_server_cases(&decoded, tally);
    prop_assert_eq!(codec::encode_server(&decoded), bytes.clone());
    if let ServerMessage::Snapshot(snapshot) = &decoded {
        tally.apply(&Replica::new(FRESH_RATE).apply(snapshot));
    }
    if !matches!(message, ServerMessage::Welcome(_)) {
        prop_assert_eq!(&decoded, message);
    }
    Ok(bytes)
}

/// Structure-aware: server messages of every type (snapshots with random created, `changed` bins, removed, events,
/// hits and `own`, 9-field players; welcomes with random maps and rules, NaN and infinities included, with and
/// without a session; pongs; closes; rosters; chat events with any line), encoded, then mutated as the client
/// messages are. Intact (both messages of a case), each decodes to itself; mutated, the decoder never panics and
/// keeps the contract of `check_server_frame`.
#[test]
fn server_decoder_on_mutated_messages() {
    let cases = (server_message(), server_message(), vec(mutation(), 1..6));
    let required = [
        Seen::Decoded,
        Seen::Refused1007,
        Seen::Applied,
        Seen::ReplicaRefused,
        Seen::Note("welcome with session"),
        Seen::Note("welcome without session"),
        Seen::Note("chat event"),
        Seen::Note("chat event with a line the server refuses"),
        Seen::Note("player with flags"),
        Seen::Note("snapshot with own"),
        Seen::Note("non-empty changed"),
    ];
    check("server_decoder_on_mutated_messages", cases, &required, |(message, other, mutations), tally| {
        let bytes = check_intact_server(&message, tally)?;
        let other = check_intact_server(&other, tally)?;
        let mut mutated = bytes;
        for mutation in &mutations {
            mutate(&mut mutated, &other, mutation);
            check_server_frame(&mutated, tally)?;
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------------------------
// The v6 `changed` stream, written and read by the test itself.

/// A player's fields, the columns of `changed` in this order (x, y, vx, vy, aim, hp, score, respawn, flags).
const COLUMNS: usize = 9;

/// Tick rates the loose streams run at: the usual ones, and odd ones (a tick rate is any `u16` in a welcome).
const LOOSE_RATES: [u32; 8] = [1, 2, 7, 20, 30, 60, 128, 65535];

/// Writes a `changed` stream plainly, one bit at a time: bit `i` of the stream is bit `i & 7` of byte `i >> 3`,
/// and a `w`-bit value is `w` consecutive bits, least significant first; the last byte is padded with zeros.
#[derive(Default)]
struct BitSink {
    bytes: Vec<u8>,
    len: usize,
}

impl BitSink {
    fn put(&mut self, value: u32, width: u32) {
        for k in 0..width {
            if self.len.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if (value >> k) & 1 == 1 {
                *self.bytes.last_mut().expect("pushed above") |= 1 << (self.len % 8);
            }
            self.len += 1;
        }
    }
}

/// Reads a `changed` stream plainly, one bit at a time, in the same order; reading past the end is an error.
struct BitSource<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl BitSource<'_> {
    fn take(&mut self, width: u32) -> Result<u32, Corrupt> {
        let mut value = 0;
        for k in 0..width {
            let byte = *self.bytes.get(self.at >> 3).ok_or(Corrupt::EndsEarly)?;
            value |= u32::from((byte >> (self.at & 7)) & 1) << k;
            self.at += 1;
        }
        Ok(value)
    }
}

/// The spec's zigzag: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ...
fn zigzag(r: i32) -> u32 {
    (r.wrapping_shl(1) ^ (r >> 31)) as u32
}

/// The spec's inverse: `r = (u >>> 1) ^ -(u & 1)`.
fn unzigzag(u: u32) -> i32 {
    ((u >> 1) as i32) ^ -((u & 1) as i32)
}

fn bit_length(value: u32) -> u32 {
    32 - value.leading_zeros()
}

/// Why a `changed` stream is corrupt, in the spec's terms (each a case the suite must have seen refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Corrupt {
    /// Reading past the end.
    EndsEarly,
    /// A column width of 33..63.
    TooWide,
    /// A short width above its column's width.
    ShortOverWidth,
    /// A whole byte left over after the last column.
    ByteAfterEnd,
    /// A set bit in the last byte's padding.
    NonZeroPadding,
    /// A non-empty stream whose change bits are all 0.
    MarksNothing,
}

impl Corrupt {
    /// The reason the crate's `ReplicaError::CorruptChanges` gives for the case: its own wording (one reason for
    /// the last three, which it tells apart no further), mirrored so that errors compare equal.
    fn reason(self) -> &'static str {
        match self {
            Corrupt::EndsEarly => "it ends early",
            Corrupt::TooWide => "a column is wider than 32 bits",
            Corrupt::ShortOverWidth => "a column's short width exceeds its full width",
            Corrupt::ByteAfterEnd | Corrupt::NonZeroPadding | Corrupt::MarksNothing => {
                "bytes or bits after its end, or no entity marked"
            }
        }
    }

    fn note(self) -> &'static str {
        match self {
            Corrupt::EndsEarly => "refused: changed ends early",
            Corrupt::TooWide => "refused: a column wider than 32 bits",
            Corrupt::ShortOverWidth => "refused: a short width over its column's width",
            Corrupt::ByteAfterEnd => "refused: a byte after the last column",
            Corrupt::NonZeroPadding => "refused: non-zero padding",
            Corrupt::MarksNothing => "refused: changed marks nothing",
        }
    }
}

/// A `changed` stream as read: the residuals of each marked baseline entity (by id, ascending), and what its
/// columns held (for the tallies).
struct Changes {
    rows: Vec<(u32, [i32; COLUMNS])>,
    sparse: bool,
    widest: u32,
    /// Whether a value went escaped (a short width's all-ones value, then the full width).
    escaped: bool,
}

/// Reads `bytes` as the v7 spec says, against the baseline state's ids in increasing order: an empty bin marks
/// nothing; otherwise one change bit per id (at least one set), then 9 columns of a 6-bit width (33..63 corrupt),
/// when the width is not 0 a sparse bit and a 6-bit short width (above the width: corrupt), and per marked entity
/// (a presence bit first when sparse) a value of the short width, which when it is all ones and the short width is
/// below the width is followed by the zigzag value in the full width; then only zero padding, less than a byte of
/// it. The checks come in the order the bits are read.
fn read_changes(bytes: &[u8], ids: &[u32]) -> Result<Changes, Corrupt> {
    let mut changes = Changes { rows: Vec::new(), sparse: false, widest: 0, escaped: false };
    if bytes.is_empty() {
        return Ok(changes);
    }
    let mut source = BitSource { bytes, at: 0 };
    for &id in ids {
        if source.take(1)? == 1 {
            changes.rows.push((id, [0; COLUMNS]));
        }
    }
    if changes.rows.is_empty() {
        return Err(Corrupt::MarksNothing);
    }
    for column in 0..COLUMNS {
        let width = source.take(6)?;
        if width > 32 {
            return Err(Corrupt::TooWide);
        }
        if width == 0 {
            continue;
        }
        changes.widest = changes.widest.max(width);
        let sparse = source.take(1)? == 1;
        changes.sparse |= sparse;
        let short = source.take(6)?;
        if short > width {
            return Err(Corrupt::ShortOverWidth);
        }
        for (_, row) in changes.rows.iter_mut() {
            if sparse && source.take(1)? == 0 {
                continue;
            }
            let mut value = source.take(short)?;
            if short < width && u64::from(value) == (1u64 << short) - 1 {
                value = source.take(width)?;
                changes.escaped = true;
            }
            row[column] = unzigzag(value);
        }
    }
    let left = bytes.len() * 8 - source.at;
    if left >= 8 {
        return Err(Corrupt::ByteAfterEnd);
    }
    match source.take(left as u32)? {
        0 => Ok(changes),
        _ => Err(Corrupt::NonZeroPadding),
    }
}

/// How a generated snapshot's `changed` is made, against the entities of the baseline its stream resolves to.
#[derive(Clone, Debug)]
enum StreamPlan {
    /// An empty bin: every entity as predicted.
    Empty,
    Residuals(ResidualPlan),
    /// A non-empty stream whose change bits mark nothing.
    Unmarked,
    /// Any bytes.
    Random(Vec<u8>),
}

#[derive(Clone, Debug)]
struct ResidualPlan {
    /// Bit `j % 64` marks the `j`th player of the baseline that survives into the snapshot.
    marks: u64,
    /// Residuals, given to the marked entities in turn.
    rows: Vec<[i32; COLUMNS]>,
    /// Bits added to each column's least width (32 at most in all): a wider column than needed is still valid.
    extra_width: [u32; COLUMNS],
    /// Each column's sparse bit: the encoder's choice (`None`), or either (both valid).
    sparse: [Option<bool>; COLUMNS],
    /// Bits taken off each column's width for its short width (0: the width itself, no escapes; any short width
    /// is valid).
    short_cut: [u32; COLUMNS],
    bad_mark: Option<BadMark>,
    corruption: Option<Corruption>,
}

/// An entity marked though the rules forbid it.
#[derive(Clone, Debug)]
enum BadMark {
    /// A bullet of the baseline.
    Bullet(Index),
    /// A baseline entity the snapshot also removes.
    Removed(Index),
    /// A baseline entity the snapshot replaces: this entity under its id joins `created`.
    Replaced(Index, EntityState),
}

/// A corruption of a stream otherwise well-formed.
#[derive(Clone, Debug)]
enum Corruption {
    /// Cut short by at least a byte.
    Truncated(Index),
    /// A byte after the last column.
    ExtraByte(u8),
    /// Column `.0` declares width `.1` (33..63), and the stream ends there.
    Wide(usize, u32),
    /// Column `.0` declares a short width `.1` above its width (where that is below 63), and the stream ends there.
    ShortOver(usize, u32),
    /// These bits set in the last byte's padding, where it has some.
    Padding(u8),
}

fn residual() -> impl Strategy<Value = i32> + Clone {
    prop_oneof![6 => Just(0), 3 => -3i32..=3, 1 => edge_i32()]
}

fn stream_plan() -> BoxedStrategy<StreamPlan> {
    let bad_mark = prop_oneof![
        any::<Index>().prop_map(BadMark::Bullet),
        any::<Index>().prop_map(BadMark::Removed),
        (any::<Index>(), entity_state(Just(0))).prop_map(|(at, entity)| BadMark::Replaced(at, entity)),
    ];
    let corruption = prop_oneof![
        any::<Index>().prop_map(Corruption::Truncated),
        any::<u8>().prop_map(Corruption::ExtraByte),
        (0..COLUMNS, 33u32..64).prop_map(|(column, width)| Corruption::Wide(column, width)),
        (0..COLUMNS, 1u32..32).prop_map(|(column, over)| Corruption::ShortOver(column, over)),
        any::<u8>().prop_map(Corruption::Padding),
    ];
    // Columns drawn as vectors, not arrays: the value trees of nine-element arrays of unions make stack frames
    // too large for a test thread in a debug build.
    fn columns<T: Debug + Clone + 'static>(values: BoxedStrategy<T>) -> impl Strategy<Value = [T; COLUMNS]> {
        vec(values, COLUMNS).prop_map(|values| <[T; COLUMNS]>::try_from(values).expect("9 columns"))
    }
    let plan = (
        prop_oneof![4 => any::<u64>(), 1 => Just(u64::MAX), 1 => Just(1u64)],
        vec(columns(residual().boxed()), 1..6),
        columns(prop_oneof![8 => Just(0u32), 1 => 1u32..=32].boxed()),
        columns(prop::option::weighted(0.3, any::<bool>()).boxed()),
        columns(prop_oneof![4 => Just(0u32), 1 => 1u32..=33].boxed()),
        prop::option::weighted(0.15, bad_mark),
        prop::option::weighted(0.3, corruption),
    )
        .prop_map(|(marks, rows, extra_width, sparse, short_cut, bad_mark, corruption)| ResidualPlan {
            marks,
            rows,
            extra_width,
            sparse,
            short_cut,
            bad_mark,
            corruption,
        });
    prop_oneof![
        3 => Just(StreamPlan::Empty),
        10 => plan.prop_map(StreamPlan::Residuals),
        1 => Just(StreamPlan::Unmarked),
        1 => vec(any::<u8>(), 1..12).prop_map(StreamPlan::Random),
    ]
    .boxed()
}

fn strictly_ascending(ids: impl IntoIterator<Item = u32>) -> bool {
    let ids: Vec<u32> = ids.into_iter().collect();
    ids.windows(2).all(|pair| pair[0] < pair[1])
}

/// Writes the `changed` stream of `plan` over the baseline entities `base` (ids ascending, with their kinds) of a
/// snapshot with these `created` and `removed` lists; a bad mark adds the id it needs to one of them (in order
/// when the list is sorted). The encoder's rules: each column as wide as its widest zigzag value (plus the plan's
/// extra bits), sparse when `c + nonzero * w < c * w` (unless the plan says), its short width the width less the
/// plan's cut (values that do not fit it, or equal its all-ones escape, go escaped).
fn write_changes(
    plan: &StreamPlan,
    base: &[(u32, EntityKind)],
    created: &mut Vec<EntityState>,
    removed: &mut Vec<u32>,
) -> Vec<u8> {
    let plan = match plan {
        StreamPlan::Empty => return Vec::new(),
        StreamPlan::Random(bytes) => return bytes.clone(),
        StreamPlan::Unmarked => {
            let mut sink = BitSink::default();
            base.iter().for_each(|_| sink.put(0, 1));
            return if sink.bytes.is_empty() { vec![0] } else { sink.bytes };
        }
        StreamPlan::Residuals(plan) => plan,
    };
    let mut bad = None;
    match &plan.bad_mark {
        Some(BadMark::Bullet(at)) => {
            let bullets: Vec<u32> = base.iter().filter(|(_, kind)| *kind == EntityKind::Bullet).map(|e| e.0).collect();
            bad = (!bullets.is_empty()).then(|| *at.get(&bullets));
        }
        Some(BadMark::Removed(at)) if !base.is_empty() => {
            let id = base[at.index(base.len())].0;
            match (strictly_ascending(removed.iter().copied()), removed.binary_search(&id)) {
                (true, Err(position)) => removed.insert(position, id),
                (true, Ok(_)) => {}
                (false, _) => removed.push(id),
            }
            bad = Some(id);
        }
        Some(BadMark::Replaced(at, entity)) if !base.is_empty() => {
            let id = base[at.index(base.len())].0;
            let entity = EntityState { id, ..entity.clone() };
            match (strictly_ascending(created.iter().map(|e| e.id)), created.binary_search_by_key(&id, |e| e.id)) {
                (true, Err(position)) => created.insert(position, entity),
                (true, Ok(_)) => {}
                (false, _) => created.push(entity),
            }
            bad = Some(id);
        }
        _ => {}
    }
    let mut marked = Vec::new();
    let mut survivors = 0;
    for &(id, kind) in base {
        let survives = kind == EntityKind::Player && !removed.contains(&id) && !created.iter().any(|e| e.id == id);
        let mut mark = bad == Some(id);
        if survives {
            mark |= plan.marks >> (survivors % 64) & 1 == 1;
            survivors += 1;
        }
        marked.push(mark);
    }
    let count = marked.iter().filter(|&&mark| mark).count();
    if count == 0 {
        return Vec::new();
    }
    let mut sink = BitSink::default();
    marked.iter().for_each(|&mark| sink.put(u32::from(mark), 1));
    for column in 0..COLUMNS {
        let values: Vec<u32> = (0..count).map(|j| zigzag(plan.rows[j % plan.rows.len()][column])).collect();
        let least = values.iter().map(|&value| bit_length(value)).max().unwrap_or(0);
        let width = (least + plan.extra_width[column]).min(32);
        if let Some(Corruption::Wide(at, wide)) = plan.corruption {
            if at == column {
                sink.put(wide, 6);
                return sink.bytes;
            }
        }
        sink.put(width, 6);
        if width == 0 {
            continue;
        }
        let nonzero = values.iter().filter(|&&value| value != 0).count();
        let (c, nonzero, w) = (count as u32, nonzero as u32, width);
        let sparse = plan.sparse[column].unwrap_or(c + nonzero * w < c * w);
        sink.put(u32::from(sparse), 1);
        if let Some(Corruption::ShortOver(at, over)) = plan.corruption {
            if at == column && width + over < 64 {
                sink.put(width + over, 6);
                return sink.bytes;
            }
        }
        let short = width.saturating_sub(plan.short_cut[column]);
        sink.put(short, 6);
        let escape = ((1u64 << short) - 1) as u32;
        for &value in &values {
            if sparse {
                sink.put(u32::from(value != 0), 1);
                if value == 0 {
                    continue;
                }
            }
            if short < width && (value >= escape) {
                sink.put(escape, short);
                sink.put(value, width);
            } else {
                sink.put(value, short);
            }
        }
    }
    let mut bytes = sink.bytes;
    match plan.corruption {
        Some(Corruption::Truncated(at)) => bytes.truncate(at.index(bytes.len())),
        Some(Corruption::ExtraByte(byte)) => bytes.push(byte),
        Some(Corruption::Padding(bits)) if sink.len % 8 != 0 => {
            let padding = 0xffu8 << (sink.len % 8);
            let set = if bits & padding != 0 { bits & padding } else { 0x80 };
            *bytes.last_mut().expect("a stream that marks something") |= set;
        }
        _ => {}
    }
    bytes
}

/// The spec's worked example, written with the test's own bit writer and read back by its reader and by the
/// crate's replica (a fixed case before the random ones: bytes `12 08 02 00 30 18 08 00 00 00`).
#[test]
fn changed_stream_worked_example() {
    let player = |id, fields: [i32; MAX_FIELDS]| EntityState { id, kind: EntityKind::Player, fields, name: None };
    let base = vec![
        player(1, [1600, 1600, 960, 0, 0, 100, 0, 0, 0]),
        player(2, [3200, 800, 0, -480, 64, 100, 0, 0, 0]),
        EntityState { id: 65536, kind: EntityKind::Bullet, fields: [0; MAX_FIELDS], name: None },
    ];
    let kinds: Vec<(u32, EntityKind)> = base.iter().map(|e| (e.id, e.kind)).collect();
    let mut row = [0; COLUMNS];
    row[player_field::X] = 1;
    row[player_field::AIM] = 2;
    let plan = ResidualPlan {
        marks: 0b10,
        rows: vec![row],
        extra_width: [0; COLUMNS],
        sparse: [None; COLUMNS],
        short_cut: [0; COLUMNS],
        bad_mark: None,
        corruption: None,
    };
    let bytes = write_changes(&StreamPlan::Residuals(plan), &kinds, &mut vec![], &mut vec![]);
    assert_eq!(bytes, [0x12, 0x08, 0x02, 0x00, 0x30, 0x18, 0x08, 0x00, 0x00, 0x00]);
    let read = read_changes(&bytes, &[1, 2, 65536]).unwrap();
    assert_eq!(read.rows, vec![(2, row)]);
    let full = Snapshot { tick: 10, created: base, ..Snapshot::default() };
    let delta = Snapshot { tick: 12, baseline: 10, changed: bytes, ..Snapshot::default() };
    let (mut replica, mut model) = (Replica::new(30), ReplicaModel::new(30));
    replica.apply(&full).unwrap();
    model.apply(&full).unwrap();
    replica.apply(&delta).unwrap();
    let expected = model.apply(&delta).unwrap().states;
    assert_eq!(replica.latest_states(), Some((12, expected.clone())));
    assert_eq!(expected[0].fields[..2], [1664, 1600], "player 1 as predicted");
    assert_eq!(expected[1].fields[..5], [3201, 768, 0, -480, 66], "player 2: x and aim residuals, y predicted");
}

// ---------------------------------------------------------------------------------------------------------------
// The client's replica.

/// The v6 rules for applying a snapshot (PROTOCOL.md 7, "Applying snapshots", and 6.2, the prediction and
/// `changed` of the v6 spec), read plainly with ordered maps: the reference the crate's `Replica` must match.
#[derive(Clone)]
struct ReplicaModel {
    tick_rate: u32,
    /// Every state applied so far, by tick.
    states: BTreeMap<u32, BTreeMap<u32, Entity>>,
    newest: Option<u32>,
    /// States older than this may be forgotten: the baseline of the newest delta applied. (A full snapshot does
    /// not raise it: acknowledgements sent before it may still make the server encode against older ticks.) The
    /// crate also caps its states at 128; the streams here are shorter than that.
    floor: u32,
    names: BTreeMap<u32, Arc<str>>,
    newest_event_tick: u32,
    newest_hit_tick: u32,
}

/// What a snapshot the model applies leads to, and what it held (for the tallies).
struct ModelApplied {
    states: Vec<EntityState>,
    new_events: Vec<Event>,
    new_hits: Vec<Hit>,
    /// Entities `changed` marked.
    residual_rows: usize,
    sparse: bool,
    widest: u32,
    escaped: bool,
    /// Whether an unmarked player of the baseline was predicted to move.
    predicted_motion: bool,
}

/// The error a refused snapshot must give, and the case it was (for the tallies).
type ModelRefusal = (ReplicaError, &'static str);

/// The spec's countdown, in exact arithmetic: `max(respawn - k, 0)`.
fn respawn_countdown(respawn: i32, k: u32) -> i32 {
    (i64::from(respawn) - i64::from(k)).max(0) as i32
}

/// `value` wrapped to 32 bits, as the spec's `(a + b) | 0`.
fn wrap32(value: i128) -> i32 {
    value.rem_euclid(1 << 32) as u32 as i32
}

/// The spec's `displacement(from, to, k) = floor((2*k*from + (to - from)*(k + 1) + tick_rate) / (2*tick_rate))`,
/// exact (in `i128`, floor division).
fn displacement(from: i32, to: i32, k: u32, tick_rate: u32) -> i128 {
    let (from, to, k, rate) = (i128::from(from), i128::from(to), i128::from(k), i128::from(tick_rate));
    (2 * k * from + (to - from) * (k + 1) + rate).div_euclid(2 * rate)
}

impl ReplicaModel {
    fn new(tick_rate: u32) -> ReplicaModel {
        ReplicaModel {
            tick_rate,
            states: BTreeMap::new(),
            newest: None,
            floor: 0,
            names: BTreeMap::new(),
            newest_event_tick: 0,
            newest_hit_tick: 0,
        }
    }

    /// The state of tick `baseline`, if the rules still keep it.
    fn usable(&self, baseline: u32) -> Option<&BTreeMap<u32, Entity>> {
        self.states.get(&baseline).filter(|_| baseline >= self.floor)
    }

    /// A player of the baseline not marked in `changed`, predicted `k` ticks on: `x += (vx / tick_rate) * k`, the
    /// same for y, `respawn = max(respawn - k, 0)`, the rest kept. The spec states it for the velocities a server
    /// sends (multiples of the tick rate); for any other (a hostile server's) it is only defined as step 4 with no
    /// residual, `displacement(vx, vx, k)`, which is `k * vx / tick_rate` rounded half up.
    fn predict(&self, base: &[i32; MAX_FIELDS], k: u32) -> [i32; MAX_FIELDS] {
        use player_field::*;
        let rate = i128::from(self.tick_rate);
        let moved = |v: i32| match i128::from(v) % rate {
            0 => i128::from(v) / rate * i128::from(k),
            _ => displacement(v, v, k, self.tick_rate),
        };
        let mut out = *base;
        out[X] = wrap32(i128::from(base[X]) + moved(base[VX]));
        out[Y] = wrap32(i128::from(base[Y]) + moved(base[VY]));
        out[RESPAWN] = respawn_countdown(base[RESPAWN], k);
        out
    }

    /// Step 4 of the spec: a marked player's residuals `r` applied to its baseline fields, in 32-bit wrapping
    /// arithmetic: the velocity first (`r` in steps of the tick rate), the position moved by the displacement from
    /// the old velocity to the new one plus its residual, the aim in its 256 steps, the respawn counted down.
    fn add_residuals(&self, base: &[i32; MAX_FIELDS], r: &[i32; COLUMNS], k: u32) -> [i32; MAX_FIELDS] {
        use player_field::*;
        let rate = i128::from(self.tick_rate);
        let mut out = *base;
        for (v, p) in [(VX, X), (VY, Y)] {
            out[v] = wrap32(i128::from(base[v]) + i128::from(r[v]) * rate);
            out[p] = wrap32(i128::from(base[p]) + displacement(base[v], out[v], k, self.tick_rate) + i128::from(r[p]));
        }
        out[AIM] = wrap32(i128::from(base[AIM]) + i128::from(r[AIM])) & 255;
        for field in [HP, SCORE, FLAGS] {
            out[field] = wrap32(i128::from(base[field]) + i128::from(r[field]));
        }
        out[RESPAWN] = wrap32(i128::from(respawn_countdown(base[RESPAWN], k)) + i128::from(r[RESPAWN]));
        out
    }

    /// The state `snapshot` leads to (and the events and hits that are new), or the error a client must report.
    /// The checks come in the crate's order, so that errors compare equal: stale, then unsorted lists, then the
    /// baseline, then the whole `changed` stream (read before any mark is judged), then the marks in id order.
    fn apply(&mut self, snapshot: &Snapshot) -> Result<ModelApplied, ModelRefusal> {
        let tick = snapshot.tick;
        if let Some(newest) = self.newest.filter(|newest| tick <= *newest) {
            return Err((ReplicaError::Stale { tick, newest }, "refused: stale tick"));
        }
        if !strictly_ascending(snapshot.created.iter().map(|e| e.id)) || !strictly_ascending(snapshot.removed.clone()) {
            return Err((ReplicaError::Unsorted { tick }, "refused: ids out of order"));
        }
        // A refused snapshot changes nothing: the state is built aside and kept only once it is complete.
        let (base, floor) = match snapshot.baseline {
            0 => (BTreeMap::new(), self.floor),
            baseline => match self.usable(baseline) {
                Some(state) => (state.clone(), baseline),
                None => return Err((ReplicaError::MissingBaseline { tick, baseline }, "refused: missing baseline")),
            },
        };
        let ids: Vec<u32> = base.keys().copied().collect();
        let changes = read_changes(&snapshot.changed, &ids)
            .map_err(|corrupt| (ReplicaError::CorruptChanges { tick, reason: corrupt.reason() }, corrupt.note()))?;
        let removed: BTreeSet<u32> = snapshot.removed.iter().copied().collect();
        let created: BTreeSet<u32> = snapshot.created.iter().map(|e| e.id).collect();
        // "A 1 for a bullet, or for an entity that is removed or replaced, is a corrupt snapshot." (The first such
        // entity in id order is the one the crate names; `rows` are in id order.)
        for (id, _) in &changes.rows {
            let case = if removed.contains(id) {
                "refused: marks a removed entity"
            } else if created.contains(id) {
                "refused: marks a replaced entity"
            } else if base[id].kind != EntityKind::Player {
                "refused: marks a bullet"
            } else {
                continue;
            };
            return Err((ReplicaError::CannotChange { tick, id: *id }, case));
        }
        // Every surviving baseline entity predicted, or its residuals added; then the created ones, inserted or
        // replacing. (`baseline <= newest < tick`, so `k` is at least 1.)
        let k = tick - snapshot.baseline;
        let residuals: BTreeMap<u32, [i32; COLUMNS]> = changes.rows.iter().copied().collect();
        let mut state = BTreeMap::new();
        let mut predicted_motion = false;
        for (id, old) in &base {
            if removed.contains(id) || created.contains(id) {
                continue;
            }
            let mut entity = *old;
            if old.kind == EntityKind::Player {
                entity.fields = match residuals.get(id) {
                    Some(r) => self.add_residuals(&old.fields, r, k),
                    None => {
                        predicted_motion |= old.fields[player_field::VX] != 0 || old.fields[player_field::VY] != 0;
                        self.predict(&old.fields, k)
                    }
                };
            }
            state.insert(*id, entity);
        }
        for entity in &snapshot.created {
            state.insert(entity.id, Entity::from(entity));
            if let Some(name) = &entity.name {
                self.names.insert(entity.id, name.clone());
            }
        }
        let states = state
            .values()
            .map(|e| EntityState {
                id: e.id,
                kind: e.kind,
                fields: e.fields,
                name: (e.kind == EntityKind::Player).then(|| self.names.get(&e.id).cloned()).flatten(),
            })
            .collect();
        self.states.insert(tick, state);
        self.newest = Some(tick);
        self.floor = floor;
        // "Skip events whose tick is not newer than the newest event tick already handled" (and hits alike).
        let new_events: Vec<Event> =
            snapshot.events.iter().filter(|e| e.tick() > self.newest_event_tick).cloned().collect();
        self.newest_event_tick = new_events.iter().map(Event::tick).fold(self.newest_event_tick, u32::max);
        let new_hits: Vec<Hit> = snapshot.hits.iter().filter(|h| h.tick > self.newest_hit_tick).copied().collect();
        self.newest_hit_tick = new_hits.iter().map(|h| h.tick).fold(self.newest_hit_tick, u32::max);
        Ok(ModelApplied {
            states,
            new_events,
            new_hits,
            residual_rows: changes.rows.len(),
            sparse: changes.sparse,
            widest: changes.widest,
            escaped: changes.escaped,
            predicted_motion,
        })
    }
}

/// How a generated snapshot picks its tick: a step past the newest tick a client following the rules has applied
/// (0 = that tick again), or any tick.
#[derive(Clone, Debug)]
enum TickPick {
    After(u32),
    Exactly(u32),
}

/// How a generated snapshot picks its baseline: full, the newest tick a client following the rules has applied
/// (what it would acknowledge), one of the earlier snapshots' ticks, or any tick.
#[derive(Clone, Debug)]
enum BaselinePick {
    Full,
    Acked,
    Earlier(Index),
    Exactly(u32),
}

/// Ids that collide often, plus the edges of the id space.
fn loose_id() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![8 => 0u32..12, 1 => 65534u32..65540, 1 => select(&[65535u32, 65536, u32::MAX - 1, u32::MAX][..])]
}

/// A list that is sorted and free of duplicates most of the time, and arbitrary otherwise.
fn maybe_sorted<T: Debug + Clone>(
    items: impl Strategy<Value = Vec<T>>,
    id: fn(&T) -> u32,
) -> impl Strategy<Value = Vec<T>> {
    (items, prop::bool::weighted(0.95)).prop_map(move |(mut items, sorted)| {
        if sorted {
            items.sort_by_key(id);
            items.dedup_by_key(|item| id(item));
        }
        items
    })
}

/// A snapshot as a broken or hostile server might send it, before its picks are resolved against the stream.
#[derive(Clone, Debug)]
struct LooseSnapshot {
    tick: TickPick,
    baseline: BaselinePick,
    changes: StreamPlan,
    /// Gives the created players wire-valid fields (velocities multiples of the tick rate, aim 0..255), as a
    /// server sends; otherwise any.
    wire_valid: bool,
    snapshot: Snapshot,
}

/// A snapshot with anything the decoder can return, and then some (players without names, bullets with one,
/// fields past the kind's count, velocities that are no multiple of the tick rate).
fn loose_snapshot() -> impl Strategy<Value = LooseSnapshot> {
    let tick = prop_oneof![
        32 => (1u32..4).prop_map(TickPick::After),
        3 => Just(TickPick::After(0)),
        4 => (0u32..40).prop_map(TickPick::Exactly),
        1 => edge_u32().prop_map(TickPick::Exactly),
    ];
    let baseline = prop_oneof![
        3 => Just(BaselinePick::Full),
        5 => Just(BaselinePick::Acked),
        3 => any::<Index>().prop_map(BaselinePick::Earlier),
        1 => (0u32..40).prop_map(BaselinePick::Exactly),
    ];
    let entity =
        (loose_id(), any::<bool>(), fields(), prop::option::of(text(0..6))).prop_map(|(id, player, fields, name)| {
            EntityState {
                id,
                kind: if player { EntityKind::Player } else { EntityKind::Bullet },
                fields,
                name: name.map(Arc::from),
            }
        });
    let hit = (prop_oneof![3 => 0u32..40, 1 => edge_u32()], loose_id()).prop_map(|(tick, victim)| Hit { tick, victim });
    (
        (tick, baseline, any::<bool>()),
        maybe_sorted(vec(entity, 0..6), |e: &EntityState| e.id),
        stream_plan(),
        maybe_sorted(vec(loose_id(), 0..6), |id: &u32| *id),
        vec(event(loose_id()), 0..4),
        vec(hit, 0..3),
        own(),
    )
        .prop_map(|((tick, baseline, wire_valid), created, changes, removed, events, hits, own)| {
            let snapshot = Snapshot { created, removed, events, hits, own, ..Snapshot::default() };
            LooseSnapshot { tick, baseline, changes, wire_valid, snapshot }
        })
}

/// A stream of loose snapshots at a tick rate, with their picks resolved: ticks after the newest applied one,
/// baselines among the earlier ticks (often the one a client would acknowledge), and a `changed` written by
/// `write_changes` against the state the baseline resolves to (as far as the rules go; none when it is missing).
fn loose_stream() -> impl Strategy<Value = (u32, Vec<Snapshot>)> {
    (select(&LOOSE_RATES[..]), vec(loose_snapshot(), 1..24)).prop_map(|(tick_rate, picks)| {
        let mut ticks: Vec<u32> = Vec::new();
        let mut client = ReplicaModel::new(tick_rate);
        let stream = picks
            .into_iter()
            .map(|LooseSnapshot { tick, baseline, changes, wire_valid, mut snapshot }| {
                let previous = client.newest.unwrap_or(0);
                snapshot.tick = match tick {
                    TickPick::After(step) => previous.saturating_add(step),
                    TickPick::Exactly(tick) => tick,
                };
                snapshot.baseline = match baseline {
                    BaselinePick::Full => 0,
                    BaselinePick::Acked => client.newest.unwrap_or(0),
                    BaselinePick::Earlier(_) if ticks.is_empty() => 0,
                    BaselinePick::Earlier(index) => *index.get(&ticks),
                    BaselinePick::Exactly(tick) => tick,
                };
                for entity in snapshot.created.iter_mut().filter(|e| wire_valid && e.kind == EntityKind::Player) {
                    for field in [player_field::VX, player_field::VY] {
                        entity.fields[field] = wire_velocity(entity.fields[field] >> 2, tick_rate).0;
                    }
                    entity.fields[player_field::AIM] &= 255;
                }
                let base: Vec<(u32, EntityKind)> = match snapshot.baseline {
                    0 => vec![],
                    baseline => client.usable(baseline).into_iter().flatten().map(|(id, e)| (*id, e.kind)).collect(),
                };
                snapshot.changed = write_changes(&changes, &base, &mut snapshot.created, &mut snapshot.removed);
                ticks.push(snapshot.tick);
                let _ = client.apply(&snapshot);
                snapshot
            })
            .collect();
        (tick_rate, stream)
    })
}

/// The client's `Replica` on inconsistent snapshot streams, at tick rates from 1 to 65535: stale and repeated
/// ticks, baselines it never had or already dropped, ids out of order and duplicated, one id in created and
/// removed, ids at the edges of `u32`, players whose velocity is no multiple of the tick rate, deltas spanning up
/// to `u32::MAX` ticks; and `changed` streams written against the baseline: empty, residuals of any size for the
/// players that survive (columns dense or sparse, wider than needed, up to 32 bits), marks on a bullet, a removed
/// or a replaced entity, and streams cut short, with a byte after the end, a column width of 33..63, set padding
/// bits, marking nothing, or random. It never panics, and each snapshot gives exactly the state (or the
/// `ReplicaError`), the new events and the new hits that the model of the v6 rules gives; a refused snapshot
/// changes nothing.
#[test]
fn replica_on_inconsistent_streams() {
    let required = [
        Seen::Applied,
        Seen::ReplicaRefused,
        Seen::Note("applied a full snapshot"),
        Seen::Note("applied a delta with residuals"),
        Seen::Note("applied a delta with a sparse column"),
        Seen::Note("applied a delta with a 32-bit column"),
        Seen::Note("applied a delta with an escaped value"),
        Seen::Note("applied a delta predicting a moving player"),
        Seen::Note("refused: stale tick"),
        Seen::Note("refused: ids out of order"),
        Seen::Note("refused: missing baseline"),
        Seen::Note("refused: changed ends early"),
        Seen::Note("refused: a column wider than 32 bits"),
        Seen::Note("refused: a short width over its column's width"),
        Seen::Note("refused: a byte after the last column"),
        Seen::Note("refused: non-zero padding"),
        Seen::Note("refused: changed marks nothing"),
        Seen::Note("refused: marks a bullet"),
        Seen::Note("refused: marks a removed entity"),
        Seen::Note("refused: marks a replaced entity"),
    ];
    check("replica_on_inconsistent_streams", loose_stream(), &required, |(tick_rate, stream), tally| {
        let mut replica = Replica::new(tick_rate);
        let mut model = ReplicaModel::new(tick_rate);
        for snapshot in &stream {
            let before = replica.latest_states();
            let result = replica.apply(snapshot);
            tally.apply(&result);
            let expected = model.apply(snapshot);
            match (result, expected) {
                (Ok(applied), Ok(expected)) => {
                    if snapshot.baseline == 0 {
                        tally.note("applied a full snapshot");
                    }
                    if expected.residual_rows > 0 {
                        tally.note("applied a delta with residuals");
                    }
                    if expected.sparse {
                        tally.note("applied a delta with a sparse column");
                    }
                    if expected.widest == 32 {
                        tally.note("applied a delta with a 32-bit column");
                    }
                    if expected.escaped {
                        tally.note("applied a delta with an escaped value");
                    }
                    if expected.predicted_motion {
                        tally.note("applied a delta predicting a moving player");
                    }
                    prop_assert_eq!(applied.tick, snapshot.tick);
                    prop_assert_eq!(
                        replica.latest_states(),
                        Some((snapshot.tick, expected.states)),
                        "after {:?}",
                        snapshot
                    );
                    prop_assert_eq!(applied.new_events, expected.new_events, "after {:?}", snapshot);
                    prop_assert_eq!(applied.new_hits, expected.new_hits, "after {:?}", snapshot);
                }
                (Err(error), Err((expected, case))) => {
                    tally.note(case);
                    prop_assert_eq!(error, expected, "after {:?}", snapshot);
                    prop_assert_eq!(replica.latest_states(), before, "a refused snapshot changed the replica");
                }
                (got, expected) => {
                    let expected = expected.map(|applied| applied.states);
                    prop_assert!(false, "{:?}: got {:?}, the rules give {:?}", snapshot, got, expected)
                }
            }
        }
        Ok(())
    });
}

/// One change to the generated world in a tick.
#[derive(Clone, Debug)]
enum WorldOp {
    /// Sets one field of a live player to a value the wire can carry: a velocity through `wire_velocity` (a
    /// multiple of the tick rate), an aim masked to 0..255, any other field as it is. (Bullets never change.)
    Touch {
        at: Index,
        field: usize,
        value: i32,
    },
    /// A new entity; an id in use is reused by the new entity (a new generation), as a slab slot is.
    Spawn {
        id: u32,
        player: bool,
        fields: [i32; MAX_FIELDS],
        name: String,
    },
    Despawn(Index),
    Kill,
    Leave,
    /// One of the client's bullets hits someone: a hit confirmation for its snapshots.
    Hit,
}

/// One tick of the generated session: the world's changes and what the network does to this tick's frame.
#[derive(Clone, Debug)]
struct TickScript {
    ops: Vec<WorldOp>,
    frame_lost: bool,
    /// Ticks the client's acknowledgement of this frame spends in flight; `None` if it is lost.
    ack_delay: Option<u32>,
    /// With interest management: bit `i % 64` set hides the `i`th live entity from the client this tick.
    hidden: u64,
}

fn tick_script() -> impl Strategy<Value = TickScript> {
    let id = prop_oneof![
        4 => 1u32..24,
        3 => 65536u32..65560,
        1 => select(&[0u32, 65535, u32::MAX - 1, u32::MAX][..]),
    ];
    // Velocities of a game (a few hundred units per second, in 1/16 units) and of every size.
    let value = prop_oneof![2 => edge_i32(), 1 => -5000i32..5000];
    let op = prop_oneof![
        6 => (any::<Index>(), 0usize..MAX_FIELDS, value)
            .prop_map(|(at, field, value)| WorldOp::Touch { at, field, value }),
        3 => (id, any::<bool>(), fields(), text(0..8))
            .prop_map(|(id, player, fields, name)| WorldOp::Spawn { id, player, fields, name }),
        2 => any::<Index>().prop_map(WorldOp::Despawn),
        1 => Just(WorldOp::Kill),
        1 => Just(WorldOp::Leave),
        1 => Just(WorldOp::Hit),
    ];
    let ack_delay = prop_oneof![1 => Just(None), 4 => (0u32..4).prop_map(Some)];
    // Views change a little from tick to tick in a game; here they are drawn afresh, which is harsher.
    let hidden = prop_oneof![1 => Just(0u64), 1 => Just(u64::MAX), 4 => any::<u64>()];
    (vec(op, 0..5), prop::bool::weighted(0.3), ack_delay, hidden)
        .prop_map(|(ops, frame_lost, ack_delay, hidden)| TickScript { ops, frame_lost, ack_delay, hidden })
}

/// What the server remembers about the one client, with the room's rules for acknowledgements.
#[derive(Default)]
struct ClientView {
    acked: u32,
    last_sent: u32,
}

impl ClientView {
    fn acknowledge(&mut self, tick: u32) {
        if tick > self.acked && tick <= self.last_sent {
            self.acked = tick;
        }
    }
}

/// A player's field as the wire has it at `tick_rate`: a velocity rounded to a multiple of the tick rate (by
/// `wire_velocity`, of a value within +-2^29, so that no velocity change overflows an `i32`), an aim in 0..255.
fn wire_field(field: usize, value: i32, tick_rate: u32) -> i32 {
    match field {
        player_field::VX | player_field::VY => wire_velocity(value >> 2, tick_rate).0,
        player_field::AIM => value & 255,
        _ => value,
    }
}

/// Appends what follows a snapshot's `created, changed, removed` as the room writes it (`send_snapshots`): the
/// events after the baseline (the end of the shared body), then the client's own hits after the baseline and its
/// `own` element.
fn write_tail(frame: &mut Vec<u8>, events: &[&Event], hits: &[Hit], own: Option<[i32; 2]>) {
    use rmp::encode::{write_array_len, write_sint, write_uint};
    // Writing to a Vec cannot fail.
    let _ = write_array_len(frame, events.len() as u32);
    for event in events {
        codec::append(frame, *event);
    }
    let _ = write_array_len(frame, hits.len() as u32);
    for hit in hits {
        let _ = write_array_len(frame, 2);
        let _ = write_uint(frame, u64::from(hit.tick));
        let _ = write_uint(frame, u64::from(hit.victim));
    }
    let own = own.as_ref().map_or(&[][..], |own| &own[..]);
    let _ = write_array_len(frame, own.len() as u32);
    for &value in own {
        let _ = write_sint(frame, i64::from(value));
    }
}

/// A consistent stream: a random evolving world at a tick rate of 20, 30 or 60 (sometimes 1, 7 or 128) whose
/// players move on at their velocity every tick and hold wire-valid values (velocities multiples of the tick rate,
/// aims 0..255; fields set to any such value, spawns, despawns, ids reused by new entities with a new generation,
/// ids at the edges of `u32`, kill and leave events, hits on the client's behalf) goes through the server's own
/// `SnapshotHistory` (random size up to the room's 64), a `DeltaWriter` reused across ticks as the room's is (its
/// output held byte for byte to a fresh `encode_delta`) against the acknowledged baseline, the `EventLog`, and the
/// room's message layout (header, body, events, hits, `own`), then over a network that loses frames and loses or
/// delays acknowledgements. Every frame that arrives decodes (its `own` the client's), applies, and rebuilds
/// exactly the server's entities, and every event and hit arrives at most once, in order, and at the latest with
/// the first applied snapshot whose range covers it.
///
/// With interest management on (half the sessions), the client sees a different subset of the world each tick
/// and the room's interest path encodes it: `View::subset` of the current snapshot against the client's own past
/// view at its baseline, after a second client's full view of the same tick through the same `DeltaWriter` (so
/// the subset reuses the `created` records it encoded), which must decode to the whole world. The replica must
/// then rebuild exactly the visible subset.
#[test]
fn replica_rebuilds_consistent_streams() {
    let tick_rate = prop_oneof![3 => select(&[20u32, 30, 60][..]), 1 => select(&[1u32, 7, 128][..])];
    // The client is a spectator (`own` is []) or the player of an id that comes and goes.
    let own_id = prop::option::of(1u32..24);
    let session = (1usize..=64, any::<bool>(), tick_rate, own_id, vec(tick_script(), 1..50));
    let required = [
        Seen::Decoded,
        Seen::Applied,
        Seen::Note("interest frames"),
        Seen::Note("interest deltas"),
        Seen::Note("delta with residuals"),
        Seen::Note("delta with nothing changed"),
        Seen::Note("snapshot with own"),
        Seen::Note("non-empty changed"),
        Seen::Note("hit delivered"),
    ];
    let name = "replica_rebuilds_consistent_streams";
    check(name, session, &required, |(history_size, interest, tick_rate, own_id, ticks), tally| {
        let mut live: Vec<(EntityState, u32)> = Vec::new();
        let mut generation = 0u32;
        let mut serial = 0u32;
        let mut history = SnapshotHistory::new(history_size);
        let mut events = EventLog::default();
        let mut hits: Vec<Hit> = Vec::new();
        let mut view = ClientView::default();
        let mut acks_in_flight: Vec<(u32, u32)> = Vec::new();
        let mut writer = DeltaWriter::default();
        let mut replica = Replica::new(tick_rate);
        let mut delivered: Vec<Event> = Vec::new();
        let mut delivered_hits: Vec<Hit> = Vec::new();
        // Interest management: what the client was shown at each tick it was sent.
        let mut seen: Vec<(u32, Vec<u32>)> = Vec::new();

        for (index, script) in ticks.iter().enumerate() {
            let tick = index as u32 + 1;
            // Steady motion: each player moves on at its velocity, its respawn countdown runs down.
            for (entity, _) in live.iter_mut().filter(|(e, _)| e.kind == EntityKind::Player) {
                let f = &mut entity.fields;
                f[player_field::X] = f[player_field::X].wrapping_add(f[player_field::VX] / tick_rate as i32);
                f[player_field::Y] = f[player_field::Y].wrapping_add(f[player_field::VY] / tick_rate as i32);
                f[player_field::RESPAWN] = f[player_field::RESPAWN].saturating_sub(1).max(0);
            }
            let mut happened = Vec::new();
            for op in &script.ops {
                match op {
                    WorldOp::Touch { at, field, value } => {
                        let players: Vec<usize> =
                            (0..live.len()).filter(|&i| live[i].0.kind == EntityKind::Player).collect();
                        if !players.is_empty() {
                            let entity = &mut live[*at.get(&players)].0;
                            entity.fields[*field] = wire_field(*field, *value, tick_rate);
                        }
                    }
                    WorldOp::Spawn { id, player, fields, name } => {
                        let kind = if *player { EntityKind::Player } else { EntityKind::Bullet };
                        let mut fields = *fields;
                        fields[kind.field_count()..].fill(0);
                        if *player {
                            for (field, value) in fields.iter_mut().enumerate() {
                                *value = wire_field(field, *value, tick_rate);
                            }
                        }
                        let entity = EntityState { id: *id, kind, fields, name: player.then(|| Arc::from(&**name)) };
                        generation += 1;
                        match live.binary_search_by_key(id, |(e, _)| e.id) {
                            Ok(slot) => live[slot] = (entity, generation),
                            Err(slot) => live.insert(slot, (entity, generation)),
                        }
                    }
                    WorldOp::Despawn(at) if !live.is_empty() => {
                        live.remove(at.index(live.len()));
                    }
                    WorldOp::Kill | WorldOp::Leave => {
                        serial += 1;
                        let player = PlayerId { slot: serial, generation: 0 };
                        let event = match op {
                            WorldOp::Kill => GameEvent::Kill { killer: player, victim: player },
                            _ => GameEvent::Leave { player },
                        };
                        happened.push(TimedEvent { tick, event });
                    }
                    WorldOp::Hit => {
                        serial += 1;
                        hits.push(Hit { tick, victim: serial });
                    }
                    _ => {}
                }
            }
            let current = Arc::new(WorldSnapshot::from_entities(tick, live.clone()));
            history.push(current.clone());
            events.record(happened);
            if let Some(oldest) = history.oldest_tick() {
                events.forget_through(oldest.saturating_sub(1));
                // Hits no baseline can reach any more are forgotten, as the room does.
                hits.retain(|hit| hit.tick >= oldest);
            }

            // The room: take the acknowledgements that arrived, pick the baseline, encode header and body.
            acks_in_flight.retain(|&(arrival, ack)| {
                if arrival <= tick {
                    view.acknowledge(ack);
                }
                arrival > tick
            });
            let visible: Vec<u32> = (0..current.entities.len() as u32)
                .filter(|&i| !interest || script.hidden & (1 << (i % 64)) == 0)
                .collect();
            writer.begin_tick(&current);
            let mut body = Vec::new();
            let baseline = if interest {
                let base = match (history.get(view.acked), seen.iter().find(|(t, _)| *t == view.acked)) {
                    (Some(snapshot), Some((_, shown))) => Some(View::subset(snapshot, shown)),
                    _ => None,
                };
                let now = View::subset(&current, &visible);
                // Another client, seeing everything in full, encoded first through the same writer: the subset's
                // `created` entries then come from the records it encoded.
                let mut other = Vec::new();
                writer.write(&mut other, None, View::all(&current), tick_rate);
                writer.write(&mut body, base, now, tick_rate);
                prop_assert_eq!(&body, &encode_delta(base, now, tick_rate), "tick {}: the reused writer", tick);
                let mut full = Vec::new();
                codec::encode_snapshot_header(&mut full, tick, 0, 0);
                full.extend(&other);
                write_tail(&mut full, &events.between(0, tick).collect::<Vec<_>>(), &[], None);
                match codec::decode_server(&full) {
                    Ok(ServerMessage::Snapshot(snapshot)) => {
                        prop_assert_eq!(&snapshot.created, &current.entities, "tick {}: the other client", tick);
                        prop_assert!(snapshot.changed.is_empty() && snapshot.removed.is_empty());
                    }
                    other => return Err(TestCaseError::fail(format!("tick {tick}: the full view is {other:?}"))),
                }
                let baseline = base.map_or(0, |base| base.tick());
                seen.push((tick, visible.clone()));
                tally.note("interest frames");
                baseline
            } else {
                let base = history.get(view.acked).map(|snapshot| View::all(snapshot));
                writer.write(&mut body, base, View::all(&current), tick_rate);
                let fresh = encode_delta(base, View::all(&current), tick_rate);
                prop_assert_eq!(&body, &fresh, "tick {}: the reused writer", tick);
                base.map_or(0, |base| base.tick())
            };
            if interest && baseline != 0 {
                tally.note("interest deltas");
            }
            let mut frame = Vec::new();
            codec::encode_snapshot_header(&mut frame, tick, baseline, 0);
            frame.extend(&body);
            let carried: Vec<&Event> = events.between(baseline, tick).collect();
            let carried_hits: Vec<Hit> = hits.iter().filter(|hit| hit.tick > baseline).copied().collect();
            let own = own_id.and_then(|id| current.velocity_rest(id));
            write_tail(&mut frame, &carried, &carried_hits, own);
            view.last_sent = tick;
            if script.frame_lost {
                continue;
            }

            // The client.
            let decoded = codec::decode_server(&frame);
            tally.decode(&decoded);
            if let Ok(message) = &decoded {
                note_server_cases(message, tally);
            }
            let snapshot = match decoded {
                Ok(ServerMessage::Snapshot(snapshot)) => snapshot,
                other => return Err(TestCaseError::fail(format!("tick {tick}: the frame decodes to {other:?}"))),
            };
            // A player's own entity has no rounding rest here (`from_entities`); a spectator's `own` is [].
            let own_live = own_id.filter(|id| current.entity(*id).is_some());
            prop_assert_eq!(snapshot.own, own_live.map(|_| [0, 0]), "tick {}: own", tick);
            if baseline != 0 {
                let case =
                    if snapshot.changed.is_empty() { "delta with nothing changed" } else { "delta with residuals" };
                tally.note(case);
            }
            let applied = replica.apply(&snapshot);
            tally.apply(&applied);
            let applied = applied.map_err(|error| TestCaseError::fail(format!("tick {tick}: {error}")))?;
            let expected: Vec<EntityState> = visible.iter().map(|&i| current.entities[i as usize].clone()).collect();
            prop_assert_eq!(replica.latest_states(), Some((tick, expected)), "tick {}", tick);
            for event in applied.new_events {
                prop_assert!(!delivered.contains(&event), "tick {}: {:?} delivered twice", tick, event);
                prop_assert!(delivered.last().is_none_or(|last| last.tick() <= event.tick()), "out of order");
                delivered.push(event);
            }
            for event in carried {
                prop_assert!(delivered.contains(event), "tick {}: {:?} carried but never delivered", tick, event);
            }
            for hit in applied.new_hits {
                prop_assert!(!delivered_hits.contains(&hit), "tick {}: {:?} delivered twice", tick, hit);
                prop_assert!(delivered_hits.last().is_none_or(|last| last.tick <= hit.tick), "hits out of order");
                delivered_hits.push(hit);
                tally.note("hit delivered");
            }
            for hit in &carried_hits {
                prop_assert!(delivered_hits.contains(hit), "tick {}: {:?} carried but never delivered", tick, hit);
            }
            if let Some(delay) = script.ack_delay {
                acks_in_flight.push((tick + 1 + delay, tick));
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Fixed cases: each deviation from the v6 spec this suite once found in the crate, now fixed, as its reproducer.

/// A frame in hex, bytes separated by spaces.
fn hex(frame: &str) -> Vec<u8> {
    frame.split(' ').map(|byte| u8::from_str_radix(byte, 16).expect("a hex byte")).collect()
}

/// A snapshot-shaped frame `decode_server` must refuse with 1007 (and does, as the lean decoder does, under the
/// whole contract of `check_server_frame`).
fn assert_snapshot_refused(frame: &str) {
    let bytes = hex(frame);
    assert!(codec::is_snapshot(&bytes), "{frame} opens like a snapshot");
    let mut lean = Snapshot::default();
    let lean = codec::decode_snapshot_into(&bytes, &mut lean);
    assert_eq!(lean.map_err(|error| error.close_code()), Err(close_code::INVALID_PAYLOAD), "{frame}: lean decoder");
    let decoded = codec::decode_server(&bytes);
    assert!(
        matches!(&decoded, Err(error) if error.close_code() == close_code::INVALID_PAYLOAD),
        "{frame} decodes to {decoded:?}"
    );
    if let Err(error) = check_server_frame(&bytes, &Tally::default()) {
        panic!("{frame}: {error}");
    }
}

/// A str of one non-UTF-8 byte as `changed`: no bin, refused (the general decoder took it as the bin `ff`).
#[test]
fn regression_non_utf8_str_as_changed_refused() {
    assert_snapshot_refused("9a 02 01 00 00 90 a1 ff 90 90 90 90");
}

/// A bin of 2 bytes as `own`: not `[]` or `[int, int]`, refused (the general decoder took it as `[0, 0]`).
#[test]
fn regression_bin_as_own_refused() {
    assert_snapshot_refused("9a 02 01 00 00 90 c4 00 90 90 90 c4 02 00 00");
}

/// A bin of 1 byte as `removed`: not an array, refused (the general decoder took it as `[7]`).
#[test]
fn regression_bin_as_removed_refused() {
    assert_snapshot_refused("9a 02 01 00 00 90 c4 00 c4 01 07 90 90 90");
}

fn player(id: u32, fields: [i32; MAX_FIELDS]) -> EntityState {
    EntityState { id, kind: EntityKind::Player, fields, name: None }
}

/// Applies `snapshots` in turn to a fresh replica and to the model at `tick_rate`, which must both apply each;
/// returns the replica's latest state, after checking it is the model's.
fn replica_after(tick_rate: u32, snapshots: &[Snapshot]) -> (u32, Vec<EntityState>) {
    let (mut replica, mut model) = (Replica::new(tick_rate), ReplicaModel::new(tick_rate));
    let mut expected = None;
    for snapshot in snapshots {
        replica.apply(snapshot).unwrap_or_else(|error| panic!("{snapshot:?}: {error}"));
        expected = Some((snapshot.tick, model.apply(snapshot).unwrap_or_else(|(error, _)| panic!("{error}")).states));
    }
    let latest = replica.latest_states().expect("a snapshot applied");
    assert_eq!(Some(&latest), expected.as_ref(), "the replica against the model");
    latest
}

/// A `changed` stream marking the first player of `base` (all players) with residuals `r`.
fn mark_first(base: &[EntityState], r: [i32; COLUMNS]) -> Vec<u8> {
    let kinds: Vec<(u32, EntityKind)> = base.iter().map(|e| (e.id, e.kind)).collect();
    let plan = ResidualPlan {
        marks: 1,
        rows: vec![r],
        extra_width: [0; COLUMNS],
        sparse: [None; COLUMNS],
        short_cut: [0; COLUMNS],
        bad_mark: None,
        corruption: None,
    };
    write_changes(&StreamPlan::Residuals(plan), &kinds, &mut vec![], &mut vec![])
}

/// Prediction keeps a player's aim, whatever its value: x, y and respawn are all it changes. (It wrapped an aim
/// outside 0..255, here -1 to 255.)
#[test]
fn regression_predicted_aim_kept() {
    let full =
        Snapshot { tick: 1, created: vec![player(2, [100, 200, 60, -30, -1, 100, 7, 0, 0])], ..Snapshot::default() };
    let delta = Snapshot { tick: 2, baseline: 1, ..Snapshot::default() };
    let (tick, states) = replica_after(30, &[full, delta]);
    assert_eq!((tick, states), (2, vec![player(2, [102, 199, 60, -30, -1, 100, 7, 0, 0])]));
}

/// The respawn countdown is `max(respawn - k, 0)` for any `k`, predicted or with residuals. (Over `k > i32::MAX`
/// ticks it counted up: 5 over 2^31 ticks gave `i32::MAX`.)
#[test]
fn regression_respawn_countdown_over_2_31_ticks() {
    let base = vec![player(1, [100, 200, 0, 0, 0, 100, 0, 5, 0])];
    let full = Snapshot { tick: 1, created: base.clone(), ..Snapshot::default() };
    let tick = 1 + (1u32 << 31);
    let delta = Snapshot { tick, baseline: 1, ..Snapshot::default() };
    let (_, states) = replica_after(30, &[full.clone(), delta]);
    assert_eq!(states, vec![player(1, [100, 200, 0, 0, 0, 100, 0, 0, 0])], "predicted");
    let mut r = [0; COLUMNS];
    r[player_field::HP] = -1;
    let delta = Snapshot { tick, baseline: 1, changed: mark_first(&base, r), ..Snapshot::default() };
    let (_, states) = replica_after(30, &[full, delta]);
    assert_eq!(states, vec![player(1, [100, 200, 0, 0, 0, 99, 0, 0, 0])], "with residuals");
}

/// `wire_velocity` at the ends of `i32`: no overflow, a multiple of the tick rate, and its two parts add back to
/// the velocity.
#[test]
fn regression_wire_velocity_ends_of_i32() {
    for tick_rate in [30, 1, 7, 60, 128, 65535] {
        for velocity in [i32::MIN, i32::MIN + 1, i32::MAX - 1, i32::MAX] {
            let (rounded, rest) = wire_velocity(velocity, tick_rate);
            assert_eq!(i64::from(rounded) + i64::from(rest), i64::from(velocity), "{velocity} at {tick_rate}");
            assert_eq!(rounded % tick_rate as i32, 0, "{velocity} at {tick_rate}: {rounded}");
        }
    }
}

/// `displacement` is exact (in `i128`), then wrapped to 32 bits, however large `k` and the velocities are; so is a
/// position predicted or moved with residuals over such a delta. (The spec now says so; the crate's code already
/// computed it so, and this pins it.)
#[test]
fn regression_displacement_exact() {
    use skirmish::snapshot::delta;
    // (2^32 - 1) * (2^31 - 1) = -(2^31 - 1) modulo 2^32.
    assert_eq!(delta::displacement(i32::MAX, i32::MAX, u32::MAX, 1), i32::MIN + 1);
    for (from, to, k, tick_rate) in [
        (i32::MAX, i32::MAX, u32::MAX, 1),
        (i32::MIN, i32::MIN, u32::MAX, 1),
        (i32::MIN, i32::MAX, u32::MAX, 7),
        (i32::MAX, i32::MIN, u32::MAX - 1, 65535),
        (i32::MIN, i32::MAX, 1 << 31, 30),
    ] {
        let exact = wrap32(displacement(from, to, k, tick_rate));
        assert_eq!(delta::displacement(from, to, k, tick_rate), exact, "{from} to {to} over {k} at {tick_rate}");
    }
    // Through the replica, over `i32::MAX` ticks (no more, so that only the displacement is at stake here, not the
    // respawn countdown): player 1 marked (its vx one step down), player 2 predicted; velocities no multiple of 7.
    let base = vec![
        player(1, [100, -100, i32::MAX, i32::MIN, 0, 1, 0, 0, 0]),
        player(2, [5, 6, i32::MIN, i32::MAX, 0, 1, 0, 0, 0]),
    ];
    let full = Snapshot { tick: 1, created: base.clone(), ..Snapshot::default() };
    let mut r = [0; COLUMNS];
    (r[player_field::X], r[player_field::VX], r[player_field::VY]) = (3, -1, 1);
    let k = i32::MAX as u32;
    let later = Snapshot { tick: 1 + k, baseline: 1, changed: mark_first(&base, r), ..Snapshot::default() };
    let (_, states) = replica_after(7, &[full, later]);
    let (vx, vy) = (i32::MAX - 7, i32::MIN + 7);
    let x = wrap32(100 + displacement(i32::MAX, vx, k, 7) + 3);
    let y = wrap32(-100 + displacement(i32::MIN, vy, k, 7));
    let x2 = wrap32(5 + displacement(i32::MIN, i32::MIN, k, 7));
    let y2 = wrap32(6 + displacement(i32::MAX, i32::MAX, k, 7));
    assert_eq!(
        states,
        vec![player(1, [x, y, vx, vy, 0, 1, 0, 0, 0]), player(2, [x2, y2, i32::MIN, i32::MAX, 0, 1, 0, 0, 0])]
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Close frames: the client's parser.

/// `client::parse_close` on arbitrary payloads and on real ones: it never panics, an empty or one-byte payload is
/// 1005 with no reason, a longer one yields its big-endian code and its reason (exactly when it is UTF-8, with
/// replacement characters otherwise).
#[test]
fn close_frame_parser_on_arbitrary_payloads() {
    let payloads = prop_oneof![
        vec(any::<u8>(), 0..200),
        vec(any::<u8>(), 0..2),
        (any::<u16>(), text(0..60)).prop_map(|(code, reason)| [&code.to_be_bytes()[..], reason.as_bytes()].concat()),
    ];
    let kinds = [Seen::Note("UTF-8 reason"), Seen::Note("non-UTF-8 reason"), Seen::Note("no code")];
    check("close_frame_parser_on_arbitrary_payloads", payloads, &kinds, |payload, tally| {
        let (code, reason) = parse_close(&payload);
        match payload.as_slice() {
            [a, b, rest @ ..] => {
                prop_assert_eq!(code, u16::from_be_bytes([*a, *b]));
                match std::str::from_utf8(rest) {
                    Ok(text) => {
                        tally.note("UTF-8 reason");
                        prop_assert_eq!(reason, text)
                    }
                    Err(_) => {
                        tally.note("non-UTF-8 reason");
                        prop_assert!(reason.contains(char::REPLACEMENT_CHARACTER))
                    }
                }
            }
            _ => {
                tally.note("no code");
                prop_assert_eq!((code, reason), (1005, String::new()))
            }
        }
        Ok(())
    });
}

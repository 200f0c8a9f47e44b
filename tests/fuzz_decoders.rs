//! Property-based fuzzing of every decoder that reads bytes from the network, and of the client's replica that
//! consumes what they decode:
//!
//! - the server's `codec::decode_client`, on arbitrary bytes and on mutated valid client messages;
//! - the client's `codec::decode_server`, on arbitrary bytes and on mutated valid server messages;
//! - the client's `snapshot::Replica`, on inconsistent snapshot streams (checked against PROTOCOL.md's rules for
//!   applying snapshots) and on consistent ones built by the server's own history, `diff`/`full` and encoder, which
//!   it must rebuild exactly;
//! - the client's `client::parse_close`, on arbitrary close-frame payloads.
//!
//! A decoder that panics, aborts (a stack overflow) or answers outside its contract fails the property; proptest
//! then shrinks the input to a minimal one and prints it.
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
use std::collections::{BTreeMap, HashMap};
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
    player_field, ClientMessage, EntityKind, EntityState, Event, FieldDelta, Hit, Input, Join, MapInfo, Role, RoomInfo,
    RoomOptions, RosterEntry, RulesInfo, ServerMessage, SessionInfo, Snapshot, Welcome, BUTTON_FIRE, MAX_FIELDS,
    PROTOCOL_VERSION,
};
use skirmish::sim::{GameEvent, PlayerId, TimedEvent};
use skirmish::snapshot::{
    self, Entity, EventLog, Replica, ReplicaError, SharedRecords, SnapshotHistory, View, WorldSnapshot,
};

/// The server's default limit on a client message (`--max-message-bytes`): 512 since v4, so that a chat line of
/// 120 four-byte characters (484 bytes framed) fits.
const LIMIT: usize = 512;

/// The mask bit of the widest field (a player's `flags`, new in v4): the first bit past a `u8` mask.
const FLAGS_BIT: u16 = 1 << player_field::FLAGS;

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
    // By tag: v4's view (3) and chat (1); roster (2) and chat event (4).
    const CLIENT_ARITY: [usize; 7] = [0, 2, 6, 1, 1, 3, 1];
    const SERVER_ARITY: [usize; 7] = [0, 6, 7, 1, 2, 2, 4];
    let tag = prop_oneof![9 => 1u8..=6, 1 => Just(0u8), 1 => 7u8..=255];
    let arity = prop_oneof![3 => Just(Some(&CLIENT_ARITY)), 2 => Just(Some(&SERVER_ARITY)), 1 => Just(None)];
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
    &[0x95, 0x01, 0x05, 0xa0, 0x91, 0x01],             // a v5 hello with a join, then the auth token
    &[0x94, 0x01, 0x05, 0xa0, 0x93, 0x05],             // a resume, then the resume token
    &[0x96, 0x01, 0x05, 0xa0, 0x91, 0x01, 0xa1, b'x'], // a hello with auth, then an extra element to skip
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
    // Bombs are all refused: by size (1009) when over the limit, by depth or shape (1007) otherwise.
    let refusals = [Seen::Refused1007, Seen::Refused1009];
    check("client_decoder_on_nesting_bombs", frames, &refusals, |(bytes, limit), tally| {
        check_client_frame(&bytes, limit, tally)
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Server messages: the client's decoder.

/// Every field of an entity of any kind (a player's 9, its v4 `flags` included), each over the range of `i32`.
fn fields() -> impl Strategy<Value = [i32; MAX_FIELDS]> {
    prop::array::uniform::<_, MAX_FIELDS>(edge_i32())
}

/// A created entity exactly as the decoder would return it: fields beyond the kind's count are 0, only players
/// have a name.
fn entity_state(id: impl Strategy<Value = u32>) -> impl Strategy<Value = EntityState> {
    (id, any::<bool>(), fields(), text(0..20)).prop_map(|(id, player, mut fields, name)| {
        let kind = if player { EntityKind::Player } else { EntityKind::Bullet };
        fields[kind.field_count()..].fill(0);
        EntityState { id, kind, fields, name: player.then(|| Arc::from(name)) }
    })
}

/// Masks of the `MAX_FIELDS` bits a `FieldDelta` can carry, bit 8 (a player's `flags`, past a `u8`) and the
/// edges around it more often than chance would pick them.
fn delta_mask() -> impl Strategy<Value = u16> + Clone {
    let edges = [0u16, 1, 0x7f, 0x80, 0xff, FLAGS_BIT, FLAGS_BIT | 1, FLAGS_BIT | 0x80, (FLAGS_BIT << 1) - 1];
    prop_oneof![3 => 0u16..FLAGS_BIT << 1, 1 => select(edges.to_vec())]
}

/// A field delta with any mask (bits past an entity's field count included); fields outside the mask are 0, as
/// decoded.
fn field_delta(id: impl Strategy<Value = u32>) -> impl Strategy<Value = FieldDelta> {
    (id, delta_mask(), fields()).prop_map(|(id, mask, mut fields)| {
        for (index, field) in fields.iter_mut().enumerate() {
            if mask & (1 << index) == 0 {
                *field = 0;
            }
        }
        FieldDelta { id, mask, fields }
    })
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

fn snapshot_message() -> impl Strategy<Value = Snapshot> {
    (
        (edge_u32(), edge_u32(), edge_u32()),
        vec(entity_state(edge_u32()), 0..6),
        vec(field_delta(edge_u32()), 0..6),
        vec(edge_u32(), 0..6),
        vec(event(edge_u32()), 0..4),
        vec((edge_u32(), edge_u32()).prop_map(|(tick, victim)| Hit { tick, victim }), 0..4),
    )
        .prop_map(|((tick, baseline, last_input_seq), created, changed, removed, events, hits)| Snapshot {
            tick,
            baseline,
            last_input_seq,
            created,
            changed,
            removed,
            events,
            hits,
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

/// A full snapshot a fresh replica accepts: baseline 0, entities in ascending id order, nothing changed or removed.
fn full_snapshot() -> impl Strategy<Value = Snapshot> {
    (1u32..u32::MAX, edge_u32(), vec(entity_state(edge_u32()), 0..6)).prop_map(|(tick, last_input_seq, mut created)| {
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
        }
    })
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

/// A snapshot frame written by hand whose field delta has any 16-bit mask and as many values as the mask has
/// bits, on an entity the same frame creates: masks naming fields past `MAX_FIELDS` (bits 9 to 15), which no
/// `FieldDelta` can hold and the encoder cannot write, as well as the 9 bits it can.
fn wide_mask_snapshot() -> impl Strategy<Value = (Vec<u8>, u16)> {
    let mask = prop_oneof![
        2 => any::<u16>(),
        1 => (player_field::FLAGS as u32 + 1..16).prop_map(|bit| 1u16 << bit),
        1 => delta_mask(),
    ];
    (entity_state(edge_u32()), mask, fields(), vec(edge_i32(), 7)).prop_map(|(entity, mask, values, extra)| {
        use rmp::encode::{write_array_len, write_sint, write_uint};
        let mut buf = Vec::new();
        codec::encode_snapshot_header(&mut buf, 1, 0, 0);
        // Writing to a Vec cannot fail.
        let _ = write_array_len(&mut buf, 1);
        codec::append(&mut buf, &entity);
        let _ = write_array_len(&mut buf, 1);
        let _ = write_array_len(&mut buf, 2 + mask.count_ones());
        let _ = write_uint(&mut buf, u64::from(entity.id));
        let _ = write_uint(&mut buf, u64::from(mask));
        for value in values.iter().chain(&extra).take(mask.count_ones() as usize) {
            let _ = write_sint(&mut buf, i64::from(*value));
        }
        let _ = write_array_len(&mut buf, 0);
        let _ = write_array_len(&mut buf, 0);
        let _ = write_array_len(&mut buf, 0);
        (buf, mask)
    })
}

/// Which of the cases new in v4 an accepted server message holds, for the `Seen` requirements.
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
            if snapshot.changed.iter().any(|change| change.mask & FLAGS_BIT != 0) {
                tally.note("delta with mask bit 8");
            }
        }
        _ => {}
    }
}

/// `decode_server`'s contract on any frame: it returns (no panic, no stack overflow, no huge allocation), refuses
/// with 1007, and what it accepts has one canonical encoding that decodes back to the same message. A decoded
/// snapshot is also handed to a fresh replica, as the client library does, which must apply it or refuse it.
///
/// The lean snapshot decoder the clients use is held to the general serde decoder: whatever it accepts, the
/// general one accepts as the same snapshot, and on a well-formed snapshot it succeeds too (it may refuse more
/// only where `decode_server` then falls back to the general decoder).
fn check_server_frame(bytes: &[u8], tally: &Tally) -> TestCaseResult {
    let general = codec::decode_server_general(bytes);
    if codec::is_snapshot(bytes) {
        let mut lean = Snapshot::default();
        let lean_result = codec::decode_snapshot_into(bytes, &mut lean);
        tally.decode(&lean_result);
        match (&lean_result, &general) {
            (Ok(()), Ok(ServerMessage::Snapshot(reference))) => prop_assert_eq!(&lean, reference),
            (Ok(()), _) => prop_assert!(false, "the lean decoder accepts what the general one refuses: {:?}", general),
            (Err(error), Ok(ServerMessage::Snapshot(reference))) => {
                // The general decoder also takes strings as UTF-8 `bin` values; the lean one only `str`.
                let canonical = codec::encode_server(&ServerMessage::Snapshot(reference.clone()));
                prop_assert!(canonical != bytes, "the lean decoder refuses a canonical snapshot: {}", error);
            }
            (Err(_), _) => {}
        }
        prop_assert_eq!(&codec::decode_server(bytes), &general, "decode_server differs from the general decoder");
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
                tally.apply(&Replica::new().apply(&snapshot));
            }
        }
    }
    Ok(())
}

/// Starts of server messages that put the next value where the decoder reads a string, a list, an entity, or an
/// element it skips, for the nesting and length bombs below.
fn server_prefixes() -> Vec<&'static [u8]> {
    const FIXED: [&[u8]; 14] = [
        &[],
        &[0x93, 0x03, 0x00],                               // pong, then an extra element to skip
        &[0x93, 0x04, 0xcd, 0x03, 0xe8],                   // close 1000, then the reason
        &[0x99, 0x02, 0x01, 0x00, 0x00],                   // snapshot, then `created`
        &[0x99, 0x02, 0x01, 0x00, 0x00, 0x90],             // ... then `changed`
        &[0x99, 0x02, 0x01, 0x00, 0x00, 0x90, 0x90],       // ... then `removed`
        &[0x99, 0x02, 0x01, 0x00, 0x00, 0x90, 0x90, 0x90], // ... then `events`
        &[0x99, 0x02, 0x01, 0x00, 0x00, 0x90, 0x90, 0x90, 0x90], // ... then `hits`
        &[0x99, 0x02, 0x01, 0x00, 0x00, 0x91, 0x9c, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0], // a player, then its name
        &[0x99, 0x02, 0x01, 0x00, 0x00, 0x90, 0x91, 0x93, 0x01, 0xcd, 0x01, 0x00], // a delta of bit 8, then its value
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
/// MessagePack values of any type, nesting bombs (up to
/// 3000 levels where the decoder reads or skips a value, past rmp-serde's depth limit of 1024) and length bombs
/// (4 GiB declared in a small frame): it never panics, overflows its stack or allocates what was declared, and
/// keeps the contract of `check_server_frame`.
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
        1 => wide_mask_snapshot().prop_map(|(bytes, _)| bytes),
    ];
    let required = [
        Seen::Decoded,
        Seen::Refused1007,
        Seen::Applied,
        Seen::ReplicaRefused,
        Seen::Note("player with flags"),
        Seen::Note("delta with mask bit 8"),
    ];
    check("server_decoder_on_arbitrary_bytes", frames, &required, |bytes, tally| check_server_frame(&bytes, tally));
}

/// `decode_server` (both its snapshot decoders) on field deltas with any 16-bit mask, the width v4 gives it: a
/// mask of the 9 fields a player has decodes and applies, and one naming a field past them (bits 9 to 15, which no
/// entity has and no `FieldDelta` can hold) is refused with 1007, without a panic; both keep the contract of
/// `check_server_frame`.
#[test]
fn server_decoder_on_wide_masks() {
    let required = [
        Seen::Decoded,
        Seen::Refused1007,
        Seen::Applied,
        Seen::Note("delta with mask bit 8"),
        Seen::Note("mask past the fields"),
    ];
    check("server_decoder_on_wide_masks", wide_mask_snapshot(), &required, |(bytes, mask), tally| {
        check_server_frame(&bytes, tally)?;
        let decoded = codec::decode_server(&bytes);
        if mask >> MAX_FIELDS != 0 {
            tally.note("mask past the fields");
            prop_assert!(decoded.is_err(), "mask {:#06x} names no field, yet decodes to {:?}", mask, decoded);
        } else {
            prop_assert!(decoded.is_ok(), "mask {:#06x}: {:?}", mask, decoded);
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
        tally.apply(&Replica::new().apply(snapshot));
    }
    if !matches!(message, ServerMessage::Welcome(_)) {
        prop_assert_eq!(&decoded, message);
    }
    Ok(bytes)
}

/// Structure-aware: server messages of every type (snapshots with random created, changed, removed and events,
/// 9-field players and 16-bit masks; welcomes with random maps and rules, NaN and infinities included, with and
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
        Seen::Note("delta with mask bit 8"),
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
// The client's replica.

/// PROTOCOL.md's "Applying snapshots", written plainly with ordered maps, as the reference `Replica` must match.
#[derive(Default)]
struct ReplicaModel {
    /// Every state applied so far, by tick.
    states: BTreeMap<u32, BTreeMap<u32, Entity>>,
    newest: Option<u32>,
    /// States older than this may be forgotten: the baseline of the newest delta applied. (A full snapshot does
    /// not raise it: acknowledgements sent before it may still make the server encode against older ticks.)
    floor: u32,
    names: HashMap<u32, Arc<str>>,
    newest_event_tick: u32,
}

fn strictly_ascending(ids: impl IntoIterator<Item = u32>) -> bool {
    let ids: Vec<u32> = ids.into_iter().collect();
    ids.windows(2).all(|pair| pair[0] < pair[1])
}

impl ReplicaModel {
    /// The state `snapshot` leads to (and the events that are new), or the error a client must report.
    fn apply(&mut self, snapshot: &Snapshot) -> Result<(Vec<EntityState>, Vec<Event>), ReplicaError> {
        let tick = snapshot.tick;
        if let Some(newest) = self.newest.filter(|newest| tick <= *newest) {
            return Err(ReplicaError::Stale { tick, newest });
        }
        if !strictly_ascending(snapshot.created.iter().map(|e| e.id))
            || !strictly_ascending(snapshot.changed.iter().map(|c| c.id))
            || !strictly_ascending(snapshot.removed.iter().copied())
        {
            return Err(ReplicaError::Unsorted { tick });
        }
        // A refused snapshot changes nothing: the state is built aside and kept only once it is complete.
        let (mut state, floor) = if snapshot.baseline == 0 {
            (BTreeMap::new(), self.floor)
        } else {
            match self.states.get(&snapshot.baseline) {
                Some(state) if snapshot.baseline >= self.floor => (state.clone(), snapshot.baseline),
                _ => return Err(ReplicaError::MissingBaseline { tick, baseline: snapshot.baseline }),
            }
        };
        // "Delete the removed ids, insert or replace the created entries, then update the changed fields."
        for id in &snapshot.removed {
            state.remove(id);
        }
        for created in &snapshot.created {
            state.insert(created.id, Entity::from(created));
        }
        for change in &snapshot.changed {
            let entity = state.get_mut(&change.id).ok_or(ReplicaError::UnknownEntity { tick, id: change.id })?;
            // PROTOCOL.md: a mask naming a field the entity's kind does not have is refused.
            if change.mask >> entity.kind.field_count() != 0 {
                return Err(ReplicaError::NoSuchField { tick, id: change.id, mask: change.mask });
            }
            for field in 0..entity.kind.field_count() {
                if change.mask & (1 << field) != 0 {
                    entity.fields[field] = entity.fields[field].wrapping_add(change.fields[field]);
                }
            }
        }
        for created in &snapshot.created {
            if let Some(name) = &created.name {
                self.names.insert(created.id, name.clone());
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
        // "Skip events whose tick is not newer than the newest event tick already handled."
        let new_events: Vec<Event> =
            snapshot.events.iter().filter(|e| e.tick() > self.newest_event_tick).cloned().collect();
        self.newest_event_tick = new_events.iter().map(Event::tick).fold(self.newest_event_tick, u32::max);
        Ok((states, new_events))
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
    /// Per `changed` entry: replace its id by one the baseline holds or the snapshot creates (so that the delta
    /// usually applies), or keep the random id.
    known_ids: Vec<Option<Index>>,
    sort_changed: bool,
    snapshot: Snapshot,
}

/// A snapshot with anything the decoder can return, and then some (players without names, bullets with one,
/// fields past the kind's count, masks with bits past it).
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
    // Masks of any 16 bits: past the kind's field count the replica must refuse them, even past `MAX_FIELDS`.
    let mask = prop_oneof![3 => delta_mask(), 1 => any::<u16>()];
    let change = (loose_id(), mask, fields(), prop::option::weighted(0.8, any::<Index>()))
        .prop_map(|(id, mask, fields, known)| (FieldDelta { id, mask, fields }, known));
    let events = vec(event(loose_id()), 0..4);
    (
        (tick, baseline),
        maybe_sorted(vec(entity, 0..6), |e: &EntityState| e.id),
        vec(change, 0..4),
        prop::bool::weighted(0.95),
        maybe_sorted(vec(loose_id(), 0..6), |id: &u32| *id),
        events,
    )
        .prop_map(|((tick, baseline), created, changed, sort_changed, removed, events)| {
            let (changed, known_ids) = changed.into_iter().unzip();
            let snapshot =
                Snapshot { tick: 0, baseline: 0, last_input_seq: 0, created, changed, removed, events, hits: vec![] };
            LooseSnapshot { tick, baseline, known_ids, sort_changed, snapshot }
        })
}

/// A stream of loose snapshots with their picks resolved: ticks after the newest applied one, baselines among the
/// earlier ticks (often the one a client would acknowledge) and changed ids mostly among those of the baseline.
fn loose_stream() -> impl Strategy<Value = Vec<Snapshot>> {
    vec(loose_snapshot(), 1..24).prop_map(|picks| {
        let mut ticks: Vec<u32> = Vec::new();
        let mut client = ReplicaModel::default();
        picks
            .into_iter()
            .map(|LooseSnapshot { tick, baseline, known_ids, sort_changed, mut snapshot }| {
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
                // Ids the baseline holds (as far as the rules go) or this snapshot creates.
                let mut known: Vec<u32> =
                    client.states.get(&snapshot.baseline).into_iter().flat_map(|s| s.keys().copied()).collect();
                known.extend(snapshot.created.iter().map(|e| e.id));
                for (change, pick) in snapshot.changed.iter_mut().zip(known_ids) {
                    if let Some(index) = pick.filter(|_| !known.is_empty()) {
                        change.id = *index.get(&known);
                    }
                }
                if sort_changed {
                    snapshot.changed.sort_by_key(|c| c.id);
                    snapshot.changed.dedup_by_key(|c| c.id);
                }
                ticks.push(snapshot.tick);
                let _ = client.apply(&snapshot);
                snapshot
            })
            .collect()
    })
}

/// The client's `Replica` on inconsistent snapshot streams: stale and repeated ticks, baselines it never had or
/// already dropped, ids out of order and duplicated, changed ids missing from the baseline, one id in created and
/// removed, masks past the entity's field count (refused), ids at the edges of `u32`. It never panics, and each snapshot
/// gives exactly the state (or the `ReplicaError`) and the new events that PROTOCOL.md's rules give; a refused
/// snapshot changes nothing.
#[test]
fn replica_on_inconsistent_streams() {
    let required = [
        Seen::Applied,
        Seen::ReplicaRefused,
        Seen::Note("applied a delta with mask bit 8"),
        Seen::Note("refused a delta with mask bits past the kind's fields"),
    ];
    check("replica_on_inconsistent_streams", loose_stream(), &required, |stream, tally| {
        let mut replica = Replica::new();
        let mut model = ReplicaModel::default();
        for snapshot in &stream {
            let result = replica.apply(snapshot);
            tally.apply(&result);
            match (result, model.apply(snapshot)) {
                (Ok(applied), Ok((states, new_events))) => {
                    if snapshot.changed.iter().any(|change| change.mask & FLAGS_BIT != 0) {
                        tally.note("applied a delta with mask bit 8");
                    }
                    prop_assert_eq!(applied.tick, snapshot.tick);
                    prop_assert_eq!(replica.latest_states(), Some((snapshot.tick, states)), "after {:?}", snapshot);
                    prop_assert_eq!(applied.new_events, new_events, "after {:?}", snapshot);
                }
                (Err(error), Err(expected)) => {
                    if matches!(error, ReplicaError::NoSuchField { .. }) {
                        tally.note("refused a delta with mask bits past the kind's fields");
                    }
                    prop_assert_eq!(error, expected, "after {:?}", snapshot)
                }
                (got, expected) => prop_assert!(false, "{:?}: got {:?}, the rules give {:?}", snapshot, got, expected),
            }
        }
        Ok(())
    });
}

/// One change to the generated world in a tick.
#[derive(Clone, Debug)]
enum WorldOp {
    /// Sets one field of a live entity.
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
    let op = prop_oneof![
        6 => (any::<Index>(), 0usize..MAX_FIELDS, edge_i32())
            .prop_map(|(at, field, value)| WorldOp::Touch { at, field, value }),
        3 => (id, any::<bool>(), fields(), text(0..8))
            .prop_map(|(id, player, fields, name)| WorldOp::Spawn { id, player, fields, name }),
        2 => any::<Index>().prop_map(WorldOp::Despawn),
        1 => Just(WorldOp::Kill),
        1 => Just(WorldOp::Leave),
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

/// A consistent stream: a random evolving world (fields set to any value, spawns, despawns, ids reused by new
/// entities with a new generation, ids at the edges of `u32`, kill and leave events) goes through the server's own
/// `SnapshotHistory` (random size up to the room's 64), `snapshot::diff`/`full` against the acknowledged baseline,
/// `EventLog` and piecewise encoder, then over a network that loses frames and loses or delays acknowledgements.
/// Every frame that arrives decodes, applies, and rebuilds exactly the server's entities, and every event arrives
/// at most once, in order, and at the latest with the first applied snapshot whose range covers it.
///
/// With interest management on (half the sessions), the client sees a different subset of the world each tick and
/// the room's interest path encodes it: `SharedRecords` against the client's own past view at its baseline, its
/// bytes held to the serialization of `diff_views` / `full_view`, while a second client's full view is encoded from
/// the same tick's shared records. The replica must then rebuild exactly the visible subset.
#[test]
fn replica_rebuilds_consistent_streams() {
    let session = (1usize..=64, any::<bool>(), vec(tick_script(), 1..50));
    let required = [
        Seen::Decoded,
        Seen::Applied,
        Seen::Note("interest frames"),
        Seen::Note("interest deltas"),
        Seen::Note("delta with mask bit 8"),
    ];
    check("replica_rebuilds_consistent_streams", session, &required, |(history_size, interest, ticks), tally| {
        let mut live: Vec<(EntityState, u32)> = Vec::new();
        let mut generation = 0u32;
        let mut serial = 0u32;
        let mut history = SnapshotHistory::new(history_size);
        let mut events = EventLog::default();
        let mut view = ClientView::default();
        let mut acks_in_flight: Vec<(u32, u32)> = Vec::new();
        let mut replica = Replica::new();
        let mut delivered: Vec<Event> = Vec::new();
        // Interest management: the shared records, and what the client was shown at each tick it was sent.
        let mut records = SharedRecords::default();
        let mut seen: Vec<(u32, Vec<u32>)> = Vec::new();

        for (index, script) in ticks.iter().enumerate() {
            let tick = index as u32 + 1;
            let mut happened = Vec::new();
            for op in &script.ops {
                match op {
                    WorldOp::Touch { at, field, value } if !live.is_empty() => {
                        let slot = at.index(live.len());
                        let (entity, _) = &mut live[slot];
                        entity.fields[field % entity.kind.field_count()] = *value;
                    }
                    WorldOp::Spawn { id, player, fields, name } => {
                        let kind = if *player { EntityKind::Player } else { EntityKind::Bullet };
                        let mut fields = *fields;
                        fields[kind.field_count()..].fill(0);
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
                    _ => {}
                }
            }
            let current = Arc::new(WorldSnapshot::from_entities(tick, live.clone()));
            history.push(current.clone());
            events.record(happened);
            if let Some(oldest) = history.oldest_tick() {
                events.forget_through(oldest.saturating_sub(1));
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
            let mut frame = Vec::new();
            let baseline = if interest {
                let base = match (history.get(view.acked), seen.iter().find(|(t, _)| *t == view.acked)) {
                    (Some(snapshot), Some((_, shown))) => Some(View::subset(snapshot, shown)),
                    _ => None,
                };
                let baseline = base.map_or(0, |base| base.tick());
                codec::encode_snapshot_header(&mut frame, tick, baseline, 0);
                let start = frame.len();
                let now = View::subset(&current, &visible);
                records.begin_tick(&current);
                // Another client, seeing everything in full, encoded from the same records first.
                let mut other = Vec::new();
                records.write_delta(&mut other, None, View::all(&current));
                records.write_delta(&mut frame, base, now);
                let delta = match base {
                    Some(base) => snapshot::diff_views(base, now),
                    None => snapshot::full_view(now),
                };
                let mut reference = Vec::new();
                codec::append(&mut reference, &delta.created);
                codec::append(&mut reference, &delta.changed);
                codec::append(&mut reference, &delta.removed);
                prop_assert_eq!(&frame[start..], &reference[..], "tick {}: shared records differ from the diff", tick);
                let full = snapshot::full(&current);
                let mut reference = Vec::new();
                codec::append(&mut reference, &full.created);
                codec::append(&mut reference, &full.changed);
                codec::append(&mut reference, &full.removed);
                prop_assert_eq!(other, reference, "tick {}: the other client's full view", tick);
                seen.push((tick, visible.clone()));
                tally.note("interest frames");
                if baseline != 0 {
                    tally.note("interest deltas");
                }
                baseline
            } else {
                let base = history.get(view.acked);
                let (baseline, delta) = match base {
                    Some(base) => (base.tick, snapshot::diff(base, &current)),
                    None => (0, snapshot::full(&current)),
                };
                codec::encode_snapshot_header(&mut frame, tick, baseline, 0);
                codec::append(&mut frame, &delta.created);
                codec::append(&mut frame, &delta.changed);
                codec::append(&mut frame, &delta.removed);
                baseline
            };
            view.last_sent = tick;
            let carried: Vec<&Event> = events.between(baseline, tick).collect();
            codec::append(&mut frame, &carried);
            codec::append(&mut frame, &Vec::<skirmish::protocol::Hit>::new());
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
            if let Some(delay) = script.ack_delay {
                acks_in_flight.push((tick + 1 + delay, tick));
            }
        }
        Ok(())
    });
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

//! `skirmish replay`: re-runs a recorded match on the pure simulation, headless, and checks it against the
//! recording's checksums.
//!
//! The world is built from the header alone (map, rules, seed) and driven only by the recorded calls, tick by
//! tick, exactly as the room made them; after every recorded checksum tick its snapshot is hashed and compared.
//! The first difference is reported with its tick and, from the recorded full state, the first entity (by id) and
//! field that differ. A checksum that differs at a tick without a full state is located at the next tick that has
//! one (the difference is still reported at the first tick it showed).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::protocol::{bullet_field, player_field, EntityKind};
use crate::sim::{PlayerId, World};
use crate::snapshot::WorldSnapshot;

use super::format::{self, records_hash, state_hash, EndFrame, EntityRecord, FileHeader, FormatError, Frame, Header};
use super::format::{Check, Op, TickFrame};

/// Why a file cannot be replayed (exit code 2).
#[derive(Debug, Error)]
pub enum ReplayError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("this is a frame log, not a recording (skirmish inspect reads it)")]
    FrameLog,
    #[error("tick {found} follows tick {previous}: a recording's ticks are consecutive")]
    TickOrder { previous: u32, found: u32 },
    #[error("tick {tick}: the checksum does not match the recorded state it comes with (the file was altered)")]
    InconsistentCheck { tick: u32 },
}

/// What differs in one entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntityDifference {
    /// The recording has it, the replay does not.
    Missing,
    /// The replay has it, the recording does not.
    Extra,
    /// The same id is a player in one and a bullet in the other.
    Kind,
    /// The first field that differs.
    Field { field: &'static str, recorded: i32, replayed: i32 },
}

/// Where the replay first parted from the recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Divergence {
    /// A join got another id or generation than it did in the room.
    Join { recorded: (u32, u32), replayed: (u32, u32) },
    /// An operation names a player the replay does not have.
    UnknownPlayer { id: u32, op: &'static str },
    /// The recorded state names the entity.
    Entity { id: u32, kind: EntityKind, difference: EntityDifference },
    /// The checksum differs and the tick has no full state; `located` is what the next full state showed (at that
    /// tick), if one was recorded and still differed.
    Checksum { located: Option<(u32, Box<Divergence>)> },
}

/// The first difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub tick: u32,
    pub divergence: Divergence,
}

/// A recording's calls made on a world: the players it joined, by wire id, to find them again.
#[derive(Debug, Default)]
pub struct Calls {
    /// Live players by wire id.
    players: HashMap<u32, PlayerId>,
    /// The name each id had when it joined (its latest holder).
    names: HashMap<u32, String>,
}

impl Calls {
    /// Makes the calls of one tick, in order; the first that does not go as it did in the room is returned.
    pub fn apply(&mut self, world: &mut World, ops: &[Op]) -> Result<(), Divergence> {
        for op in ops {
            match op {
                Op::Join { id, generation, name } => {
                    let player = world.add_player(name);
                    if (player.wire_id(), player.generation) != (*id, *generation) {
                        return Err(Divergence::Join {
                            recorded: (*id, *generation),
                            replayed: (player.wire_id(), player.generation),
                        });
                    }
                    self.players.insert(*id, player);
                    self.names.insert(*id, name.clone());
                }
                Op::Leave { id } => match self.players.remove(id) {
                    Some(player) if world.remove_player(player) => {}
                    _ => return Err(Divergence::UnknownPlayer { id: *id, op: "leave" }),
                },
                Op::Input { id, input } => {
                    if !self.players.get(id).is_some_and(|&p| world.set_input(p, input.player_input())) {
                        return Err(Divergence::UnknownPlayer { id: *id, op: "input" });
                    }
                }
                Op::Flag { id, disconnected } => {
                    if !self.players.get(id).is_some_and(|&p| world.set_disconnected(p, *disconnected)) {
                        return Err(Divergence::UnknownPlayer { id: *id, op: "disconnected flag" });
                    }
                }
            }
        }
        Ok(())
    }

    /// The name a player id had when it joined (the latest holder of the id).
    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(&id).map(String::as_str)
    }
}

/// Compares the world, just stepped to `tick`, with the checksum recorded there: `Ok(None)` when equal.
pub fn compare(world: &World, tick: u32, check: &Check) -> Result<Option<Divergence>, ReplayError> {
    if let Some(state) = &check.state {
        if records_hash(state) != check.hash {
            return Err(ReplayError::InconsistentCheck { tick });
        }
    }
    let snapshot = WorldSnapshot::capture(world);
    if state_hash(&snapshot) == check.hash {
        return Ok(None);
    }
    Ok(Some(match &check.state {
        Some(state) => locate(state, &snapshot),
        None => Divergence::Checksum { located: None },
    }))
}

/// A world driven by recorded frames. Also usable step by step (tests look at the world between frames).
pub struct Replayer {
    world: World,
    calls: Calls,
    checksum_every: u32,
}

impl Replayer {
    /// A fresh world from the header's map, rules and seed.
    pub fn new(header: &Header) -> Result<Replayer, FormatError> {
        Ok(Replayer { world: world(header)?, calls: Calls::default(), checksum_every: header.checksum_every })
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    /// The name a player id had when it joined (the latest holder of the id).
    pub fn name(&self, id: u32) -> Option<&str> {
        self.calls.name(id)
    }

    /// Applies one tick: its calls, the step, and its checksum. `Ok(None)`: the tick matched (or had no check).
    pub fn apply(&mut self, frame: &TickFrame) -> Result<Option<Difference>, ReplayError> {
        let previous = self.world.tick();
        if frame.tick != previous.wrapping_add(1) {
            return Err(ReplayError::TickOrder { previous, found: frame.tick });
        }
        let differs = |divergence| Ok(Some(Difference { tick: frame.tick, divergence }));
        if let Err(divergence) = self.calls.apply(&mut self.world, &frame.ops) {
            return differs(divergence);
        }
        self.world.step();
        // The room hands its events to clients; here nobody wants them, and they must not pile up.
        self.world.drain_events();
        match &frame.check {
            None => Ok(None),
            Some(check) => match compare(&self.world, frame.tick, check)? {
                None => Ok(None),
                Some(divergence) => differs(divergence),
            },
        }
    }

    /// Whether a tick carries a checksum in this recording.
    pub fn is_check_tick(&self, tick: u32) -> bool {
        tick.is_multiple_of(self.checksum_every)
    }
}

/// The world a recording starts from: the header's map, rules and seed.
pub fn world(header: &Header) -> Result<World, FormatError> {
    if header.checksum_every == 0 || header.state_every == 0 {
        return Err(FormatError::Header("checksum_every and state_every must be at least 1".into()));
    }
    Ok(World::new(header.map()?, header.rules()?, header.seed))
}

/// The first entity (by id) where the recorded state and the replay's snapshot differ.
fn locate(recorded: &[EntityRecord], replayed: &WorldSnapshot) -> Divergence {
    let mut ours = replayed.entities.iter().peekable();
    let mut theirs = recorded.iter().peekable();
    loop {
        let (mine, recorded) = match (ours.peek(), theirs.peek()) {
            (None, None) => {
                // Same entities, same fields, different hash: cannot happen unless the hash itself changed.
                return Divergence::Checksum { located: None };
            }
            (Some(mine), None) => {
                return Divergence::Entity { id: mine.id, kind: mine.kind, difference: EntityDifference::Extra }
            }
            (None, Some(recorded)) => {
                return Divergence::Entity {
                    id: recorded.id,
                    kind: recorded.kind,
                    difference: EntityDifference::Missing,
                }
            }
            (Some(mine), Some(recorded)) => (*mine, *recorded),
        };
        if mine.id < recorded.id {
            return Divergence::Entity { id: mine.id, kind: mine.kind, difference: EntityDifference::Extra };
        }
        if recorded.id < mine.id {
            return Divergence::Entity { id: recorded.id, kind: recorded.kind, difference: EntityDifference::Missing };
        }
        if mine.kind != recorded.kind {
            return Divergence::Entity { id: mine.id, kind: recorded.kind, difference: EntityDifference::Kind };
        }
        let fields = &mine.fields[..mine.kind.field_count()];
        if let Some(index) = (0..fields.len()).find(|&i| recorded.fields.get(i) != Some(&fields[i])) {
            return Divergence::Entity {
                id: mine.id,
                kind: mine.kind,
                difference: EntityDifference::Field {
                    field: field_name(mine.kind, index),
                    recorded: recorded.fields.get(index).copied().unwrap_or_default(),
                    replayed: fields[index],
                },
            };
        }
        ours.next();
        theirs.next();
    }
}

/// A field's name as PROTOCOL.md gives it.
pub fn field_name(kind: EntityKind, index: usize) -> &'static str {
    const PLAYER: [&str; 9] = ["x", "y", "vx", "vy", "aim", "hp", "score", "respawn", "flags"];
    const BULLET: [&str; 6] = ["x", "y", "vx", "vy", "owner", "spawn_tick"];
    debug_assert_eq!(PLAYER[player_field::FLAGS], "flags");
    debug_assert_eq!(BULLET[bullet_field::SPAWN_TICK], "spawn_tick");
    match kind {
        EntityKind::Player => PLAYER.get(index).copied().unwrap_or("?"),
        EntityKind::Bullet => BULLET.get(index).copied().unwrap_or("?"),
    }
}

/// What a replay found.
#[derive(Debug)]
pub struct ReplayReport {
    pub header: Header,
    pub first_tick: u32,
    pub last_tick: u32,
    pub ticks: u64,
    /// Checksums compared (up to the first difference).
    pub checks: u64,
    /// Of those, with a full state.
    pub states: u64,
    /// Time spent replaying (not reading the file).
    pub elapsed: Duration,
    /// How the file ended: its end frame, or `None` when the bytes stop (inside a frame, or without an end frame).
    pub end: Option<EndFrame>,
    /// The file stopped inside a frame (its writer was interrupted).
    pub incomplete: bool,
    pub difference: Option<Difference>,
    /// Names by player id, for the report.
    names: HashMap<u32, String>,
}

impl ReplayReport {
    pub fn ticks_per_second(&self) -> f64 {
        self.ticks as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// 0 when everything matched, 1 on a difference (a bad file is 2, from `ReplayError`).
    pub fn exit_code(&self) -> i32 {
        i32::from(self.difference.is_some())
    }
}

/// Replays the recording in `bytes` to its end or its first difference.
pub fn replay(bytes: &[u8]) -> Result<ReplayReport, ReplayError> {
    let (header, mut frames) = format::open(bytes)?;
    let FileHeader::Recording(header) = header else { return Err(ReplayError::FrameLog) };
    let mut replayer = Replayer::new(&header)?;
    let mut report = ReplayReport {
        header: *header,
        first_tick: 0,
        last_tick: 0,
        ticks: 0,
        checks: 0,
        states: 0,
        elapsed: Duration::ZERO,
        end: None,
        incomplete: false,
        difference: None,
        names: HashMap::new(),
    };
    let started = Instant::now();
    while let Some(frame) = frames.next_frame() {
        let frame = match frame {
            Ok(frame) => frame,
            Err(FormatError::Incomplete { .. }) => {
                report.incomplete = true;
                break;
            }
            Err(error) => return Err(error.into()),
        };
        let tick = match frame {
            Frame::Tick(tick) => tick,
            Frame::End(end) => {
                report.end = Some(end);
                break;
            }
            Frame::Wire(_) => {
                return Err(FormatError::Malformed {
                    offset: frames.offset(),
                    what: "a wire frame in a recording".into(),
                }
                .into())
            }
        };
        let outcome = replayer.apply(&tick)?;
        if report.ticks == 0 {
            report.first_tick = tick.tick;
        }
        report.ticks += 1;
        report.last_tick = tick.tick;
        if let Some(check) = &tick.check {
            report.checks += 1;
            report.states += u64::from(check.state.is_some());
        }
        match (&mut report.difference, outcome) {
            (None, None) => {}
            (None, Some(difference)) => {
                let located = !matches!(difference.divergence, Divergence::Checksum { located: None });
                report.difference = Some(difference);
                if located {
                    break;
                }
            }
            // Already diverged at a tick without a state: replaying on to the next state, to name the entity there
            // (or at an operation the replay can no longer apply).
            (Some(first), later) => {
                let has_state = tick.check.as_ref().is_some_and(|c| c.state.is_some());
                match later {
                    Some(Difference { tick, divergence })
                        if has_state || !matches!(divergence, Divergence::Checksum { .. }) =>
                    {
                        first.divergence = Divergence::Checksum { located: Some((tick, Box::new(divergence))) };
                        break;
                    }
                    // The state matched again: the difference was lost before it could be named.
                    None if has_state => break,
                    _ => {}
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    report.names = replayer.calls.names;
    Ok(report)
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Divergence::Join { recorded, replayed } => write!(
                f,
                "a join was given player {} (generation {}) in the room, {} (generation {}) in the replay",
                recorded.0, recorded.1, replayed.0, replayed.1
            ),
            Divergence::UnknownPlayer { id, op } => {
                write!(f, "the recording's {op} names player {id}, which the replay does not have")
            }
            Divergence::Entity { id, kind, difference } => {
                let kind = if *kind == EntityKind::Player { "player" } else { "bullet" };
                match difference {
                    EntityDifference::Missing => write!(f, "{kind} {id} is missing from the replay"),
                    EntityDifference::Extra => write!(f, "{kind} {id} exists only in the replay"),
                    EntityDifference::Kind => write!(f, "entity {id} is a {kind} in the recording, not in the replay"),
                    EntityDifference::Field { field, recorded, replayed } => {
                        write!(f, "{kind} {id} field {field}: recorded {recorded}, replayed {replayed}")
                    }
                }
            }
            Divergence::Checksum { located: None } => {
                write!(f, "the checksum differs (no full state was recorded there or later to name the entity)")
            }
            Divergence::Checksum { located: Some((tick, divergence)) } => {
                write!(f, "the checksum differs; the next full state, at tick {tick}: {divergence}")
            }
        }
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = &self.header;
        let started = std::time::UNIX_EPOCH + Duration::from_millis(header.started_unix_ms);
        writeln!(
            f,
            "recording of room {} {:?} on {} ({}x{}), {} Hz, seed {}, started {}",
            header.room.id,
            header.room.name,
            header.room.map_label,
            header.map.width,
            header.map.height,
            header.tick_rate,
            header.seed,
            crate::lobby::rfc3339(started),
        )?;
        writeln!(
            f,
            "replayed {} ticks ({}..={}) in {:.3} s: {:.0} ticks/s",
            self.ticks,
            self.first_tick,
            self.last_tick,
            self.elapsed.as_secs_f64(),
            self.ticks_per_second()
        )?;
        writeln!(f, "checksums compared: {} ({} with the full state)", self.checks, self.states)?;
        match (&self.end, self.incomplete) {
            (Some(end), _) if end.reason.is_truncation() => {
                writeln!(f, "the recording is truncated ({}): {}", end.reason.name(), end.detail)?
            }
            (Some(end), _) => writeln!(f, "ended: {}", end.detail)?,
            (None, true) => writeln!(f, "the recording is cut inside a frame (its writer was interrupted)")?,
            (None, false) => writeln!(f, "the recording has no end frame (its writer was interrupted)")?,
        }
        match &self.difference {
            None => write!(f, "OK"),
            Some(Difference { tick, divergence }) => {
                write!(f, "DIFFERENT at tick {tick}: {divergence}")?;
                let id = match divergence {
                    Divergence::Entity { id, kind: EntityKind::Player, .. } => Some(id),
                    Divergence::Checksum { located: Some((_, inner)) } => match inner.as_ref() {
                        Divergence::Entity { id, kind: EntityKind::Player, .. } => Some(id),
                        _ => None,
                    },
                    _ => None,
                };
                match id.and_then(|id| self.names.get(id)) {
                    Some(name) => write!(f, " (player {name:?})"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoomConfig;
    use crate::recording::format::{encode_header, frame_tag, Check, EndReason, FrameReader, WireInput};
    use crate::recording::writer::memory_sink;
    use crate::recording::{header, Journal};
    use crate::room::RoomEnd;
    use crate::sim::{Map, Rules};

    /// A match of a few players on the bundled arena, driven through a journal as a room would: joins, a leave and
    /// a rejoin into the freed slot, inputs (a new one every 7 ticks, repeated in between), a dropped seat and its
    /// resume.
    fn record_match(ticks: u32, checksum_every: u32, state_every: u32) -> Vec<u8> {
        let mut config = RoomConfig::for_tests();
        config.map = Map::bundled_arena();
        let mut world = World::new(config.map.clone(), Rules::for_tick_rate(config.tick_rate), config.seed);
        let header = header(&config, &world, std::time::SystemTime::now(), checksum_every, state_every);
        let (mut sink, mut file) = memory_sink(100_000, 1 << 30);
        assert!(sink.push(encode_header(&header)));
        let mut journal = Journal::new(sink, checksum_every, state_every);
        let mut players: Vec<PlayerId> = (0..4).map(|i| journal.add_player(&mut world, &format!("p{i}"))).collect();
        for tick in 1..=ticks {
            if tick == 50 {
                journal.remove_player(&mut world, players[1]);
                players[1] = journal.add_player(&mut world, "late");
            }
            if tick == 80 {
                journal.set_input(&mut world, players[2], WireInput::default());
                journal.set_disconnected(&mut world, players[2], true);
            }
            if tick == 120 {
                journal.set_disconnected(&mut world, players[2], false);
            }
            for (i, &player) in players.iter().enumerate() {
                if (80..120).contains(&tick) && i == 2 {
                    continue;
                }
                let phase = (tick / 7 + i as u32 * 13) as i32;
                let input = WireInput {
                    move_x: ((phase * 37) % 255 - 127) as i8,
                    move_y: ((phase * 91) % 255 - 127) as i8,
                    aim: (phase as u32 * 4099) as u16,
                    fire: phase % 3 == 0,
                    rewind_q: if phase % 5 == 0 { 64 * 3 + 17 } else { 0 },
                };
                journal.set_input(&mut world, player, input);
            }
            world.step();
            world.drain_events();
            journal.end_tick(&WorldSnapshot::capture(&world));
        }
        journal.finish(RoomEnd::Shutdown, ticks);
        file.bytes().to_vec()
    }

    /// The recording re-encoded frame by frame, `change` given each tick frame until it says it changed one.
    fn altered(bytes: &[u8], mut change: impl FnMut(&mut TickFrame) -> bool) -> Vec<u8> {
        let (_, frames) = format::open(bytes).unwrap();
        let mut out = bytes[..frames.offset()].to_vec();
        let mut changed = false;
        for frame in frames {
            let mut frame = frame.unwrap();
            if let Frame::Tick(tick) = &mut frame {
                changed = changed || change(tick);
            }
            frame.encode(&mut out);
        }
        assert!(changed, "nothing was altered");
        out
    }

    /// The players alive after `tick` in a replay of `bytes`, by wire id.
    fn alive_after(bytes: &[u8], tick: u32) -> Vec<u32> {
        let (FileHeader::Recording(header), frames) = format::open(bytes).unwrap() else { panic!("a recording") };
        let mut replayer = Replayer::new(&header).unwrap();
        for frame in frames {
            match frame.unwrap() {
                Frame::Tick(frame) if frame.tick <= tick => assert_eq!(replayer.apply(&frame).unwrap(), None),
                _ => break,
            }
        }
        replayer.world().players().filter(|p| p.is_alive()).map(|p| p.id.wire_id()).collect()
    }

    /// Changes the first input at `at` of a player alive before it; returns that player's id.
    fn alter_input(bytes: &[u8], at: u32, change: impl Fn(&mut WireInput)) -> (Vec<u8>, u32) {
        let alive = alive_after(bytes, at - 1);
        let mut who = 0;
        let copy = altered(bytes, |tick| {
            if tick.tick != at {
                return false;
            }
            let op = tick.ops.iter_mut().find(|op| matches!(op, Op::Input { id, .. } if alive.contains(id)));
            let Some(Op::Input { id, input }) = op else { panic!("no input of a live player at tick {at}") };
            change(input);
            who = *id;
            true
        });
        (copy, who)
    }

    #[test]
    fn a_recorded_match_replays_with_every_checksum_equal() {
        let bytes = record_match(300, 10, 3);
        let report = replay(&bytes).expect("replays");
        assert_eq!(report.difference, None, "{report}");
        assert_eq!((report.first_tick, report.last_tick, report.ticks), (1, 300, 300));
        assert_eq!((report.checks, report.states), (30, 10));
        assert_eq!(report.end.as_ref().map(|end| end.reason), Some(EndReason::Shutdown));
        assert_eq!(report.exit_code(), 0);
        // Re-encoding what was decoded gives the same bytes: an altered copy differs only where it was altered.
        assert_eq!(altered(&bytes, |_| true), bytes);
        // Only changes are recorded: about one input per player per 7 ticks, not one per tick.
        let inputs: usize = format::open(&bytes)
            .unwrap()
            .1
            .map(|frame| match frame.unwrap() {
                Frame::Tick(tick) => tick.ops.iter().filter(|op| matches!(op, Op::Input { .. })).count(),
                _ => 0,
            })
            .sum();
        assert!(inputs > 4 * 300 / 7 / 2 && inputs < 4 * 300 / 7 + 20, "{inputs} inputs recorded");
    }

    #[test]
    fn an_altered_input_is_caught_at_its_tick_with_its_entity_and_field() {
        let bytes = record_match(300, 10, 3);
        // Tick 210 has a new input for everyone and a checksum with the full state.
        let (copy, id) = alter_input(&bytes, 210, |input| input.aim = input.aim.wrapping_add(1000));
        let report = replay(&copy).expect("replays");
        let difference = report.difference.clone().expect("a difference");
        assert_eq!(difference.tick, 210, "{report}");
        let expected = Divergence::Entity {
            id,
            kind: EntityKind::Player,
            difference: EntityDifference::Field {
                field: "aim",
                // Checked as snapshots carry it, in 256 steps.
                recorded: crate::snapshot::wire_aim(alive_input_aim(&bytes, 210, id)),
                replayed: crate::snapshot::wire_aim(alive_input_aim(&bytes, 210, id).wrapping_add(1000)),
            },
        };
        assert_eq!(difference.divergence, expected, "{report}");
        assert_eq!(report.exit_code(), 1);
        assert!(report.to_string().contains(&format!("DIFFERENT at tick 210: player {id} field aim")), "{report}");
    }

    /// The aim player `id` was given at tick `at`.
    fn alive_input_aim(bytes: &[u8], at: u32, id: u32) -> u16 {
        let (_, frames) = format::open(bytes).unwrap();
        for frame in frames {
            if let Frame::Tick(tick) = frame.unwrap() {
                if tick.tick == at {
                    for op in tick.ops {
                        if let Op::Input { id: who, input } = op {
                            if who == id {
                                return input.aim;
                            }
                        }
                    }
                }
            }
        }
        panic!("no input of player {id} at tick {at}")
    }

    #[test]
    fn a_difference_between_full_states_is_located_at_the_next_one() {
        let bytes = record_match(300, 10, 3);
        // Tick 91 has new inputs; its next checksum, at 100, has no state (100 / 10 is not a multiple of 3), the
        // one after it, at 120, has. A player sent the other way keeps its course until tick 98.
        let (copy, _) = alter_input(&bytes, 91, |input| {
            input.move_x = if input.move_x > 0 { -127 } else { 127 };
            input.move_y = if input.move_y > 0 { -127 } else { 127 };
        });
        let report = replay(&copy).expect("replays");
        let difference = report.difference.clone().expect("a difference");
        assert_eq!(difference.tick, 91 + 9, "{report}");
        match &difference.divergence {
            Divergence::Checksum { located: Some((110 | 120, inner)) } => {
                assert!(matches!(**inner, Divergence::Entity { .. }), "{report}")
            }
            other => panic!("{other:?}: {report}"),
        }
    }

    #[test]
    fn bad_files_are_refused_and_cut_ones_replay_as_far_as_they_go() {
        let bytes = record_match(60, 10, 1);
        assert!(matches!(replay(b"not a recording"), Err(ReplayError::Format(_))));
        // Cut inside the last tick frame (the one before the end frame).
        let (_, mut frames) = format::open(&bytes).unwrap();
        let end_at = loop {
            let at = frames.offset();
            match frames.next_frame() {
                Some(Ok(Frame::End(_))) => break at,
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(bytes[end_at + 1], frame_tag::END);
        let cut = replay(&bytes[..end_at - 2]).expect("a cut file replays");
        assert!(cut.incomplete && cut.difference.is_none() && cut.last_tick == 59, "{cut}");
        assert_eq!(cut.exit_code(), 0);
        // A tick out of order.
        let skipped = altered(&bytes, |tick| {
            tick.tick += u32::from(tick.tick == 30);
            tick.tick == 31
        });
        assert!(matches!(replay(&skipped), Err(ReplayError::TickOrder { previous: 29, found: 31 })));
        // A state that does not match its own checksum was tampered with.
        let tampered = altered(&bytes, |tick| match &mut tick.check {
            Some(Check { state: Some(state), .. }) => {
                state[0].fields[0] += 1;
                true
            }
            _ => false,
        });
        assert!(matches!(replay(&tampered), Err(ReplayError::InconsistentCheck { tick: 10 })));
        // A frame log is no recording.
        let log = encode_header(&format::FrameLogHeader {
            format: format::FRAME_LOG_FORMAT.into(),
            version: 1,
            server: "test".into(),
            peer: "1.2.3.4:5".into(),
            started_unix_ms: 0,
        });
        assert!(matches!(replay(&log), Err(ReplayError::FrameLog)));
    }

    #[test]
    fn frames_are_read_one_after_the_other() {
        let bytes = record_match(3, 1, 1);
        let (_, frames) = format::open(&bytes).unwrap();
        let ticks: Vec<u32> = FrameReader::new(&bytes[frames.offset()..], frames.offset())
            .filter_map(|frame| match frame.unwrap() {
                Frame::Tick(tick) => Some(tick.tick),
                _ => None,
            })
            .collect();
        assert_eq!(ticks, [1, 2, 3]);
    }
}

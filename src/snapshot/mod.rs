//! Snapshots and deltas: the server's view of the world per tick, the delta coding of a client's view against its
//! acknowledged baseline (`delta`, `bits`, `encoder`), and the client-side `Replica` that applies the stream to
//! rebuild that view (`replica`).
//!
//! Entities are kept sorted by wire id and two snapshots are walked together, as in Quake III's
//! `SV_EmitPacketEntities`: same id and generation -> residuals against the prediction (nothing when it holds), id
//! only in the new one or reused with a new generation -> created, id only in the old one -> removed.

pub mod bits;
pub mod delta;
mod encoder;
mod replica;

use std::collections::VecDeque;
use std::sync::Arc;

pub use encoder::{encode_delta, CreatedRecords, DeltaWriter};
pub use replica::{Applied, Replica, ReplicaError};

use crate::protocol::{bullet_field, player_field, EntityKind, EntityState, Event, FLAG_DISCONNECTED, MAX_FIELDS};
use crate::sim::{quantize, GameEvent, TimedEvent, World};

/// The server's quantized view of the whole world at one tick, in the wire's terms: a player's velocity rounded to
/// a multiple of the tick rate (whole 1/16 units per tick) and its aim to 256 steps.
#[derive(Clone, Debug, Default)]
pub struct WorldSnapshot {
    pub tick: u32,
    /// Sorted by id.
    pub entities: Vec<EntityState>,
    /// Each entity's id, kind and the sim's generation (parallel to `entities`; the generation tells a reused id
    /// from the entity it replaced), packed apart so that walking two views touches little memory.
    keys: Vec<Key>,
    /// What rounding took off each player's velocity (parallel to `entities`; 0 for bullets): the `own` element a
    /// player's snapshot carries to give it its true velocity back.
    velocity_rest: Vec<[i32; 2]>,
}

/// A velocity in 1/16 units/s as the wire carries it for a player: the nearest multiple of `tick_rate` (halves away
/// from zero), and what that took off.
pub fn wire_velocity(velocity: i32, tick_rate: u32) -> (i32, i32) {
    let (velocity, rate) = (i64::from(velocity), i64::from(tick_rate.max(1)));
    let mut rounded = (velocity.abs() + rate / 2) / rate * rate * velocity.signum();
    // The nearest multiple may lie past i32 (near its ends): the one on the near side then.
    if i32::try_from(rounded).is_err() {
        rounded -= rate * velocity.signum();
    }
    (rounded as i32, (velocity - rounded) as i32)
}

/// An aim of the sim (65536 steps per turn) as the wire carries it (256 steps).
pub fn wire_aim(aim: u16) -> i32 {
    ((i32::from(aim) + 128) >> 8) & (delta::AIM_STEPS - 1)
}

impl WorldSnapshot {
    /// Captures the world as clients will see it. Players (ids below 65536) come before bullets, and each list is
    /// in slot order, so the result is sorted by id without a sort.
    pub fn capture(world: &World) -> WorldSnapshot {
        let tick_rate = world.rules().tick_rate();
        let count = world.player_count() + world.bullet_count();
        let mut snapshot = WorldSnapshot {
            tick: world.tick(),
            entities: Vec::with_capacity(count),
            keys: Vec::with_capacity(count),
            velocity_rest: Vec::with_capacity(count),
        };
        for player in world.players() {
            let mut fields = [0; MAX_FIELDS];
            let (vx, rest_x) = wire_velocity(quantize(player.vel.x), tick_rate);
            let (vy, rest_y) = wire_velocity(quantize(player.vel.y), tick_rate);
            fields[player_field::X] = quantize(player.pos.x);
            fields[player_field::Y] = quantize(player.pos.y);
            fields[player_field::VX] = vx;
            fields[player_field::VY] = vy;
            fields[player_field::AIM] = wire_aim(player.aim);
            fields[player_field::HP] = i32::from(player.hp);
            fields[player_field::SCORE] = player.score;
            fields[player_field::RESPAWN] = player.respawn_ticks as i32;
            fields[player_field::FLAGS] = if player.disconnected { FLAG_DISCONNECTED } else { 0 };
            snapshot.entities.push(EntityState {
                id: player.id.wire_id(),
                kind: EntityKind::Player,
                fields,
                name: Some(player.name.clone()),
            });
            snapshot.keys.push(Key {
                id: player.id.wire_id(),
                kind: EntityKind::Player,
                generation: player.id.generation,
            });
            snapshot.velocity_rest.push([rest_x, rest_y]);
        }
        for bullet in world.bullets() {
            let mut fields = [0; MAX_FIELDS];
            fields[bullet_field::X] = quantize(bullet.origin.x);
            fields[bullet_field::Y] = quantize(bullet.origin.y);
            fields[bullet_field::VX] = quantize(bullet.vel.x);
            fields[bullet_field::VY] = quantize(bullet.vel.y);
            fields[bullet_field::OWNER] = bullet.owner.wire_id() as i32;
            fields[bullet_field::SPAWN_TICK] = bullet.spawn_tick as i32;
            snapshot.entities.push(EntityState {
                id: bullet.id.wire_id(),
                kind: EntityKind::Bullet,
                fields,
                name: None,
            });
            snapshot.keys.push(Key {
                id: bullet.id.wire_id(),
                kind: EntityKind::Bullet,
                generation: bullet.id.generation,
            });
            snapshot.velocity_rest.push([0, 0]);
        }
        debug_assert!(snapshot.entities.windows(2).all(|w| w[0].id < w[1].id));
        snapshot
    }

    /// What rounding took off the velocity of player `id` (for its own snapshot's `own` element).
    pub fn velocity_rest(&self, id: u32) -> Option<[i32; 2]> {
        let index = self.entities.binary_search_by_key(&id, |e| e.id).ok()?;
        Some(self.velocity_rest[index])
    }

    /// Builds a snapshot from entities (sorted by id) and their generations: for tests and benchmarks.
    pub fn from_entities(tick: u32, entities: Vec<(EntityState, u32)>) -> WorldSnapshot {
        let (entities, generations): (Vec<_>, Vec<_>) = entities.into_iter().unzip();
        assert!(entities.windows(2).all(|w| w[0].id < w[1].id), "entities must be sorted by id");
        let velocity_rest = vec![[0, 0]; entities.len()];
        let keys = entities
            .iter()
            .zip(generations)
            .map(|(e, generation)| Key { id: e.id, kind: e.kind, generation })
            .collect();
        WorldSnapshot { tick, entities, keys, velocity_rest }
    }

    pub fn entity(&self, id: u32) -> Option<&EntityState> {
        self.entities.binary_search_by_key(&id, |e| e.id).ok().map(|i| &self.entities[i])
    }
}

/// What tells two entities apart: the same id, kind and generation is the same entity at two ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    id: u32,
    kind: EntityKind,
    generation: u32,
}

/// An entity without its name: plain data, so a client copies a whole state per tick without touching a reference
/// count. The client keeps names aside (they never change for the life of an entity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entity {
    pub id: u32,
    pub kind: EntityKind,
    pub fields: [i32; MAX_FIELDS],
}

impl From<&EntityState> for Entity {
    fn from(state: &EntityState) -> Entity {
        Entity { id: state.id, kind: state.kind, fields: state.fields }
    }
}

/// A snapshot as one client sees it: all of it, or the entities at `visible` (ascending indices into
/// `entities`, so still sorted by id) when interest management limits the view.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    snapshot: &'a WorldSnapshot,
    visible: Option<&'a [u32]>,
}

impl<'a> View<'a> {
    pub fn all(snapshot: &'a WorldSnapshot) -> View<'a> {
        View { snapshot, visible: None }
    }

    pub fn subset(snapshot: &'a WorldSnapshot, visible: &'a [u32]) -> View<'a> {
        View { snapshot, visible: Some(visible) }
    }

    fn len(&self) -> usize {
        self.visible.map_or(self.snapshot.entities.len(), <[u32]>::len)
    }

    fn index(&self, k: usize) -> usize {
        self.visible.map_or(k, |visible| visible[k] as usize)
    }

    fn entity(&self, k: usize) -> &'a EntityState {
        &self.snapshot.entities[self.index(k)]
    }

    fn key(&self, k: usize) -> Key {
        self.snapshot.keys[self.index(k)]
    }

    /// The tick of the snapshot.
    pub fn tick(&self) -> u32 {
        self.snapshot.tick
    }

    /// The entities in view, sorted by id.
    pub fn entities(&self) -> impl Iterator<Item = &'a EntityState> + '_ {
        (0..self.len()).map(|k| self.entity(k))
    }
}

/// The last `capacity` snapshots, one per tick, so deltas can be encoded against any recent acknowledgement.
#[derive(Debug)]
pub struct SnapshotHistory {
    ring: VecDeque<Arc<WorldSnapshot>>,
    capacity: usize,
}

impl SnapshotHistory {
    pub fn new(capacity: usize) -> SnapshotHistory {
        SnapshotHistory { ring: VecDeque::with_capacity(capacity), capacity: capacity.max(1) }
    }

    /// Records the snapshot of a new tick; ticks must increase by exactly one per push.
    pub fn push(&mut self, snapshot: Arc<WorldSnapshot>) {
        debug_assert!(self.ring.back().is_none_or(|last| last.tick + 1 == snapshot.tick));
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back(snapshot);
    }

    pub fn get(&self, tick: u32) -> Option<&Arc<WorldSnapshot>> {
        let oldest = self.ring.front()?.tick;
        let index = tick.checked_sub(oldest)? as usize;
        self.ring.get(index)
    }

    pub fn latest(&self) -> Option<&Arc<WorldSnapshot>> {
        self.ring.back()
    }

    pub fn oldest_tick(&self) -> Option<u32> {
        self.ring.front().map(|s| s.tick)
    }

    /// Drops the snapshots older than `tick` (no client can use them as a baseline any more), always keeping the
    /// newest.
    pub fn forget_before(&mut self, tick: u32) {
        while self.ring.len() > 1 && self.ring.front().is_some_and(|s| s.tick < tick) {
            self.ring.pop_front();
        }
    }
}

/// Game events of recent ticks, in tick order, so each snapshot can carry those after its baseline.
#[derive(Debug, Default)]
pub struct EventLog {
    events: VecDeque<Event>,
}

impl EventLog {
    /// Records the sim's events, translated to wire ids.
    pub fn record(&mut self, events: impl IntoIterator<Item = TimedEvent>) {
        for TimedEvent { tick, event } in events {
            self.events.push_back(match event {
                GameEvent::Kill { killer, victim } => {
                    Event::Kill { tick, killer: killer.wire_id(), victim: victim.wire_id() }
                }
                GameEvent::Join { player, name } => Event::Join { tick, player: player.wire_id(), name },
                GameEvent::Leave { player } => Event::Leave { tick, player: player.wire_id() },
            });
        }
    }

    /// Forgets events at or before `tick` (older than the room keeps them).
    pub fn forget_through(&mut self, tick: u32) {
        while self.events.front().is_some_and(|e| e.tick() <= tick) {
            self.events.pop_front();
        }
    }

    /// Events with `after < tick <= through`.
    pub fn between(&self, after: u32, through: u32) -> impl Iterator<Item = &Event> {
        let start = self.events.partition_point(|e| e.tick() <= after);
        self.events.range(start..).take_while(move |e| e.tick() <= through)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ServerMessage, Snapshot};

    const RATE: u32 = 30;

    /// A tiny deterministic generator, so the random walks below repeat exactly.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, bound: u32) -> u32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) % u64::from(bound)) as u32
        }
    }

    fn entity(id: u32, value: i32) -> EntityState {
        let kind = if id < 65536 { EntityKind::Player } else { EntityKind::Bullet };
        EntityState {
            id,
            kind,
            fields: [value; MAX_FIELDS],
            name: (kind == EntityKind::Player).then(|| Arc::from("p")),
        }
        .normalized()
    }

    impl EntityState {
        /// Fields past the kind's are 0; a player's velocity is a multiple of the tick rate and its aim in 0..256,
        /// as the wire has them.
        fn normalized(mut self) -> Self {
            for field in self.kind.field_count()..MAX_FIELDS {
                self.fields[field] = 0;
            }
            if self.kind == EntityKind::Player {
                for field in [player_field::VX, player_field::VY] {
                    self.fields[field] = wire_velocity(self.fields[field], RATE).0;
                }
                self.fields[player_field::AIM] &= 255;
            }
            self
        }
    }

    /// Evolves a world of entities at random: steady motion, random changes of any player field, spawns, despawns
    /// and slot reuse with a new generation.
    fn random_walk(seed: u64, ticks: u32) -> Vec<WorldSnapshot> {
        let mut rng = Lcg(seed);
        let mut live: Vec<(EntityState, u32)> = Vec::new();
        let mut generation = 0;
        let mut snapshots = Vec::new();
        for tick in 1..=ticks {
            for (e, _) in live.iter_mut() {
                delta::predict(e.kind, &mut e.fields, 1, RATE);
                if e.kind == EntityKind::Player && rng.next(3) == 0 {
                    let field = rng.next(e.kind.field_count() as u32) as usize;
                    e.fields[field] += rng.next(2000) as i32 - 1000;
                    *e = e.clone().normalized();
                }
            }
            live.retain(|_| rng.next(20) != 0);
            for _ in 0..rng.next(4) {
                let id = if rng.next(2) == 0 { 1 + rng.next(40) } else { 65536 + rng.next(60) };
                generation += 1;
                match live.iter().position(|(e, _)| e.id == id) {
                    // Same slot, new entity: must arrive as created, never as residuals.
                    Some(index) => live[index] = (entity(id, rng.next(1000) as i32), generation),
                    None => live.push((entity(id, rng.next(1000) as i32), generation)),
                }
            }
            live.sort_by_key(|(e, _)| e.id);
            snapshots.push(WorldSnapshot::from_entities(tick, live.clone()));
        }
        snapshots
    }

    /// The snapshot message a client would decode: `current` against `base`, no events or hits.
    fn message(base: Option<View<'_>>, current: View<'_>) -> Snapshot {
        let mut bytes = Vec::new();
        crate::codec::encode_snapshot_header(&mut bytes, current.tick(), base.map_or(0, |b| b.tick()), 0);
        bytes.extend(encode_delta(base, current, RATE));
        bytes.extend([0x90, 0x90, 0x90]);
        match crate::codec::decode_server(&bytes).unwrap() {
            ServerMessage::Snapshot(snapshot) => snapshot,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn steady_motion_and_unchanged_entities_cost_nothing() {
        let mut moving = entity(1, 0);
        moving.fields[player_field::VX] = 960;
        let mut moved = moving.clone();
        moved.fields[player_field::X] += 32 * 2;
        let a = WorldSnapshot::from_entities(1, vec![(moving, 1), (entity(65536, 9), 2)]);
        let b = WorldSnapshot::from_entities(3, vec![(moved, 1), (entity(65536, 9), 2)]);
        let snapshot = message(Some(View::all(&a)), View::all(&b));
        assert!(snapshot.created.is_empty() && snapshot.changed.is_empty() && snapshot.removed.is_empty());
        let mut replica = Replica::new(RATE);
        replica.apply(&message(None, View::all(&a))).unwrap();
        replica.apply(&snapshot).unwrap();
        assert_eq!(replica.latest_states().unwrap().1, b.entities);
    }

    #[test]
    fn deltas_carry_residuals_created_removed_and_reused_ids() {
        let mut moved = entity(1, 5);
        moved.fields[player_field::X] = 6;
        moved.fields[player_field::RESPAWN] = 1;
        let a = WorldSnapshot::from_entities(1, vec![(entity(1, 5), 1), (entity(2, 5), 2), (entity(3, 5), 3)]);
        let b = WorldSnapshot::from_entities(2, vec![(moved, 1), (entity(3, 5), 9), (entity(4, 5), 4)]);
        let snapshot = message(Some(View::all(&a)), View::all(&b));
        assert_eq!(snapshot.removed, vec![2]);
        let created: Vec<u32> = snapshot.created.iter().map(|e| e.id).collect();
        assert_eq!(created, vec![3, 4], "id 3 was reused by a new entity, so it is created again");
        let mut marks = Vec::new();
        delta::decode_changes(&snapshot.changed, 3, &mut marks).unwrap();
        assert_eq!(marks.len(), 1, "only entity 1 has residuals");
        let (index, residuals) = marks[0];
        // x: 5 -> 6 (the velocity 0 predicts 5); respawn: 5 predicted to 4, now 1.
        assert_eq!((index, residuals[player_field::X], residuals[player_field::RESPAWN]), (0, 1, -3));
    }

    #[test]
    fn replica_rebuilds_every_tick_when_every_frame_arrives() {
        let snapshots = random_walk(7, 300);
        let mut replica = Replica::new(RATE);
        let mut acked = 0;
        for (i, current) in snapshots.iter().enumerate() {
            // The ack arrives one tick late, as it would over a network.
            let base = (i >= 1 && acked != 0).then(|| View::all(&snapshots[acked as usize - 1]));
            replica.apply(&message(base, View::all(current))).unwrap();
            assert_eq!(replica.latest_states().unwrap().1, current.entities, "tick {}", current.tick);
            acked = current.tick;
        }
    }

    #[test]
    fn replica_converges_when_frames_are_dropped() {
        let snapshots = random_walk(11, 400);
        let mut rng = Lcg(3);
        let mut replica = Replica::new(RATE);
        let mut acked = 0u32;
        let mut applied = 0;
        for current in &snapshots {
            let base = (acked != 0 && current.tick - acked <= 32).then(|| View::all(&snapshots[acked as usize - 1]));
            let message = message(base, View::all(current));
            // 40% of frames are lost on the way, sometimes many in a row.
            if rng.next(10) < 4 || (current.tick % 50 < 35 && current.tick % 50 > 5 && current.tick > 200) {
                continue;
            }
            replica.apply(&message).unwrap();
            applied += 1;
            assert_eq!(replica.latest_states().unwrap().1, current.entities, "tick {}", current.tick);
            acked = current.tick;
        }
        assert!(applied > 100, "only {applied} frames applied");
    }

    #[test]
    fn partial_views_diff_against_what_was_seen() {
        let snapshots = random_walk(5, 120);
        let mut rng = Lcg(9);
        let pick = |s: &WorldSnapshot, rng: &mut Lcg| -> Vec<u32> {
            (0..s.entities.len() as u32).filter(|_| rng.next(3) != 0).collect()
        };
        for pair in snapshots.windows(8) {
            let (base, current) = (&pair[0], &pair[7]);
            let (seen_before, seen_now) = (pick(base, &mut rng), pick(current, &mut rng));
            let (base_view, view) = (View::subset(base, &seen_before), View::subset(current, &seen_now));
            let mut replica = Replica::new(RATE);
            replica.apply(&message(None, base_view)).unwrap();
            replica.apply(&message(Some(base_view), view)).unwrap();
            let expected: Vec<EntityState> = view.entities().cloned().collect();
            assert_eq!(replica.latest_states().unwrap().1, expected, "tick {} against {}", current.tick, base.tick);
        }
    }

    #[test]
    fn a_corrupt_change_stream_changes_nothing() {
        let a = WorldSnapshot::from_entities(1, vec![(entity(1, 5), 1), (entity(65536, 5), 2)]);
        let mut replica = Replica::new(RATE);
        replica.apply(&message(None, View::all(&a))).unwrap();
        // The bullet marked as changed.
        let mut bits = bits::BitWriter::default();
        bits.bit(false);
        bits.bit(true);
        for _ in 0..delta::COLUMNS {
            bits.write(0, 6);
        }
        let snapshot = Snapshot { tick: 2, baseline: 1, changed: bits.finish().to_vec(), ..Snapshot::default() };
        assert_eq!(replica.apply(&snapshot).unwrap_err(), ReplicaError::CannotChange { tick: 2, id: 65536 });
        // The player marked and removed.
        let mut bits = bits::BitWriter::default();
        bits.bit(true);
        bits.bit(false);
        for _ in 0..delta::COLUMNS {
            bits.write(0, 6);
        }
        let snapshot =
            Snapshot { tick: 2, baseline: 1, changed: bits.finish().to_vec(), removed: vec![1], ..Snapshot::default() };
        assert_eq!(replica.apply(&snapshot).unwrap_err(), ReplicaError::CannotChange { tick: 2, id: 1 });
        let truncated = Snapshot { tick: 2, baseline: 1, changed: vec![1], ..Snapshot::default() };
        assert!(matches!(replica.apply(&truncated), Err(ReplicaError::CorruptChanges { .. })));
        assert_eq!(replica.latest().unwrap().0, 1, "nothing stored");
    }

    #[test]
    fn a_missing_baseline_is_reported_not_guessed() {
        let mut replica = Replica::new(RATE);
        let message = Snapshot { tick: 10, baseline: 8, ..Snapshot::default() };
        assert_eq!(replica.apply(&message).unwrap_err(), ReplicaError::MissingBaseline { tick: 10, baseline: 8 });
        let full_message = Snapshot { tick: 11, ..Snapshot::default() };
        replica.apply(&full_message).unwrap();
        let stale = Snapshot { tick: 11, ..Snapshot::default() };
        assert_eq!(replica.apply(&stale).unwrap_err(), ReplicaError::Stale { tick: 11, newest: 11 });
    }

    #[test]
    fn events_are_delivered_once() {
        let mut replica = Replica::new(RATE);
        let kill = Event::Kill { tick: 2, killer: 1, victim: 2 };
        let leave = Event::Leave { tick: 3, player: 2 };
        let first = Snapshot { tick: 2, events: vec![kill.clone()], ..Snapshot::default() };
        assert_eq!(replica.apply(&first).unwrap().new_events, vec![kill.clone()]);
        // Not yet acknowledged by the server's view: tick 3's delta against 1 carries the kill again.
        let second = Snapshot { tick: 3, baseline: 2, events: vec![kill, leave.clone()], ..Snapshot::default() };
        assert_eq!(replica.apply(&second).unwrap().new_events, vec![leave]);
    }

    #[test]
    fn wire_velocity_and_aim_round_to_the_nearest_step() {
        assert_eq!(wire_velocity(44, 30), (30, 14));
        assert_eq!(wire_velocity(45, 30), (60, -15), "halves away from zero");
        assert_eq!(wire_velocity(-45, 30), (-60, 15));
        assert_eq!(wire_velocity(-14, 30), (0, -14));
        for extreme in [i32::MIN, i32::MAX, i32::MIN + 1] {
            let (wire, rest) = wire_velocity(extreme, 30);
            assert_eq!((wire % 30, i64::from(wire) + i64::from(rest)), (0, i64::from(extreme)));
        }
        assert_eq!((wire_aim(0), wire_aim(127), wire_aim(128), wire_aim(65535)), (0, 0, 1, 0));
    }

    #[test]
    fn history_and_event_log_window() {
        let mut history = SnapshotHistory::new(4);
        for tick in 1..=6 {
            history.push(Arc::new(WorldSnapshot { tick, ..WorldSnapshot::default() }));
        }
        assert!(history.get(2).is_none());
        assert_eq!(history.get(3).unwrap().tick, 3);
        assert_eq!(history.get(6).unwrap().tick, 6);
        assert!(history.get(7).is_none());

        let mut log = EventLog::default();
        log.events.extend((1..=6).map(|tick| Event::Leave { tick, player: tick }));
        let between: Vec<u32> = log.between(2, 4).map(Event::tick).collect();
        assert_eq!(between, vec![3, 4]);
        log.forget_through(3);
        assert_eq!(log.between(0, 10).count(), 3);
    }
}

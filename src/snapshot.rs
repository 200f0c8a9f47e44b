//! Snapshots and deltas: the server's view of the world per tick, the diff against a client's acknowledged
//! baseline, and the client-side `Replica` that applies the stream to rebuild that view.
//!
//! Entities are kept sorted by wire id and two snapshots are walked together, as in Quake III's
//! `SV_EmitPacketEntities`: same id and generation → a field delta (nothing when unchanged), id only in the new one
//! or reused with a new generation → created, id only in the old one → removed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use thiserror::Error;

use crate::protocol::{
    bullet_field, mask_fields, player_field, EntityKind, EntityState, Event, FieldDelta, Hit, Snapshot,
    FLAG_DISCONNECTED, MAX_FIELDS,
};
use crate::sim::{quantize, GameEvent, TimedEvent, World};

/// The server's quantized view of the whole world at one tick.
#[derive(Clone, Debug, Default)]
pub struct WorldSnapshot {
    pub tick: u32,
    /// Sorted by id.
    pub entities: Vec<EntityState>,
    /// The sim's generation of each entity (parallel to `entities`): tells a reused id from the entity it replaced.
    generations: Vec<u32>,
}

impl WorldSnapshot {
    /// Captures the world as clients will see it. Players (ids below 65536) come before bullets, and each list is
    /// in slot order, so the result is sorted by id without a sort.
    pub fn capture(world: &World) -> WorldSnapshot {
        let mut snapshot = WorldSnapshot {
            tick: world.tick(),
            entities: Vec::with_capacity(world.player_count() + world.bullet_count()),
            generations: Vec::with_capacity(world.player_count() + world.bullet_count()),
        };
        for player in world.players() {
            let mut fields = [0; MAX_FIELDS];
            fields[player_field::X] = quantize(player.pos.x);
            fields[player_field::Y] = quantize(player.pos.y);
            fields[player_field::VX] = quantize(player.vel.x);
            fields[player_field::VY] = quantize(player.vel.y);
            fields[player_field::AIM] = i32::from(player.aim);
            fields[player_field::HP] = i32::from(player.hp);
            fields[player_field::SCORE] = player.score;
            fields[player_field::RESPAWN] = player.respawn_ticks as i32;
            fields[player_field::FLAGS] = if player.disconnected { FLAG_DISCONNECTED } else { 0 };
            snapshot.push(
                EntityState {
                    id: player.id.wire_id(),
                    kind: EntityKind::Player,
                    fields,
                    name: Some(player.name.clone()),
                },
                player.id.generation,
            );
        }
        for bullet in world.bullets() {
            let mut fields = [0; MAX_FIELDS];
            fields[bullet_field::X] = quantize(bullet.origin.x);
            fields[bullet_field::Y] = quantize(bullet.origin.y);
            fields[bullet_field::VX] = quantize(bullet.vel.x);
            fields[bullet_field::VY] = quantize(bullet.vel.y);
            fields[bullet_field::OWNER] = bullet.owner.wire_id() as i32;
            fields[bullet_field::SPAWN_TICK] = bullet.spawn_tick as i32;
            snapshot.push(
                EntityState { id: bullet.id.wire_id(), kind: EntityKind::Bullet, fields, name: None },
                bullet.id.generation,
            );
        }
        debug_assert!(snapshot.entities.windows(2).all(|w| w[0].id < w[1].id));
        snapshot
    }

    /// Builds a snapshot from entities (sorted by id) and their generations: for tests and benchmarks.
    pub fn from_entities(tick: u32, entities: Vec<(EntityState, u32)>) -> WorldSnapshot {
        let (entities, generations): (Vec<_>, Vec<_>) = entities.into_iter().unzip();
        assert!(entities.windows(2).all(|w| w[0].id < w[1].id), "entities must be sorted by id");
        WorldSnapshot { tick, entities, generations }
    }

    fn push(&mut self, entity: EntityState, generation: u32) {
        self.entities.push(entity);
        self.generations.push(generation);
    }

    pub fn entity(&self, id: u32) -> Option<&EntityState> {
        self.entities.binary_search_by_key(&id, |e| e.id).ok().map(|i| &self.entities[i])
    }
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

/// What changed between a baseline and a newer snapshot, ready to serialize.
#[derive(Debug, Default)]
pub struct Delta<'a> {
    pub created: Vec<&'a EntityState>,
    pub changed: Vec<FieldDelta>,
    pub removed: Vec<u32>,
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

    fn generation(&self, k: usize) -> u32 {
        self.snapshot.generations[self.index(k)]
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

/// A full snapshot: every entity created.
pub fn full(current: &WorldSnapshot) -> Delta<'_> {
    full_view(View::all(current))
}

/// A full snapshot of what `current` shows.
pub fn full_view(current: View<'_>) -> Delta<'_> {
    Delta { created: current.entities().collect(), changed: Vec::new(), removed: Vec::new() }
}

/// Diffs `current` against `baseline` by walking both sorted entity lists together.
pub fn diff<'a>(baseline: &WorldSnapshot, current: &'a WorldSnapshot) -> Delta<'a> {
    diff_views(View::all(baseline), View::all(current))
}

/// Diffs two views; an entity that entered the view is created, one that left it is removed.
pub fn diff_views<'a>(baseline: View<'_>, current: View<'a>) -> Delta<'a> {
    let mut delta = Delta::default();
    let (old_len, new_len) = (baseline.len(), current.len());
    let (mut i, mut j) = (0, 0);
    while i < old_len || j < new_len {
        let old_id = if i < old_len { baseline.entity(i).id } else { u32::MAX };
        let new_id = if j < new_len { current.entity(j).id } else { u32::MAX };
        if old_id < new_id || j == new_len {
            delta.removed.push(old_id);
            i += 1;
        } else if new_id < old_id || i == old_len {
            delta.created.push(current.entity(j));
            j += 1;
        } else {
            let (old, new) = (baseline.entity(i), current.entity(j));
            if baseline.generation(i) != current.generation(j) || old.kind != new.kind {
                delta.created.push(new);
            } else if let Some(change) = field_delta(old, new) {
                delta.changed.push(change);
            }
            i += 1;
            j += 1;
        }
    }
    delta
}

/// A record's place in `SharedRecords::arena`: `(start, len)`; `UNKNOWN` when not encoded yet, and an empty range
/// for "unchanged".
type Span = (u32, u32);
const UNKNOWN: Span = (u32::MAX, 0);

/// Encodes per-client deltas (interest management) while encoding each entity's record at most once per tick:
/// its `created` entry once, its `changed` entry once per baseline tick. Clients whose views overlap then cost a
/// copy of bytes each, not a diff and a serialization each.
#[derive(Debug, Default)]
pub struct SharedRecords {
    tick: u32,
    arena: Vec<u8>,
    /// By entity index in the current snapshot.
    created: Vec<Span>,
    /// By baseline tick, then entity index in the current snapshot.
    changed: Vec<(u32, Vec<Span>)>,
    spans: Vec<Span>,
    changes: Vec<Span>,
    removed: Vec<u32>,
}

impl SharedRecords {
    /// Forgets the records of the previous tick.
    pub fn begin_tick(&mut self, current: &WorldSnapshot) {
        self.tick = current.tick;
        self.arena.clear();
        self.created.clear();
        self.created.resize(current.entities.len(), UNKNOWN);
        for (_, spans) in &mut self.changed {
            spans.clear();
        }
    }

    fn created_record(&mut self, current: &View<'_>, k: usize) -> Span {
        let index = current.index(k);
        if self.created[index] == UNKNOWN {
            let start = self.arena.len();
            crate::codec::append(&mut self.arena, current.entity(k));
            self.created[index] = (start as u32, (self.arena.len() - start) as u32);
        }
        self.created[index]
    }

    /// The slot of this tick's `changed` records against `baseline`, opened on first use.
    fn changed_slot(&mut self, baseline: u32) -> usize {
        if let Some(slot) = self.changed.iter().position(|(tick, spans)| *tick == baseline && !spans.is_empty()) {
            return slot;
        }
        let slot = match self.changed.iter().position(|(_, spans)| spans.is_empty()) {
            Some(slot) => slot,
            None => {
                self.changed.push((0, Vec::new()));
                self.changed.len() - 1
            }
        };
        self.changed[slot].0 = baseline;
        self.changed[slot].1.resize(self.created.len(), UNKNOWN);
        slot
    }

    fn changed_record(&mut self, slot: usize, old: &EntityState, current: &View<'_>, k: usize) -> Span {
        let index = current.index(k);
        if self.changed[slot].1[index] == UNKNOWN {
            let span = match field_delta(old, current.entity(k)) {
                Some(change) => {
                    let start = self.arena.len();
                    crate::codec::append(&mut self.arena, &change);
                    (start as u32, (self.arena.len() - start) as u32)
                }
                None => (0, 0),
            };
            self.changed[slot].1[index] = span;
        }
        self.changed[slot].1[index]
    }

    /// Writes `created, changed, removed` of `current` against `base` (a full snapshot without one) to `out`,
    /// byte for byte what serializing `diff_views` / `full_view` would give.
    pub fn write_delta(&mut self, out: &mut Vec<u8>, base: Option<View<'_>>, current: View<'_>) {
        debug_assert_eq!(current.tick(), self.tick, "begin_tick first");
        let (mut spans, mut changes, mut removed) =
            (std::mem::take(&mut self.spans), std::mem::take(&mut self.changes), std::mem::take(&mut self.removed));
        spans.clear();
        changes.clear();
        removed.clear();
        match base {
            None => {
                for k in 0..current.len() {
                    spans.push(self.created_record(&current, k));
                }
            }
            Some(base) => {
                let slot = self.changed_slot(base.tick());
                let (old_len, new_len) = (base.len(), current.len());
                let (mut i, mut j) = (0, 0);
                while i < old_len || j < new_len {
                    let old_id = if i < old_len { Some(base.entity(i).id) } else { None };
                    let new_id = if j < new_len { Some(current.entity(j).id) } else { None };
                    match (old_id, new_id) {
                        (Some(old), new) if new.is_none_or(|new| old < new) => {
                            removed.push(old);
                            i += 1;
                        }
                        (old, Some(new)) if old.is_none_or(|old| new < old) => {
                            spans.push(self.created_record(&current, j));
                            j += 1;
                        }
                        _ => {
                            let old = base.entity(i);
                            if base.generation(i) != current.generation(j) || old.kind != current.entity(j).kind {
                                spans.push(self.created_record(&current, j));
                            } else {
                                let span = self.changed_record(slot, old, &current, j);
                                if span.1 != 0 {
                                    changes.push(span);
                                }
                            }
                            i += 1;
                            j += 1;
                        }
                    }
                }
            }
        }
        for list in [&spans, &changes] {
            // Writing to a Vec cannot fail.
            let _ = rmp::encode::write_array_len(out, list.len() as u32);
            for &(start, len) in list.iter() {
                out.extend_from_slice(&self.arena[start as usize..(start + len) as usize]);
            }
        }
        crate::codec::append(out, &removed);
        (self.spans, self.changes, self.removed) = (spans, changes, removed);
    }
}

/// The fields that differ, each as its difference from the baseline (wrapping): a moving player's position
/// changes by a few dozen units of 1/16 per tick, which MessagePack writes in one or two bytes instead of three to
/// five for the absolute value.
fn field_delta(old: &EntityState, new: &EntityState) -> Option<FieldDelta> {
    let mut mask = 0u16;
    let mut fields = [0; MAX_FIELDS];
    let count = new.kind.field_count();
    for (index, (old, new)) in old.fields[..count].iter().zip(&new.fields[..count]).enumerate() {
        if old != new {
            mask |= 1 << index;
            fields[index] = new.wrapping_sub(*old);
        }
    }
    (mask != 0).then_some(FieldDelta { id: new.id, mask, fields })
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

    /// Forgets events at or before `tick` (no baseline that old can be used any more).
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

/// Why a client could not apply a snapshot.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReplicaError {
    #[error("snapshot {tick} is a delta against tick {baseline}, which this client does not have")]
    MissingBaseline { tick: u32, baseline: u32 },
    #[error("snapshot {tick} changes entity {id}, which does not exist in its baseline")]
    UnknownEntity { tick: u32, id: u32 },
    #[error("snapshot {tick} is not newer than the newest applied tick {newest}")]
    Stale { tick: u32, newest: u32 },
    #[error("snapshot {tick} lists entities out of id order")]
    Unsorted { tick: u32 },
    #[error("snapshot {tick} changes entity {id} with mask {mask:#x}, naming fields its kind does not have")]
    NoSuchField { tick: u32, id: u32, mask: u16 },
}

/// The client's side of the delta contract: rebuilds the server's view from full and delta snapshots.
///
/// It keeps only the states the server may still use as a baseline: the server never encodes against a tick
/// older than the baseline of a delta it already sent, so everything older is dropped on each apply of a delta.
#[derive(Debug, Default)]
pub struct Replica {
    states: VecDeque<(u32, Vec<Entity>)>,
    /// Player names by id, replaced when a `created` entry reuses the id.
    names: HashMap<u32, Arc<str>>,
    newest_event_tick: u32,
    /// Newest tick of a hit confirmation handled (the same once-only rule as events).
    newest_hit_tick: u32,
    /// The entity vector of the last state dropped, reused for the next state built (no allocation per apply).
    spare: Vec<Entity>,
}

/// The result of applying one snapshot.
#[derive(Debug)]
pub struct Applied {
    pub tick: u32,
    /// Events this client had not seen yet.
    pub new_events: Vec<Event>,
    /// Hit confirmations (this client's bullets that hit someone) it had not seen yet.
    pub new_hits: Vec<Hit>,
}

/// Upper bound on kept states, in case a server never advances its baselines.
const MAX_REPLICA_STATES: usize = 128;

impl Replica {
    pub fn new() -> Replica {
        Replica::default()
    }

    /// The newest applied tick and its entities, sorted by id.
    pub fn latest(&self) -> Option<(u32, &[Entity])> {
        self.states.back().map(|(tick, entities)| (*tick, entities.as_slice()))
    }

    /// The name of player `id` in the newest state.
    pub fn name(&self, id: u32) -> Option<&Arc<str>> {
        self.names.get(&id)
    }

    /// The newest state with names, in the server's own form (for comparing with the server's view).
    pub fn latest_states(&self) -> Option<(u32, Vec<EntityState>)> {
        let (tick, entities) = self.latest()?;
        let states = entities
            .iter()
            .map(|e| EntityState {
                id: e.id,
                kind: e.kind,
                fields: e.fields,
                name: (e.kind == EntityKind::Player).then(|| self.names.get(&e.id).cloned()).flatten(),
            })
            .collect();
        Some((tick, states))
    }

    pub fn apply(&mut self, snapshot: &Snapshot) -> Result<Applied, ReplicaError> {
        if let Some((newest, _)) = self.states.back() {
            if snapshot.tick <= *newest {
                return Err(ReplicaError::Stale { tick: snapshot.tick, newest: *newest });
            }
        }
        if !ascending(snapshot.created.iter().map(|e| e.id))
            || !ascending(snapshot.changed.iter().map(|c| c.id))
            || !ascending(snapshot.removed.iter().copied())
        {
            return Err(ReplicaError::Unsorted { tick: snapshot.tick });
        }
        // Build first, change nothing until it succeeded: a refused snapshot leaves the replica as it was.
        // A full snapshot keeps the older states: acknowledgements sent before it arrived may still make the
        // server encode against them.
        let (base, keep_from) = if snapshot.baseline == 0 {
            (&[][..], 0)
        } else {
            let position = self
                .states
                .iter()
                .position(|(tick, _)| *tick == snapshot.baseline)
                .ok_or(ReplicaError::MissingBaseline { tick: snapshot.tick, baseline: snapshot.baseline })?;
            (&self.states[position].1[..], position)
        };
        let mut entities = std::mem::take(&mut self.spare);
        if let Err(error) = merge(base, snapshot, &mut entities) {
            self.spare = entities;
            return Err(error);
        }
        for (_, dropped) in self.states.drain(..keep_from) {
            self.spare = dropped;
        }
        for created in &snapshot.created {
            if let Some(name) = &created.name {
                self.names.insert(created.id, name.clone());
            }
        }
        if self.states.len() == MAX_REPLICA_STATES {
            if let Some((_, dropped)) = self.states.pop_front() {
                self.spare = dropped;
            }
        }
        self.states.push_back((snapshot.tick, entities));
        let new_events: Vec<Event> =
            snapshot.events.iter().filter(|e| e.tick() > self.newest_event_tick).cloned().collect();
        if let Some(newest) = new_events.iter().map(Event::tick).max() {
            self.newest_event_tick = newest;
        }
        let new_hits: Vec<Hit> = snapshot.hits.iter().filter(|h| h.tick > self.newest_hit_tick).copied().collect();
        if let Some(newest) = new_hits.iter().map(|h| h.tick).max() {
            self.newest_hit_tick = newest;
        }
        Ok(Applied { tick: snapshot.tick, new_events, new_hits })
    }
}

fn ascending(mut ids: impl Iterator<Item = u32>) -> bool {
    let mut previous = None;
    ids.all(|id| previous.replace(id).is_none_or(|p| p < id))
}

/// Builds the state of `snapshot` from its baseline in one linear pass over the sorted lists (removed dropped,
/// created inserted or replacing, changed fields patched), so applying costs O(entities), not a shift per insert.
/// `out` is cleared first; only its capacity is used.
fn merge(base: &[Entity], snapshot: &Snapshot, out: &mut Vec<Entity>) -> Result<(), ReplicaError> {
    out.clear();
    out.reserve(base.len() + snapshot.created.len());
    let (mut created, mut removed) = (snapshot.created.iter().peekable(), snapshot.removed.iter().peekable());
    let mut rest = base;
    loop {
        // Copy the run of untouched entities up to the next created or removed id in one go.
        let next = match (created.peek().map(|e| e.id), removed.peek().map(|id| **id)) {
            (None, None) => break,
            (Some(id), None) => id,
            (None, Some(id)) => id,
            (Some(a), Some(b)) => a.min(b),
        };
        let run = rest.partition_point(|e| e.id < next);
        out.extend_from_slice(&rest[..run]);
        rest = &rest[run..];
        let in_base = rest.first().is_some_and(|e| e.id == next);
        if let Some(entity) = created.next_if(|e| e.id == next) {
            out.push(Entity::from(entity));
        } else if in_base && removed.peek() != Some(&&next) {
            out.push(rest[0]);
        }
        if in_base {
            rest = &rest[1..];
        }
        removed.next_if(|id| **id == next);
    }
    out.extend_from_slice(rest);
    let mut index = 0;
    for change in &snapshot.changed {
        while out.get(index).is_some_and(|e| e.id < change.id) {
            index += 1;
        }
        let entity = match out.get_mut(index) {
            Some(entity) if entity.id == change.id => entity,
            _ => return Err(ReplicaError::UnknownEntity { tick: snapshot.tick, id: change.id }),
        };
        // A mask naming a field the entity's kind does not have is the sender's bug: refused, as the JS client does.
        if u32::from(change.mask) >> entity.kind.field_count() != 0 {
            return Err(ReplicaError::NoSuchField { tick: snapshot.tick, id: change.id, mask: change.mask });
        }
        for field in mask_fields(u32::from(change.mask)) {
            entity.fields[field] = entity.fields[field].wrapping_add(change.fields[field]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        fn normalized(mut self) -> Self {
            for field in self.kind.field_count()..MAX_FIELDS {
                self.fields[field] = 0;
            }
            self
        }
    }

    /// Evolves a world of entities at random: moves, spawns, despawns and slot reuse with a new generation.
    fn random_walk(seed: u64, ticks: u32) -> Vec<WorldSnapshot> {
        let mut rng = Lcg(seed);
        let mut live: Vec<(EntityState, u32)> = Vec::new();
        let mut generation = 0;
        let mut snapshots = Vec::new();
        for tick in 1..=ticks {
            for (e, _) in live.iter_mut() {
                if rng.next(3) == 0 {
                    let field = rng.next(e.kind.field_count() as u32) as usize;
                    e.fields[field] += rng.next(200) as i32 - 100;
                }
            }
            live.retain(|_| rng.next(20) != 0);
            for _ in 0..rng.next(4) {
                let id = if rng.next(2) == 0 { 1 + rng.next(40) } else { 65536 + rng.next(60) };
                generation += 1;
                match live.iter().position(|(e, _)| e.id == id) {
                    // Same slot, new entity: must arrive as created, never as a field delta.
                    Some(index) => live[index] = (entity(id, rng.next(1000) as i32), generation),
                    None => live.push((entity(id, rng.next(1000) as i32), generation)),
                }
            }
            live.sort_by_key(|(e, _)| e.id);
            snapshots.push(WorldSnapshot::from_entities(tick, live.clone()));
        }
        snapshots
    }

    fn as_message(tick: u32, baseline: u32, delta: &Delta<'_>) -> Snapshot {
        Snapshot {
            tick,
            baseline,
            last_input_seq: 0,
            created: delta.created.iter().map(|e| (*e).clone()).collect(),
            changed: delta.changed.clone(),
            removed: delta.removed.clone(),
            events: Vec::new(),
            hits: Vec::new(),
        }
    }

    #[test]
    fn unchanged_entities_cost_nothing() {
        let a = WorldSnapshot::from_entities(1, vec![(entity(1, 5), 1), (entity(65536, 9), 2)]);
        let b = WorldSnapshot::from_entities(2, vec![(entity(1, 5), 1), (entity(65536, 9), 2)]);
        let delta = diff(&a, &b);
        assert!(delta.created.is_empty() && delta.changed.is_empty() && delta.removed.is_empty());
    }

    #[test]
    fn diff_reports_changed_fields_created_removed_and_reused_ids() {
        let mut moved = entity(1, 5);
        moved.fields[0] = 6;
        moved.fields[7] = 1;
        let a = WorldSnapshot::from_entities(1, vec![(entity(1, 5), 1), (entity(2, 5), 2), (entity(3, 5), 3)]);
        let b = WorldSnapshot::from_entities(2, vec![(moved, 1), (entity(3, 5), 9), (entity(4, 5), 4)]);
        let delta = diff(&a, &b);
        // Changed fields carry the difference from the baseline (5 -> 6 and 5 -> 1); the rest are 0.
        let fields = [1, 0, 0, 0, 0, 0, 0, -4, 0];
        assert_eq!(delta.changed, vec![FieldDelta { id: 1, mask: 0b1000_0001, fields }]);
        assert_eq!(delta.removed, vec![2]);
        let created: Vec<u32> = delta.created.iter().map(|e| e.id).collect();
        assert_eq!(created, vec![3, 4], "id 3 was reused by a new entity, so it is created again");
    }

    #[test]
    fn replica_rebuilds_every_tick_when_every_frame_arrives() {
        let snapshots = random_walk(7, 300);
        let mut replica = Replica::new();
        let mut acked = 0;
        for (i, current) in snapshots.iter().enumerate() {
            // The ack arrives one tick late, as it would over a network.
            let baseline = if i >= 1 { acked } else { 0 };
            let delta = match baseline {
                0 => full(current),
                b => diff(&snapshots[b as usize - 1], current),
            };
            replica.apply(&as_message(current.tick, baseline, &delta)).unwrap();
            assert_eq!(replica.latest_states().unwrap().1, current.entities, "tick {}", current.tick);
            acked = current.tick;
        }
    }

    #[test]
    fn replica_converges_when_frames_are_dropped() {
        let snapshots = random_walk(11, 400);
        let mut rng = Lcg(3);
        let mut replica = Replica::new();
        let mut acked = 0u32;
        let mut applied = 0;
        for current in &snapshots {
            let baseline = if acked != 0 && current.tick - acked <= 32 { acked } else { 0 };
            let delta = match baseline {
                0 => full(current),
                b => diff(&snapshots[b as usize - 1], current),
            };
            let message = as_message(current.tick, baseline, &delta);
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
    fn a_missing_baseline_is_reported_not_guessed() {
        let mut replica = Replica::new();
        let message = Snapshot { tick: 10, baseline: 8, ..Snapshot::default() };
        assert_eq!(replica.apply(&message).unwrap_err(), ReplicaError::MissingBaseline { tick: 10, baseline: 8 });
        let full_message = Snapshot { tick: 11, ..Snapshot::default() };
        replica.apply(&full_message).unwrap();
        let stale = Snapshot { tick: 11, ..Snapshot::default() };
        assert_eq!(replica.apply(&stale).unwrap_err(), ReplicaError::Stale { tick: 11, newest: 11 });
    }

    #[test]
    fn events_are_delivered_once() {
        let mut replica = Replica::new();
        let kill = Event::Kill { tick: 2, killer: 1, victim: 2 };
        let leave = Event::Leave { tick: 3, player: 2 };
        let first = Snapshot { tick: 2, events: vec![kill.clone()], ..Snapshot::default() };
        assert_eq!(replica.apply(&first).unwrap().new_events, vec![kill.clone()]);
        // Not yet acknowledged by the server's view: tick 3's delta against 1 carries the kill again.
        let second = Snapshot { tick: 3, baseline: 2, events: vec![kill, leave.clone()], ..Snapshot::default() };
        assert_eq!(replica.apply(&second).unwrap().new_events, vec![leave]);
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

    /// The shared-record encoder writes exactly the bytes serializing `diff_views` / `full_view` would.
    #[test]
    fn shared_records_match_the_plain_encoding() {
        let snapshots = random_walk(5, 120);
        let mut records = SharedRecords::default();
        let mut rng = Lcg(9);
        for pair in snapshots.windows(8) {
            let (base, current) = (&pair[0], &pair[7]);
            records.begin_tick(current);
            for _ in 0..6 {
                let pick = |s: &WorldSnapshot, rng: &mut Lcg| -> Vec<u32> {
                    (0..s.entities.len() as u32).filter(|_| rng.next(3) != 0).collect()
                };
                let (seen_before, seen_now) = (pick(base, &mut rng), pick(current, &mut rng));
                let (base_view, view) = (View::subset(base, &seen_before), View::subset(current, &seen_now));
                for with_base in [true, false] {
                    let mut shared = Vec::new();
                    records.write_delta(&mut shared, with_base.then_some(base_view), view);
                    let delta = if with_base { diff_views(base_view, view) } else { full_view(view) };
                    let mut plain = Vec::new();
                    crate::codec::append(&mut plain, &delta.created);
                    crate::codec::append(&mut plain, &delta.changed);
                    crate::codec::append(&mut plain, &delta.removed);
                    assert_eq!(shared, plain, "tick {} against {}", current.tick, base.tick);
                }
            }
        }
    }
}

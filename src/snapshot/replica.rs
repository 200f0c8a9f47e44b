//! The client's side of the delta contract (PROTOCOL.md 7.1): rebuilds the server's view from full and delta
//! snapshots, running the same prediction as the server before adding the residuals of `changed`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use thiserror::Error;

use super::delta::{advance, decode_changes, predict, ChangeError, COLUMNS};
use super::Entity;
use crate::protocol::{EntityKind, EntityState, Event, Hit, Snapshot};

/// Why a client could not apply a snapshot.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReplicaError {
    #[error("snapshot {tick} is a delta against tick {baseline}, which this client does not have")]
    MissingBaseline { tick: u32, baseline: u32 },
    #[error("snapshot {tick} is not newer than the newest applied tick {newest}")]
    Stale { tick: u32, newest: u32 },
    #[error("snapshot {tick} lists entities out of id order")]
    Unsorted { tick: u32 },
    #[error("snapshot {tick} has a corrupt `changed` stream: {reason}")]
    CorruptChanges { tick: u32, reason: &'static str },
    #[error("snapshot {tick} marks entity {id} as changed, but it is removed, replaced or a bullet")]
    CannotChange { tick: u32, id: u32 },
}

/// Rebuilds the server's view of one client.
///
/// It keeps only the states the server may still use as a baseline: the server never encodes against a tick
/// older than the baseline of a delta it already sent, so everything older is dropped on each apply of a delta.
#[derive(Debug)]
pub struct Replica {
    tick_rate: u32,
    states: VecDeque<(u32, Vec<Entity>)>,
    /// Player names by id, replaced when a `created` entry reuses the id.
    names: HashMap<u32, Arc<str>>,
    newest_event_tick: u32,
    /// Newest tick of a hit confirmation handled (the same once-only rule as events).
    newest_hit_tick: u32,
    /// The entity vector of the last state dropped, reused for the next state built (no allocation per apply).
    spare: Vec<Entity>,
    /// Decoded residuals of the snapshot being applied, by baseline index.
    marks: Vec<(u32, [i32; COLUMNS])>,
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
    /// A replica for a room of `tick_rate` ticks per second (the welcome's): the prediction needs it.
    pub fn new(tick_rate: u32) -> Replica {
        Replica {
            tick_rate,
            states: VecDeque::new(),
            names: HashMap::new(),
            newest_event_tick: 0,
            newest_hit_tick: 0,
            spare: Vec::new(),
            marks: Vec::new(),
        }
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
        if !ascending(snapshot.created.iter().map(|e| e.id)) || !ascending(snapshot.removed.iter().copied()) {
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
        decode_changes(&snapshot.changed, base.len(), &mut self.marks).map_err(|error| {
            let reason = match error {
                ChangeError::Truncated => "it ends early",
                ChangeError::Width(_) => "a column is wider than 32 bits",
                ChangeError::ShortWidth(..) => "a column's short width exceeds its full width",
                ChangeError::Malformed => "bytes or bits after its end, or no entity marked",
            };
            ReplicaError::CorruptChanges { tick: snapshot.tick, reason }
        })?;
        let ticks = snapshot.tick.wrapping_sub(snapshot.baseline);
        let mut entities = std::mem::take(&mut self.spare);
        if let Err(error) = merge(base, snapshot, &self.marks, ticks, self.tick_rate, &mut entities) {
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

/// Builds the state of `snapshot` from its baseline in one linear pass over the sorted lists: removed dropped,
/// created inserted or replacing, every other baseline entity predicted to the new tick and its residuals added.
/// `out` is cleared first; only its capacity is used.
fn merge(
    base: &[Entity],
    snapshot: &Snapshot,
    marks: &[(u32, [i32; COLUMNS])],
    ticks: u32,
    tick_rate: u32,
    out: &mut Vec<Entity>,
) -> Result<(), ReplicaError> {
    out.clear();
    out.reserve(base.len() + snapshot.created.len());
    let (mut created, mut removed) = (snapshot.created.iter().peekable(), snapshot.removed.iter().peekable());
    let mut marks = marks.iter().peekable();
    for (index, old) in base.iter().enumerate() {
        while let Some(new) = created.next_if(|e| e.id < old.id) {
            out.push(Entity::from(new));
        }
        // A removed id the baseline does not hold is harmless (the server never sends one).
        while removed.next_if(|id| **id < old.id).is_some() {}
        let mark = marks.next_if(|(at, _)| *at as usize == index);
        let cannot_change = ReplicaError::CannotChange { tick: snapshot.tick, id: old.id };
        if removed.next_if(|id| **id == old.id).is_some() {
            if mark.is_some() {
                return Err(cannot_change);
            }
            // Removed and created again under the same id is a replacement.
            if let Some(new) = created.next_if(|e| e.id == old.id) {
                out.push(Entity::from(new));
            }
            continue;
        }
        if let Some(new) = created.next_if(|e| e.id == old.id) {
            if mark.is_some() {
                return Err(cannot_change);
            }
            out.push(Entity::from(new));
            continue;
        }
        let mut entity = *old;
        match mark {
            Some((_, residuals)) if entity.kind == EntityKind::Player => {
                entity.fields = advance(&old.fields, residuals, ticks, tick_rate);
            }
            Some(_) => return Err(cannot_change),
            None => predict(entity.kind, &mut entity.fields, ticks, tick_rate),
        }
        out.push(entity);
    }
    out.extend(created.map(Entity::from));
    Ok(())
}

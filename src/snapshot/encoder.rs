//! The server's side of the delta coding: writes `created, changed, removed` of a client's view against the view it
//! acknowledged. A body is encoded once for every client that shares its view and baseline; a `created` entry is
//! encoded once per tick however many bodies create it.

use super::delta::{residuals, ChangeEncoder, Residuals};
use super::{View, WorldSnapshot};
use crate::protocol::EntityKind;

/// Each entity's `created` entry of one tick, encoded on first use.
#[derive(Debug, Default)]
pub struct CreatedRecords {
    tick: u32,
    arena: Vec<u8>,
    /// By entity index in the tick's snapshot: `(start, len)` in `arena`, `len` 0 while not encoded.
    spans: Vec<(u32, u32)>,
}

impl CreatedRecords {
    /// Forgets the previous tick's entries.
    pub fn begin_tick(&mut self, current: &WorldSnapshot) {
        self.tick = current.tick;
        self.arena.clear();
        self.spans.clear();
        self.spans.resize(current.entities.len(), (0, 0));
    }

    fn record(&mut self, current: &WorldSnapshot, index: usize) -> &[u8] {
        debug_assert_eq!(current.tick, self.tick, "begin_tick first");
        if self.spans[index].1 == 0 {
            let start = self.arena.len();
            crate::codec::append(&mut self.arena, &current.entities[index]);
            self.spans[index] = (start as u32, (self.arena.len() - start) as u32);
        }
        let (start, len) = self.spans[index];
        &self.arena[start as usize..(start + len) as usize]
    }
}

/// Each player's residuals against one baseline tick, computed once and shared by every body against that tick
/// (with interest management, a player is in the view of many cells).
#[derive(Debug, Default)]
struct ResidualCache {
    baseline: u32,
    /// Which use of the cache the rows belong to: a row is valid only if its stamp is the cache's, so a new tick
    /// needs no clearing.
    stamp: u32,
    /// By entity index in the current snapshot: the stamp it was computed under and the residuals (or none).
    rows: Vec<(u32, Option<Residuals>)>,
}

/// Baseline ticks whose residuals are cached in one tick; clients further behind are rare and computed directly.
const CACHED_BASELINES: usize = 8;

/// Writes snapshot bodies; keeps its buffers between calls so a tick allocates nothing once warm.
#[derive(Debug, Default)]
pub struct DeltaWriter {
    records: CreatedRecords,
    changes: ChangeEncoder,
    created: Vec<u32>,
    removed: Vec<u32>,
    residuals: Vec<ResidualCache>,
    /// How many of `residuals` are in use this tick.
    baselines: usize,
    /// The last stamp handed to a cache.
    stamp: u32,
}

impl DeltaWriter {
    pub fn begin_tick(&mut self, current: &WorldSnapshot) {
        self.records.begin_tick(current);
        self.baselines = 0;
    }

    /// The cache of this tick's residuals against `baseline`, opened on first use (`None` when all are taken).
    fn cache(&mut self, baseline: u32, entities: usize) -> Option<usize> {
        if let Some(slot) = self.residuals[..self.baselines].iter().position(|cache| cache.baseline == baseline) {
            return Some(slot);
        }
        if self.baselines == CACHED_BASELINES {
            return None;
        }
        if self.baselines == self.residuals.len() {
            self.residuals.push(ResidualCache::default());
        }
        self.stamp = self.stamp.wrapping_add(1).max(1);
        let cache = &mut self.residuals[self.baselines];
        cache.baseline = baseline;
        cache.stamp = self.stamp;
        if cache.rows.len() < entities {
            cache.rows.resize(entities, (0, None));
        }
        self.baselines += 1;
        Some(self.baselines - 1)
    }

    /// Appends `created, changed, removed` (three MessagePack values) of `current` against `base`, or a full
    /// snapshot's (everything created) without one. `tick_rate` is the room's, which the prediction uses.
    pub fn write(&mut self, out: &mut Vec<u8>, base: Option<View<'_>>, current: View<'_>, tick_rate: u32) {
        self.created.clear();
        self.removed.clear();
        self.changes.begin();
        match base {
            None => self.created.extend((0..current.len()).map(|k| current.index(k) as u32)),
            Some(base) => self.walk(base, current, tick_rate),
        }
        // Writing to a Vec cannot fail.
        let _ = rmp::encode::write_array_len(out, self.created.len() as u32);
        for &index in &self.created {
            out.extend_from_slice(self.records.record(current.snapshot, index as usize));
        }
        let changes = self.changes.finish();
        let _ = rmp::encode::write_bin_len(out, changes.len() as u32);
        out.extend_from_slice(changes);
        let _ = rmp::encode::write_array_len(out, self.removed.len() as u32);
        for &id in &self.removed {
            let _ = rmp::encode::write_uint(out, u64::from(id));
        }
    }

    /// Both views in id order at once: one change bit per baseline entity, creations and removals on the way.
    fn walk(&mut self, base: View<'_>, current: View<'_>, tick_rate: u32) {
        let ticks = current.tick().wrapping_sub(base.tick());
        let cache = self.cache(base.tick(), current.snapshot.entities.len());
        let (old_len, new_len) = (base.len(), current.len());
        let (mut i, mut j) = (0, 0);
        while i < old_len || j < new_len {
            let old = if i < old_len { Some(base.key(i)) } else { None };
            let new = if j < new_len { Some(current.key(j)) } else { None };
            match (old, new) {
                (Some(old), new) if new.is_none_or(|new| old.id < new.id) => {
                    self.removed.push(old.id);
                    self.changes.entity(None);
                    i += 1;
                }
                (old, Some(new)) if old.is_none_or(|old| new.id < old.id) => {
                    self.created.push(current.index(j) as u32);
                    j += 1;
                }
                (Some(old), Some(new)) => {
                    if old != new {
                        // The id was reused: the new entity replaces the old one whole.
                        self.created.push(current.index(j) as u32);
                        self.changes.entity(None);
                    } else if new.kind == EntityKind::Player {
                        let compute = || residuals(&base.entity(i).fields, &current.entity(j).fields, ticks, tick_rate);
                        let row = match cache {
                            Some(slot) => {
                                let cache = &mut self.residuals[slot];
                                let entry = &mut cache.rows[current.index(j)];
                                if entry.0 != cache.stamp {
                                    *entry = (cache.stamp, compute());
                                }
                                entry.1
                            }
                            None => compute(),
                        };
                        self.changes.entity(row);
                    } else {
                        // Bullets never change.
                        self.changes.entity(None);
                    }
                    i += 1;
                    j += 1;
                }
                _ => unreachable!("one side has an entity left"),
            }
        }
    }
}

/// `created, changed, removed` of `current` against `base` with a fresh writer: for tests and benchmarks.
pub fn encode_delta(base: Option<View<'_>>, current: View<'_>, tick_rate: u32) -> Vec<u8> {
    let mut writer = DeltaWriter::default();
    writer.begin_tick(current.snapshot);
    let mut out = Vec::new();
    writer.write(&mut out, base, current, tick_rate);
    out
}

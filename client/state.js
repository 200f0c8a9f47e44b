// state.js: the snapshot store, the client's side of the delta contract ("Applying snapshots" in docs/PROTOCOL.md).
//
// Pure data, no DOM and no clock: parsed snapshots go in, tick states, new events and new hits come out. Each applied
// tick's state is kept in a ring of the last 64 applied ticks so a delta against any acknowledged baseline can be
// rebuilt.
// Entities are immutable once stored (copy on write): a new tick state shares every entity object its baseline did
// not change, so keeping 64 states costs little.

import { FIELD_COUNT } from './protocol.js';

/** How many applied tick states are kept (the server keeps 32, so every baseline it can name is here). */
export const HISTORY = 64;

/**
 * One entity in wire units: `fields` as in PROTOCOL.md (players: x, y, vx, vy, aim, hp, score, respawn, flags;
 * bullets: x, y, vx, vy, owner, spawn_tick); `name` is the player name or null. Never mutated once stored. A
 * `changed` mask may name any field of its entity's kind (nine for a player, so masks go up to 16 bits).
 * @typedef {{id: number, kind: number, fields: number[], name: string|null}} Entity
 */

/** The world as of one applied tick. */
export class TickState {
  constructor(tick, lastInputSeq, entities) {
    /** The tick this state describes. */
    this.tick = tick;
    /** `last_input_seq` of the snapshot that produced it (newest input of ours the server had applied). */
    this.lastInputSeq = lastInputSeq;
    /** @type {Map<number, Entity>} id -> entity. */
    this.entities = entities;
  }
}

/** A snapshot without hits (one built by hand, without the element). */
const NO_HITS = Object.freeze([]);

/** Result of SnapshotStore.apply: what happened and the events not handled before (oldest first). */
export const APPLIED = 'applied';
export const STALE = 'stale';
export const DESYNC = 'desync';

export class SnapshotStore {
  constructor(history = HISTORY) {
    this.history = history;
    /** Ring of applied states, oldest overwritten first. */
    this.ring = new Array(history).fill(null);
    this.ringNext = 0;
    /** @type {TickState|null} newest applied state. */
    this.current = null;
    /** True from a failed delta until the next full snapshot: nothing is acknowledged meanwhile. */
    this.desynced = false;
    /** Why the last desync happened (for the overlay and debugging). */
    this.desyncReason = '';
    /** Newest event tick already handled; events at or before it are repeats. */
    this.lastEventTick = 0;
    /**
     * Newest hit tick already handled (version 5's `hits`, the own player's bullets that hit someone): the same
     * repeat rule as events (PROTOCOL 7.3) with a threshold of its own, kept as long as the event one.
     */
    this.lastHitTick = 0;

    /** Snapshot messages given to apply(), whatever became of them. */
    this.received = 0;
    /** Full snapshots applied. */
    this.fullApplied = 0;
    /** Deltas applied. */
    this.deltasApplied = 0;
    /** Snapshots ignored because they were not newer than the newest applied tick. */
    this.stale = 0;
    /** Times the store lost sync (a delta whose baseline it does not have, or that does not fit its baseline). */
    this.desyncs = 0;
    /** Deltas dropped for lack of a usable baseline (one desync may drop several). */
    this.dropped = 0;
  }

  /** Newest applied tick, 0 if none. */
  get newestTick() {
    return this.current ? this.current.tick : 0;
  }

  /** The tick to put in the next `input`/`ack`: the newest applied one, or 0 while desynced or before any. */
  get ackTick() {
    return this.desynced ? 0 : this.newestTick;
  }

  /** The stored state of `tick`, or null. */
  stateAt(tick) {
    for (let i = 0; i < this.history; i++) {
      const s = this.ring[i];
      if (s !== null && s.tick === tick) return s;
    }
    return null;
  }

  /**
   * The two stored states around the fractional tick `t`: `out.before` the newest with `tick <= t`, `out.after` the
   * oldest with `tick > t` (either null). Fills and returns `out` (`{before, after}`), allocating nothing.
   */
  bracket(t, out) {
    let before = null;
    let after = null;
    for (let i = 0; i < this.history; i++) {
      const s = this.ring[i];
      if (s === null) continue;
      if (s.tick <= t) {
        if (before === null || s.tick > before.tick) before = s;
      } else if (after === null || s.tick < after.tick) {
        after = s;
      }
    }
    out.before = before;
    out.after = after;
    return out;
  }

  /** The oldest stored state, or null. */
  get oldest() {
    let oldest = null;
    for (let i = 0; i < this.history; i++) {
      const s = this.ring[i];
      if (s !== null && (oldest === null || s.tick < oldest.tick)) oldest = s;
    }
    return oldest;
  }

  /**
   * Applies one parsed snapshot (see protocol.js). Returns `{status, events, hits}`: status is APPLIED, STALE or
   * DESYNC; events and hits are the snapshot's events and hits newer than any handled before, to be shown once.
   */
  apply(snap) {
    this.received++;
    if (snap.tick <= this.newestTick) {
      this.stale++;
      return { status: STALE, events: [], hits: [] };
    }
    // Events describe what happened, independently of our entity state, so they are taken even from a delta we
    // cannot apply: a full snapshot carries only its own tick's events and would not bring them back. Hits too.
    const events = this.takeEvents(snap.events);
    const hits = this.takeHits(snap.hits ?? NO_HITS);

    let entities;
    if (snap.baseline === 0) {
      entities = new Map();
    } else {
      const base = this.stateAt(snap.baseline);
      if (base === null) return this.fail(`baseline ${snap.baseline} not in history`, events, hits);
      entities = new Map(base.entities);
    }

    for (let i = 0; i < snap.removed.length; i++) {
      const id = snap.removed[i];
      if (!entities.delete(id)) return this.fail(`removed id ${id} not in baseline ${snap.baseline}`, events, hits);
    }
    for (let i = 0; i < snap.created.length; i++) {
      const c = snap.created[i];
      // An existing id is replaced entirely: the server reused the slot for a new entity.
      entities.set(c.id, { id: c.id, kind: c.kind, fields: c.fields.slice(), name: c.name });
    }
    for (let i = 0; i < snap.changed.length; i++) {
      const ch = snap.changed[i];
      const old = entities.get(ch.id);
      if (old === undefined) return this.fail(`changed id ${ch.id} not in baseline ${snap.baseline}`, events, hits);
      const count = FIELD_COUNT[old.kind];
      if (ch.mask >>> count !== 0) {
        return this.fail(`changed mask ${ch.mask} too wide for entity ${ch.id}`, events, hits);
      }
      const fields = old.fields.slice();
      let k = 0;
      for (let bit = 0; bit < count; bit++) {
        // Values are differences from the baseline, added with 32-bit wrap-around as the server subtracts them.
        if (ch.mask & (1 << bit)) fields[bit] = (fields[bit] + ch.values[k++]) | 0;
      }
      entities.set(ch.id, { id: old.id, kind: old.kind, fields, name: old.name });
    }

    const state = new TickState(snap.tick, snap.lastInputSeq, entities);
    this.ring[this.ringNext] = state;
    this.ringNext = (this.ringNext + 1) % this.history;
    this.current = state;
    if (snap.baseline === 0) {
      this.fullApplied++;
      this.desynced = false;
    } else {
      // A delta against a baseline we do hold is exact even while desynced, so the world keeps moving; we still
      // acknowledge nothing until a full snapshot, as the contract asks.
      this.deltasApplied++;
    }
    return { status: APPLIED, events, hits };
  }

  /** Keeps the events newer than the newest handled event tick; several events may share one tick. */
  takeEvents(list) {
    const after = this.lastEventTick;
    const out = [];
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (e.tick <= after) continue;
      out.push(e);
      if (e.tick > this.lastEventTick) this.lastEventTick = e.tick;
    }
    return out;
  }

  /**
   * Keeps the hits newer than the newest handled hit tick: the threshold as it was before this snapshot (several
   * hits may share a tick: two bullets, two victims), raised once to the newest hit kept.
   */
  takeHits(list) {
    const after = this.lastHitTick;
    const out = [];
    for (let i = 0; i < list.length; i++) {
      const h = list[i];
      if (h.tick <= after) continue;
      out.push(h);
      if (h.tick > this.lastHitTick) this.lastHitTick = h.tick;
    }
    return out;
  }

  fail(reason, events, hits) {
    if (!this.desynced) this.desyncs++;
    this.desynced = true;
    this.desyncReason = reason;
    this.dropped++;
    return { status: DESYNC, events, hits };
  }
}

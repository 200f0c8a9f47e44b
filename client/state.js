// state.js: the snapshot store, the client's side of the delta contract ("Applying snapshots" in docs/PROTOCOL.md).
//
// Pure data, no DOM and no clock: parsed snapshots go in, tick states, new events and new hits come out. Each applied
// tick's state is kept in a ring of the last 64 applied ticks so a delta against any acknowledged baseline can be
// rebuilt.
// Entities are immutable once stored (copy on write): a new tick state shares every entity object its baseline did
// not change, so keeping 64 states costs little.
//
// Version 6 and 7 deltas: every entity of the baseline that survives (neither removed nor replaced by a created entry of
// its id) is first predicted to the snapshot's tick, `k = tick - baseline` ticks on: a player's x, y advance by
// `(vx / tick_rate) * k`, `(vy / tick_rate) * k` and its respawn counts down to `max(respawn - k, 0)`; a bullet stays
// as it is. Then `changed`, a bit stream (bit i is `(bytes[i >> 3] >> (i & 7)) & 1`, values least significant bit
// first), adds residuals: one change bit per baseline entity in increasing id order, then nine columns (the player
// fields in order), each a 6-bit width w (0..32), and when w > 0 a sparse bit, a 6-bit short width s (0..w) and,
// for each marked player, a presence bit when sparse and an s-bit value, which when s < w and it is all ones (the
// empty value when s is 0) is followed by the zigzag value in w bits (an escape), else is the zigzag value itself. vx and vy get `baseline + r * tick_rate`; x and y
// `baseline + displacement(old v, new v, k) + r` (so a marked player's position moves along with its new velocity,
// `displacement` below); respawn `predicted + r`, aim `(baseline + r) & 255`, hp, score and flags `baseline + r` (32-bit wrap-around
// throughout). Anything else in the stream (a change bit on a bullet or on a removed or replaced entity, a width over
// 32, a short width over the width, a bit read past the end, a byte or a padding bit left over, a non-empty stream with no change bit) is a
// corrupt snapshot, a desync like a missing baseline: nothing is stored, nothing new acknowledged.
// Every stored state's `entities` Map iterates in increasing id order (it is built that way), which is the order
// the next delta's change bits follow: no sorting per snapshot.

import { KIND_PLAYER, P_AIM, P_RESPAWN, P_VX, P_VY, P_X, P_Y, PLAYER_FIELD_COUNT } from './protocol.js';

/** How many applied tick states are kept (the server keeps 64, so every baseline it can name is here). */
export const HISTORY = 64;

/** Bits of a `changed` column's width, and the widest value a column may hold. */
export const CHANGED_WIDTH_BITS = 6;
export const CHANGED_MAX_WIDTH = 32;

/**
 * One entity in wire units: `fields` as in PROTOCOL.md (players: x, y, vx, vy, aim, hp, score, respawn, flags, with
 * aim 0..255 and vx, vy multiples of the tick rate; bullets: x, y, vx, vy, owner, spawn_tick); `name` is the player
 * name or null. Never mutated once stored.
 * @typedef {{id: number, kind: number, fields: number[], name: string|null}} Entity
 */

/** The world as of one applied tick. */
export class TickState {
  constructor(tick, lastInputSeq, entities) {
    /** The tick this state describes. */
    this.tick = tick;
    /** `last_input_seq` of the snapshot that produced it (newest input of ours the server had applied). */
    this.lastInputSeq = lastInputSeq;
    /** @type {Map<number, Entity>} id -> entity, in increasing id order when the store built it. */
    this.entities = entities;
  }
}

/** A snapshot without hits (one built by hand, without the element). */
const NO_HITS = Object.freeze([]);
/** A snapshot without `changed` (one built by hand): no residuals. */
const NO_BYTES = new Uint8Array(0);

/**
 * Reads a `changed` bit stream: bit i is `(bytes[i >> 3] >> (i & 7)) & 1`, a w-bit value w consecutive bits, least
 * significant first. Reading past the end gives 0 and sets `overrun`. Values of up to 32 bits are put together a
 * byte's worth at a time with unsigned 32-bit operations, so the widest ones come out as 0..2^32-1, never negative.
 */
class BitReader {
  constructor() {
    this.bytes = NO_BYTES;
    this.pos = 0;
    this.end = 0;
    this.overrun = false;
  }

  reset(bytes) {
    this.bytes = bytes;
    this.pos = 0;
    this.end = bytes.length * 8;
    this.overrun = false;
  }

  /** The next `w` bits (0..32) as an unsigned integer. */
  read(w) {
    let pos = this.pos;
    if (pos + w > this.end) {
      this.overrun = true;
      this.pos = this.end;
      return 0;
    }
    const bytes = this.bytes;
    let value = 0;
    let shift = 0;
    while (w > 0) {
      const off = pos & 7;
      const take = 8 - off < w ? 8 - off : w;
      const chunk = (bytes[pos >>> 3] >>> off) & ((1 << take) - 1);
      // shift + take <= 32: the chunk lands inside the 32 bits; >>> 0 keeps bit 31 a value, not a sign.
      value = (value | (chunk << shift)) >>> 0;
      shift += take;
      pos += take;
      w -= take;
    }
    this.pos = pos;
    return value;
  }
}

/** `list` (created entries) in increasing id order, stable: `list` itself when it already is (the usual case). */
/**
 * How far (1/16 units) a player moves in `k` ticks whose velocity went from `from` to `to` (1/16 units/s, multiples
 * of `tickRate`): the change taken as even over the ticks, each tick moving by the velocity after it, so one tick
 * moves by exactly `to` and a steady velocity by `k * to`. `floor((2k*from + (to - from)*(k + 1) + rate) / (2*rate))`,
 * as PROTOCOL.md 6.2 gives it.
 */
export function displacement(from, to, k, tickRate) {
  return Math.floor((2 * k * from + (to - from) * (k + 1) + tickRate) / (2 * tickRate)) | 0;
}

function byId(list) {
  for (let i = 1; i < list.length; i++) {
    if (list[i].id < list[i - 1].id) return list.slice().sort((a, b) => a.id - b.id);
  }
  return list;
}

/** `ids` in increasing order: `ids` itself when it already is. */
function ascending(ids) {
  for (let i = 1; i < ids.length; i++) {
    if (ids[i] < ids[i - 1]) return ids.slice().sort((a, b) => a - b);
  }
  return ids;
}

/** Result of SnapshotStore.apply: what happened and the events not handled before (oldest first). */
export const APPLIED = 'applied';
export const STALE = 'stale';
export const DESYNC = 'desync';

export class SnapshotStore {
  /**
   * `tickRate`: the room's ticks per second (the welcome's tick_rate), which version 6 deltas are predicted with; null
   * for a store made before the welcome (it applies full snapshots only and refuses every delta as a desync).
   */
  constructor(tickRate, history = HISTORY) {
    if (tickRate !== null && !(Number.isInteger(tickRate) && tickRate > 0)) {
      throw new TypeError(`tickRate must be a positive integer (or null before the welcome), not ${tickRate}`);
    }
    /** Ticks per second of the room, or null. */
    this.tickRate = tickRate;
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
    /** Deltas refused because their `changed` bit stream was corrupt (each also counts as dropped). */
    this.corrupt = 0;

    /** Scratch of apply(): the bit reader, and the new entities the change bits marked (reused, grown as needed). */
    this.reader = new BitReader();
    this.marked = [];
    /** The baseline fields of each marked player (their old velocity moves the prediction). */
    this.markedBase = [];
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

    let base = null;
    if (snap.baseline !== 0) {
      base = this.stateAt(snap.baseline);
      if (base === null) return this.fail(`baseline ${snap.baseline} not in history`, events, hits);
      if (this.tickRate === null) return this.fail('a delta before the tick rate is known', events, hits);
    }
    const entities = new Map();
    const problem = this.build(snap, base, entities);
    if (problem !== null) {
      if (problem.corrupt) this.corrupt++;
      return this.fail(problem.reason, events, hits);
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

  /**
   * Fills `out` (empty) with the state `snap` describes on `base` (null for a full snapshot), in increasing id order:
   * the surviving baseline entities predicted, the created ones, then the residuals of `changed`. Returns null, or
   * `{reason, corrupt}` when the snapshot does not fit its baseline (corrupt: its bit stream is malformed).
   */
  build(snap, base, out) {
    const created = byId(snap.created);
    const removed = ascending(snap.removed);
    const bytes = snap.changed ?? NO_BYTES;
    const withResiduals = bytes.length > 0;
    const reader = this.reader;
    reader.reset(bytes);
    const marked = this.marked;
    let count = 0;
    let ci = 0;
    let ri = 0;
    if (base !== null) {
      const tickRate = this.tickRate;
      const k = snap.tick - base.tick;
      let lastId = -1;
      for (const e of base.entities.values()) {
        const id = e.id;
        if (id <= lastId) return { reason: `baseline ${base.tick} is not in id order`, corrupt: false };
        lastId = id;
        const bit = withResiduals ? reader.read(1) : 0;
        if (ri < removed.length && removed[ri] < id) {
          return { reason: `removed id ${removed[ri]} not in baseline ${base.tick}`, corrupt: false };
        }
        const gone = ri < removed.length && removed[ri] === id;
        if (gone) ri++;
        // Created entities with smaller ids come first; one with this id takes the entity's place.
        while (ci < created.length && created[ci].id < id) this.insertCreated(out, created[ci++]);
        const replaced = ci < created.length && created[ci].id === id;
        while (ci < created.length && created[ci].id === id) this.insertCreated(out, created[ci++]);
        if (gone || replaced) {
          if (bit !== 0) {
            const what = gone ? 'removed' : 'replaced';
            return { reason: `changed marks ${what} entity ${id}`, corrupt: true };
          }
          continue;
        }
        let entity = e;
        if (e.kind === KIND_PLAYER) {
          const f = e.fields;
          // vx, vy are multiples of the tick rate: whole 1/16 units per tick.
          const dx = displacement(f[P_VX], f[P_VX], k, tickRate);
          const dy = displacement(f[P_VY], f[P_VY], k, tickRate);
          const respawn = f[P_RESPAWN] - k > 0 ? f[P_RESPAWN] - k : 0;
          if (dx !== 0 || dy !== 0 || respawn !== f[P_RESPAWN] || bit !== 0) {
            const fields = f.slice();
            fields[P_X] = (f[P_X] + dx) | 0;
            fields[P_Y] = (f[P_Y] + dy) | 0;
            fields[P_RESPAWN] = respawn;
            entity = { id, kind: e.kind, fields, name: e.name };
          }
          if (bit !== 0) {
            this.markedBase[count] = f;
            marked[count++] = entity;
          }
        } else if (bit !== 0) {
          return { reason: `changed marks entity ${id}, which is not a player`, corrupt: true };
        }
        out.set(id, entity);
      }
    }
    while (ci < created.length) this.insertCreated(out, created[ci++]);
    if (ri < removed.length) {
      return { reason: `removed id ${removed[ri]} not in baseline ${snap.baseline}`, corrupt: false };
    }
    if (!withResiduals) return null;
    if (reader.overrun) return { reason: 'changed ends inside its change bits', corrupt: true };
    if (count === 0) return { reason: 'changed is not empty but marks no entity', corrupt: true };
    return this.residuals(reader, marked, count, bytes.length, snap.tick - base.tick);
  }

  /** Adds a copy of the created entry `c` to `out` (a later entry with the same id wins). */
  insertCreated(out, c) {
    out.set(c.id, { id: c.id, kind: c.kind, fields: c.fields.slice(), name: c.name });
  }

  /**
   * Reads the nine columns of `changed` after its change bits and adds their residuals to the `count` marked
   * players (new entities, their fields the prediction), then checks the stream ends exactly. Null or a problem.
   */
  residuals(reader, marked, count, byteLength, k) {
    const tickRate = this.tickRate;
    for (let col = 0; col < PLAYER_FIELD_COUNT; col++) {
      const w = reader.read(CHANGED_WIDTH_BITS);
      if (reader.overrun) return { reason: `changed ends before column ${col}`, corrupt: true };
      if (w > CHANGED_MAX_WIDTH) return { reason: `changed column ${col} is ${w} bits wide`, corrupt: true };
      if (w === 0) continue;
      const sparse = reader.read(1) !== 0;
      // Version 7: a short width, whose all-ones value (empty for 0) escapes to a value of the full width w.
      const short = reader.read(CHANGED_WIDTH_BITS);
      if (reader.overrun) return { reason: `changed ends inside column ${col}`, corrupt: true };
      if (short > w) return { reason: `changed column ${col} has a short width ${short} over its width ${w}`, corrupt: true };
      const escape = short === 32 ? 0xffffffff : (1 << short) - 1 >>> 0;
      for (let j = 0; j < count; j++) {
        if (sparse && reader.read(1) === 0) continue;
        let u = reader.read(short);
        if (short < w && u === escape) u = reader.read(w);
        // Zigzag: 0, 1, 2, 3... are 0, -1, 1, -2...
        const r = (u >>> 1) ^ -(u & 1);
        const fields = marked[j].fields;
        if (col === P_VX || col === P_VY) fields[col] = (fields[col] + Math.imul(r, tickRate)) | 0;
        else fields[col] = (fields[col] + r) | 0;
      }
      if (reader.overrun) return { reason: `changed ends inside column ${col}`, corrupt: true };
    }
    for (let j = 0; j < count; j++) {
      const fields = marked[j].fields;
      fields[P_AIM] &= 255;
      // The prediction moved the player at its old velocity; with a new one it moves from the old to the new
      // (PROTOCOL.md 6.2): swap the one displacement for the other.
      const base = this.markedBase[j];
      if (fields[P_VX] !== base[P_VX]) {
        const moved = displacement(base[P_VX], fields[P_VX], k, tickRate) - displacement(base[P_VX], base[P_VX], k, tickRate);
        fields[P_X] = (fields[P_X] + moved) | 0;
      }
      if (fields[P_VY] !== base[P_VY]) {
        const moved = displacement(base[P_VY], fields[P_VY], k, tickRate) - displacement(base[P_VY], base[P_VY], k, tickRate);
        fields[P_Y] = (fields[P_Y] + moved) | 0;
      }
    }
    const used = (reader.pos + 7) >>> 3;
    if (used < byteLength) return { reason: `changed has ${byteLength - used} bytes left over`, corrupt: true };
    const padding = reader.pos & 7;
    if (padding !== 0 && reader.bytes[used - 1] >>> padding !== 0) {
      return { reason: 'changed has padding bits that are not 0', corrupt: true };
    }
    return null;
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

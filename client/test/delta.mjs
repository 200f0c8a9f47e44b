// Test helper (no tests of its own): version 7 snapshots as the server builds them, for the tests of state.js and
// of everything fed from it. A bit writer, the `changed` encoder (change bits, then nine columns of zigzag residuals
// against the prediction, each column's widths and sparseness chosen like the server's encoder, or forced), and a
// snapshot builder that goes through the real MessagePack encoder and protocol.js's parser.
import { encode } from '../msgpack.js';
import { KIND_PLAYER, PLAYER_FIELD_COUNT, parseServerMessage } from '../protocol.js';

/** The player field names, in column order. */
export const FIELDS = Object.freeze(['x', 'y', 'vx', 'vy', 'aim', 'hp', 'score', 'respawn', 'flags']);

/** Bits least significant first, bit i of the stream in byte i >> 3 at bit i & 7, as PROTOCOL v7 reads them. */
export class BitWriter {
  constructor() {
    this.bits = [];
  }

  /** Appends the low `w` bits of `value` (0..2^32-1), least significant first; two 16-bit halves past 16 bits. */
  write(value, w) {
    const v = value >>> 0;
    const lo = v & 0xffff;
    const hi = v >>> 16;
    for (let i = 0; i < w; i++) this.bits.push(i < 16 ? (lo >>> i) & 1 : (hi >>> (i - 16)) & 1);
    return this;
  }

  bit(b) {
    this.bits.push(b ? 1 : 0);
    return this;
  }

  /** The stream as bytes, the last one padded with 0 bits. */
  bytes() {
    const out = new Uint8Array((this.bits.length + 7) >> 3);
    this.bits.forEach((b, i) => {
      out[i >> 3] |= b << (i & 7);
    });
    return out;
  }
}

/** Zigzag of an int32: 0, -1, 1, -2, 2... to 0, 1, 2, 3, 4... (as a uint32). */
export function zigzag(r) {
  return ((r << 1) ^ (r >> 31)) >>> 0;
}

/** Bits needed for `u` (a uint32): 0 for 0. */
export function bitLength(u) {
  return u === 0 ? 0 : 32 - Math.clz32(u);
}

/**
 * The server's layout of a column of zigzag values whose full width is `width` (PROTOCOL.md 6.2, "the server's
 * choices"): the short width and sparseness that take the fewest bits, of equal ones the widest short width, dense
 * before sparse.
 */
export function cheapestLayout(values, width) {
  const escapes = (u, short) => short < width && (short === 0 || u >= 2 ** short - 1);
  const cost = (u, short) => short + (escapes(u, short) ? width : 0);
  let best = null;
  for (let short = width; short >= 0; short--) {
    const dense = values.reduce((sum, u) => sum + cost(u, short), 0);
    const sparse = values.reduce((sum, u) => sum + 1 + (u === 0 ? 0 : cost(u, short)), 0);
    if (best === null || dense < best.bits) best = { short, sparse: false, bits: dense };
    if (sparse < best.bits) best = { short, sparse: true, bits: sparse };
  }
  return best;
}

/**
 * `changed` bytes from residuals: `marks` is one change bit per baseline entity (in id order, 0/1 or false/true),
 * `residuals` one array of nine residuals per marked entity, in order. `options.width[col]`, `options.short[col]`
 * and `options.sparse[col]` force a column's width, short width or sparse bit (otherwise the server's choice: the
 * bit length of the largest zigzag value, and `cheapestLayout`). Empty bytes when nothing is marked.
 */
export function encodeResiduals(marks, residuals, options = {}) {
  if (!marks.some((m) => m)) return new Uint8Array(0);
  const w = new BitWriter();
  for (const m of marks) w.bit(m);
  for (let col = 0; col < PLAYER_FIELD_COUNT; col++) {
    const values = residuals.map((r) => zigzag(r[col] ?? 0));
    const width = options.width?.[col] ?? Math.max(0, ...values.map(bitLength));
    w.write(width, 6);
    if (width === 0) continue;
    const chosen = cheapestLayout(values, width);
    const sparse = options.sparse?.[col] ?? chosen.sparse;
    const short = options.short?.[col] ?? (options.width?.[col] !== undefined ? width : chosen.short);
    w.bit(sparse);
    w.write(short, 6);
    for (const u of values) {
      if (sparse) {
        w.bit(u !== 0);
        if (u === 0) continue;
      }
      if (short < width && (short === 0 || u >= 2 ** short - 1)) {
        w.write(2 ** short - 1, short);
        w.write(u, width);
      } else {
        w.write(u, short);
      }
    }
  }
  return w.bytes();
}

export function predict(fields, k, tickRate, vx = fields[2], vy = fields[3]) {
  const f = fields.slice();
  // Written out again here (not imported from state.js) so the tests check the store against the spec's formula.
  const moved = (from, to) => Math.floor((2 * k * from + (to - from) * (k + 1) + tickRate) / (2 * tickRate));
  f[0] = (f[0] + moved(fields[2], vx)) | 0;
  f[1] = (f[1] + moved(fields[3], vy)) | 0;
  f[7] = Math.max(fields[7] - k, 0);
  return f;
}

/**
 * `changed` bytes taking the players of `base` (a TickState) to `targets` at `tick`, as the server's encoder does:
 * `targets` maps an id to the new values by field name (`{x: 1601, aim: 3}`; fields not named are as predicted,
 * vx and vy as in the baseline, which must stay multiples of `tickRate`). Ids not in `targets` are left to the
 * prediction.
 */
export function changedFor(base, tick, tickRate, targets, options = {}) {
  const k = tick - base.tick;
  const entities = [...base.entities.values()].sort((a, b) => a.id - b.id);
  const marks = [];
  const residuals = [];
  for (const e of entities) {
    const target = targets[e.id];
    if (target === undefined) {
      marks.push(0);
      continue;
    }
    if (e.kind !== KIND_PLAYER) throw new Error(`entity ${e.id} is not a player`);
    // The position is predicted along the way from the old velocity to the new one.
    const p = predict(e.fields, k, tickRate, target.vx ?? e.fields[2], target.vy ?? e.fields[3]);
    const r = FIELDS.map((name, col) => {
      if (!(name in target)) return 0;
      const v = target[name];
      if (name === 'vx' || name === 'vy') {
        const d = v - e.fields[col];
        if (d % tickRate !== 0) throw new Error(`${name} ${v} moves by ${d}, not a multiple of ${tickRate}`);
        return d / tickRate;
      }
      if (name === 'aim') return ((((v - e.fields[col]) % 256) + 384) % 256) - 128;
      return (v - p[col]) | 0;
    });
    marks.push(1);
    residuals.push(r);
  }
  return encodeResiduals(marks, residuals, options);
}

/**
 * A version 6 snapshot through the real encoder and parser. `changed` is bytes (a Uint8Array or an array of byte
 * numbers), `own` `[]` or `[dvx, dvy]`.
 */
export function snapshot({
  tick,
  baseline = 0,
  lastInputSeq = 0,
  created = [],
  changed = new Uint8Array(0),
  removed = [],
  events = [],
  hits = [],
  own = [],
}) {
  const bin = changed instanceof Uint8Array ? changed : Uint8Array.from(changed);
  return parseServerMessage(encode([2, tick, baseline, lastInputSeq, created, bin, removed, events, hits, own]));
}

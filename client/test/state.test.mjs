// The snapshot store against the "Applying snapshots" rules of PROTOCOL.md, with version 6 deltas: prediction of
// the baseline's players, then the `changed` bit stream of residuals (client/test/delta.mjs builds them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APPLIED, DESYNC, STALE, SnapshotStore } from '../state.js';
import { BitWriter, changedFor, encodeResiduals, snapshot, zigzag } from './delta.mjs';

/** The tick rate of the rooms of these tests. */
const TR = 30;

/** A created player in wire units; `o` may set vx, vy, aim, hp, score, respawn, flags. */
const player = (id, x, y, name, o = {}) => [
  id,
  0,
  x,
  y,
  o.vx ?? 0,
  o.vy ?? 0,
  o.aim ?? 0,
  o.hp ?? 100,
  o.score ?? 0,
  o.respawn ?? 0,
  o.flags ?? 0,
  name,
];
const bullet = (id, x, y, vx, vy, owner, spawnTick) => [id, 1, x, y, vx, vy, owner, spawnTick];

/** A full snapshot. */
function full(tick, created = [], extra = {}) {
  return snapshot({ tick, created, ...extra });
}

/**
 * A delta against `baseline` taking the named players to `targets` (`{id: {field: value}}`), the others left to
 * the prediction; `extra` sets created, removed, events, hits... A baseline the store lacks gets an empty stream.
 */
function delta(store, tick, baseline, targets = {}, extra = {}) {
  const base = store.stateAt(baseline);
  const changed = base === null ? new Uint8Array(0) : changedFor(base, tick, TR, targets);
  return snapshot({ tick, baseline, changed, ...extra });
}

/** Entities of a state as plain `[id, kind, ...fields, name?]` arrays, in the state's own order. */
function dump(state) {
  return [...state.entities.values()].map((e) =>
    e.name === null ? [e.id, e.kind, ...e.fields] : [e.id, e.kind, ...e.fields, e.name],
  );
}

test('applies a full snapshot then a delta (the PROTOCOL.md session)', () => {
  const store = new SnapshotStore(TR);
  assert.equal(store.ackTick, 0);
  let r = store.apply(full(1235, [player(7, 19200, 12800, 'ana')], { events: [[1235, 2, 7, 'ana']] }));
  assert.equal(r.status, APPLIED);
  assert.equal(r.events.length, 1);
  assert.equal(store.newestTick, 1235);
  assert.equal(store.ackTick, 1235);
  r = store.apply(delta(store, 1237, 1235, { 7: { x: 19213, vx: 420 } }, { lastInputSeq: 1 }));
  assert.equal(r.status, APPLIED);
  assert.deepEqual(dump(store.current), [[7, 0, 19213, 12800, 420, 0, 0, 100, 0, 0, 0, 'ana']]);
  assert.equal(store.current.lastInputSeq, 1);
  assert.equal(store.ackTick, 1237);
  assert.equal(store.fullApplied, 1);
  assert.equal(store.deltasApplied, 1);
  // the baseline state is untouched (copy on write)
  assert.deepEqual(dump(store.stateAt(1235)), [[7, 0, 19200, 12800, 0, 0, 0, 100, 0, 0, 0, 'ana']]);
  // and the next delta predicts with the new velocity: 420 / 30 = 14 per tick, 3 ticks
  assert.equal(store.apply(snapshot({ tick: 1240, baseline: 1237 })).status, APPLIED);
  assert.equal(store.current.entities.get(7).fields[0], 19213 + 42);
});

test('applies a delta against an older acknowledged baseline after dropped frames', () => {
  const store = new SnapshotStore(TR);
  store.apply(full(10, [player(1, 160, 160, 'a'), player(2, 320, 320, 'b')]));
  store.apply(delta(store, 11, 10, { 1: { x: 176 } }));
  store.apply(delta(store, 12, 11, { 1: { x: 192 } }, { created: [bullet(65536, 176, 160, 1600, 0, 1, 12)] }));
  // The server had only seen our ack of 10 when it built 15 (11..14 acks lost or late): a delta against 10.
  const r = store.apply(
    delta(store, 15, 10, { 1: { x: 240, y: 176 }, 2: { score: 1 } }, { created: [bullet(65537, 320, 320, 0, 1600, 2, 14)] }),
  );
  assert.equal(r.status, APPLIED);
  assert.deepEqual(dump(store.current), [
    [1, 0, 240, 176, 0, 0, 0, 100, 0, 0, 0, 'a'],
    [2, 0, 320, 320, 0, 0, 0, 100, 1, 0, 0, 'b'],
    [65537, 1, 320, 320, 0, 1600, 2, 14],
  ]);
  // and the next delta may name 12, which is still stored; its bullet is kept as it is until removed
  store.apply(delta(store, 16, 12));
  assert.deepEqual(dump(store.current), [
    [1, 0, 192, 160, 0, 0, 0, 100, 0, 0, 0, 'a'],
    [2, 0, 320, 320, 0, 0, 0, 100, 0, 0, 0, 'b'],
    [65536, 1, 176, 160, 1600, 0, 1, 12],
  ]);
  store.apply(delta(store, 17, 16, {}, { removed: [65536] }));
  assert.equal(store.current.entities.has(65536), false);
  assert.equal(store.desyncs, 0);
});

test('a created entry for an existing id replaces the entity entirely', () => {
  const store = new SnapshotStore(TR);
  store.apply(full(5, [player(3, 16, 16, 'old', { hp: 40, score: 7 })]));
  store.apply(delta(store, 6, 5, {}, { created: [[3, 0, 32, 48, 30, 60, 3, 100, 0, 0, 0, 'new']] }));
  assert.deepEqual(dump(store.current), [[3, 0, 32, 48, 30, 60, 3, 100, 0, 0, 0, 'new']]);
  // a slot reused by a different kind too
  store.apply(delta(store, 7, 6, {}, { created: [bullet(3, 1, 2, 3, 4, 9, 7)] }));
  assert.deepEqual(dump(store.current), [[3, 1, 1, 2, 3, 4, 9, 7]]);
});

test('removed, created, then changed; the new state is in id order whatever order entries came in', () => {
  const store = new SnapshotStore(TR);
  store.apply(full(1, [player(5, 0, 0, 'e'), player(1, 0, 0, 'a'), player(2, 0, 0, 'b')]));
  assert.deepEqual([...store.current.entities.keys()], [1, 2, 5]);
  store.apply(delta(store, 2, 1, { 1: { respawn: 60 } }, { created: [player(9, 1, 1, 'i'), player(3, 5, 5, 'c')], removed: [5, 2] }));
  assert.deepEqual(dump(store.current), [
    [1, 0, 0, 0, 0, 0, 0, 100, 0, 60, 0, 'a'],
    [3, 0, 5, 5, 0, 0, 0, 100, 0, 0, 0, 'c'],
    [9, 0, 1, 1, 0, 0, 0, 100, 0, 0, 0, 'i'],
  ]);
  // The change bits of the next delta follow that order: the second bit is player 3.
  const changed = encodeResiduals([0, 1, 0], [[1, 0, 0, 0, 0, 0, 0, 0, 0]]);
  assert.equal(store.apply(snapshot({ tick: 3, baseline: 2, changed })).status, APPLIED);
  assert.deepEqual(
    dump(store.current).map((e) => e.slice(0, 3)),
    [
      [1, 0, 0],
      [3, 0, 6],
      [9, 0, 1],
    ],
  );
});

test('a missing baseline is a desync: no acks until a full snapshot', () => {
  const store = new SnapshotStore(TR);
  store.apply(full(20, [player(1, 0, 0, 'a')]));
  let r = store.apply(delta(store, 22, 21));
  assert.equal(r.status, DESYNC);
  assert.equal(store.desyncs, 1);
  assert.equal(store.desynced, true);
  assert.equal(store.ackTick, 0);
  assert.equal(store.newestTick, 20);
  r = store.apply(delta(store, 23, 21));
  assert.equal(r.status, DESYNC);
  assert.equal(store.desyncs, 1, 'one desync, however many deltas it drops');
  assert.equal(store.dropped, 2);
  assert.equal(store.corrupt, 0, 'a missing baseline is no corrupt stream');
  // a delta against a baseline we do hold is still exact: applied, but still not acknowledged
  r = store.apply(delta(store, 24, 20, { 1: { x: 48 } }));
  assert.equal(r.status, APPLIED);
  assert.equal(store.ackTick, 0);
  r = store.apply(full(40, [player(1, 64, 0, 'a')]));
  assert.equal(r.status, APPLIED);
  assert.equal(store.desynced, false);
  assert.equal(store.ackTick, 40);
  assert.deepEqual(dump(store.current), [[1, 0, 64, 0, 0, 0, 0, 100, 0, 0, 0, 'a']]);
});

test('residuals are added with 32-bit wrap-around', () => {
  const store = new SnapshotStore(TR);
  store.apply(full(1, [player(1, 2147483000, -5, 'a')]));
  // x + 1000 wraps: the server's residual is (-2147483296 - 2147483000) as an i32, 1000.
  assert.equal(store.apply(delta(store, 2, 1, { 1: { x: -2147483296, y: -25 } })).status, APPLIED);
  assert.deepEqual(store.current.entities.get(1).fields.slice(0, 2), [-2147483296, -25]);
  // a later delta against the first state starts from that state, not from the newest
  assert.equal(store.apply(delta(store, 3, 1, { 1: { x: 2147483007 } })).status, APPLIED);
  assert.equal(store.current.entities.get(1).fields[0], 2147483007);
});

test('a delta that does not fit its baseline is a desync', () => {
  for (const extra of [
    { removed: [9] }, // removed id unknown
    { removed: [1, 1] }, // removed twice
    { removed: [65537] }, // past every id of the baseline
  ]) {
    const store = new SnapshotStore(TR);
    store.apply(full(1, [player(1, 0, 0, 'a'), bullet(65536, 0, 0, 0, 0, 1, 1)]));
    assert.equal(store.apply(delta(store, 2, 1, {}, extra)).status, DESYNC, JSON.stringify(extra));
    assert.equal(store.desyncs, 1);
    assert.equal(store.newestTick, 1);
  }
});

test('snapshots not newer than the newest applied tick are ignored', () => {
  const store = new SnapshotStore(TR);
  store.apply(full(10, [player(1, 0, 0, 'a')]));
  assert.equal(store.apply(full(10, [player(1, 99, 0, 'a')])).status, STALE);
  assert.equal(store.apply(full(9, [])).status, STALE);
  assert.equal(store.current.entities.get(1).fields[0], 0);
  assert.equal(store.stale, 2);
  assert.equal(store.received, 3);
});

test('keeps the last 64 applied states', () => {
  const store = new SnapshotStore(TR);
  store.apply(full(1, [player(1, 1, 0, 'a')]));
  for (let t = 2; t <= 100; t++) {
    const baseline = t === 2 ? 1 : (t - 1) * 2;
    store.apply(delta(store, t * 2, baseline, { 1: { x: t } }));
  }
  assert.equal(store.stateAt(200).entities.get(1).fields[0], 100);
  assert.notEqual(store.stateAt(200 - 63 * 2), null);
  assert.equal(store.stateAt(200 - 64 * 2), null);
  assert.equal(store.stateAt(1), null);
  assert.equal(store.apply(delta(store, 202, 200 - 63 * 2, { 1: { y: 5 } })).status, APPLIED);
  assert.equal(store.apply(delta(store, 204, 200 - 64 * 2, { 1: { y: 5 } })).status, DESYNC);
});

test('events are handled once even though they repeat until acknowledged', () => {
  const store = new SnapshotStore(TR);
  const kill = [11, 1, 1, 2];
  const kill2 = [11, 1, 3, 4];
  const join = [12, 2, 5, 'e'];
  let r = store.apply(full(10, [player(1, 0, 0, 'a')], { events: [[10, 2, 1, 'a']] }));
  assert.deepEqual(
    r.events.map((e) => e.tick),
    [10],
  );
  r = store.apply(delta(store, 11, 10, {}, { events: [kill, kill2] }));
  assert.deepEqual(
    r.events.map((e) => [e.killer, e.victim]),
    [
      [1, 2],
      [3, 4],
    ],
    'two events in one tick',
  );
  // our ack of 11 was lost: the server repeats tick 11's events along with tick 12's
  r = store.apply(delta(store, 12, 10, {}, { events: [kill, kill2, join] }));
  assert.deepEqual(
    r.events.map((e) => e.tick),
    [12],
  );
  r = store.apply(delta(store, 13, 10, {}, { events: [kill, kill2, join] }));
  assert.deepEqual(r.events, []);
  // a stale snapshot hands out nothing
  r = store.apply(full(13, [], { events: [[13, 3, 5]] }));
  assert.deepEqual(r.events, []);
  // a delta we cannot apply still delivers its new events
  r = store.apply(
    delta(store, 15, 14, {}, {
      events: [
        [14, 3, 5],
        [15, 3, 1],
      ],
    }),
  );
  assert.equal(r.status, DESYNC);
  assert.deepEqual(
    r.events.map((e) => e.tick),
    [14, 15],
  );
  assert.equal(store.lastEventTick, 15);
});

test('bracket finds the stored states around a fractional tick', () => {
  const store = new SnapshotStore(TR);
  const b = { before: null, after: null };
  assert.deepEqual(store.bracket(5, b), { before: null, after: null });
  store.apply(full(10, [player(1, 0, 0, 'a')]));
  store.apply(delta(store, 12, 10));
  store.apply(delta(store, 15, 12));
  store.bracket(12.5, b);
  assert.deepEqual([b.before.tick, b.after.tick], [12, 15]);
  store.bracket(12, b);
  assert.deepEqual([b.before.tick, b.after.tick], [12, 15]);
  store.bracket(9, b);
  assert.deepEqual([b.before, b.after.tick], [null, 10]);
  store.bracket(20, b);
  assert.deepEqual([b.before.tick, b.after], [15, null]);
  assert.equal(store.oldest.tick, 10);
});

test('the flags field (column 8) changes like the others', () => {
  const store = new SnapshotStore(TR);
  store.apply(full(1, [player(2, 16, 16, 'ana')]));
  // The seat detached (flags 0 -> 1) while x moved.
  assert.equal(store.apply(delta(store, 2, 1, { 2: { x: 21, flags: 1 } })).status, APPLIED);
  assert.deepEqual(dump(store.current), [[2, 0, 21, 16, 0, 0, 0, 100, 0, 0, 1, 'ana']]);
  assert.equal(store.apply(delta(store, 3, 2, { 2: { flags: 0 } })).status, APPLIED);
  assert.equal(store.current.entities.get(2).fields[8], 0);
});

// ---------------------------------------------------------------------------------------------------------------
// Version 5: hits, deduplicated like events (PROTOCOL 7.3) with a threshold of their own

/** A snapshot with `hits` as [tick, victim] pairs, then events (no residuals). */
function snapHits(tick, baseline, hits, events = [], created = []) {
  return snapshot({ tick, baseline, hits, events, created });
}

test('hits are handled once though they repeat until acknowledged; two in one tick are both kept', () => {
  const store = new SnapshotStore(TR);
  let r = store.apply(snapHits(10, 0, [], [], [player(1, 0, 0, 'a')]));
  assert.deepEqual(r.hits, []);
  r = store.apply(snapHits(11, 10, [[11, 2], [11, 3]]));
  assert.deepEqual(r.hits, [
    { tick: 11, victim: 2 },
    { tick: 11, victim: 3 },
  ]);
  // The ack of 11 was lost: tick 11's hits come again with tick 12's; the threshold is 11 for the whole snapshot.
  r = store.apply(snapHits(12, 10, [[11, 2], [11, 3], [12, 2], [12, 4]]));
  assert.deepEqual(
    r.hits.map((h) => [h.tick, h.victim]),
    [
      [12, 2],
      [12, 4],
    ],
  );
  assert.equal(store.lastHitTick, 12);
  r = store.apply(snapHits(13, 10, [[11, 2], [11, 3], [12, 2], [12, 4]]));
  assert.deepEqual(r.hits, []);
  // A stale snapshot hands out nothing, and moves nothing.
  r = store.apply(snapHits(13, 0, [[13, 9]]));
  assert.equal(r.status, STALE);
  assert.deepEqual(r.hits, []);
  assert.equal(store.lastHitTick, 12);
  // A delta we cannot apply still delivers its new hits (as it does its events); they are not handed out again.
  r = store.apply(snapHits(15, 14, [[14, 5], [15, 6]]));
  assert.equal(r.status, DESYNC);
  assert.deepEqual(
    r.hits.map((h) => h.tick),
    [14, 15],
  );
  // The full snapshot that ends the desync carries every hit of the kept ticks: only the newer ones are new.
  r = store.apply(snapHits(17, 0, [[11, 2], [14, 5], [15, 6], [17, 2]], [], [player(1, 0, 0, 'a')]));
  assert.equal(r.status, APPLIED);
  assert.deepEqual(r.hits, [{ tick: 17, victim: 2 }]);
  assert.equal(store.lastHitTick, 17);
});

test('the hit threshold is its own: newer events do not hide older hits, nor the other way round', () => {
  const store = new SnapshotStore(TR);
  store.apply(snapHits(10, 0, [], [], [player(1, 0, 0, 'a')]));
  let r = store.apply(snapHits(12, 10, [], [[12, 3, 5]]));
  assert.equal(store.lastEventTick, 12);
  assert.equal(store.lastHitTick, 0);
  r = store.apply(snapHits(13, 10, [[11, 7]], [[12, 3, 5]]));
  assert.deepEqual(r.hits, [{ tick: 11, victim: 7 }], 'tick 11 is past the hit threshold (0), not the events (12)');
  assert.deepEqual(r.events, []);
  r = store.apply(snapHits(14, 10, [[11, 7], [14, 8]], [[12, 3, 5], [13, 3, 6]]));
  assert.deepEqual(r.hits, [{ tick: 14, victim: 8 }]);
  assert.deepEqual(
    r.events.map((e) => e.tick),
    [13],
  );
  // A snapshot without hits leaves the threshold alone.
  r = store.apply(snapHits(15, 14, []));
  assert.deepEqual(r.hits, []);
  assert.equal(store.lastHitTick, 14);
});

// ---------------------------------------------------------------------------------------------------------------
// Version 6: prediction, then the `changed` bit stream

test('the store needs the room tick rate: a positive integer, or null before the welcome (no deltas then)', () => {
  for (const bad of [0, -30, 1.5, NaN, '30', undefined]) {
    assert.throws(() => new SnapshotStore(bad), TypeError, String(bad));
  }
  const early = new SnapshotStore(null);
  assert.equal(early.apply(full(1, [player(1, 0, 0, 'a')])).status, APPLIED);
  assert.equal(early.apply(snapshot({ tick: 2, baseline: 1 })).status, DESYNC);
  assert.match(early.desyncReason, /tick rate/);
});

test('prediction alone: an empty changed moves players by their velocity over k ticks and counts respawn down', () => {
  const store = new SnapshotStore(TR);
  store.apply(
    full(10, [
      player(1, 1600, 1600, 'a', { vx: 960, vy: -90 }),
      player(2, 3200, 800, 'b', { hp: 0, respawn: 5 }),
      player(3, 100, 100, 'c', { respawn: 2, aim: 200 }),
      player(4, 50, 60, 'still'),
      bullet(65536, 160, 320, 14400, -1600, 1, 9),
    ]),
  );
  const base = store.current;
  assert.equal(store.apply(snapshot({ tick: 13, baseline: 10 })).status, APPLIED);
  // k = 3: player 1 moves (960 / 30) * 3 = 96 right and (-90 / 30) * 3 = -9 down; respawn 5 -> 2, 2 -> 0.
  assert.deepEqual(dump(store.current), [
    [1, 0, 1696, 1591, 960, -90, 0, 100, 0, 0, 0, 'a'],
    [2, 0, 3200, 800, 0, 0, 0, 0, 0, 2, 0, 'b'],
    [3, 0, 100, 100, 0, 0, 200, 100, 0, 0, 0, 'c'],
    [4, 0, 50, 60, 0, 0, 0, 100, 0, 0, 0, 'still'],
    [65536, 1, 160, 320, 14400, -1600, 1, 9],
  ]);
  // What prediction leaves as it was is shared with the baseline (copy on write); the baseline is untouched.
  assert.equal(store.current.entities.get(4), base.entities.get(4));
  assert.equal(store.current.entities.get(65536), base.entities.get(65536));
  assert.notEqual(store.current.entities.get(1), base.entities.get(1));
  assert.deepEqual(base.entities.get(1).fields.slice(0, 2), [1600, 1600]);
  // Predicted from the baseline named, not from the newest state: 14 against 10 is k = 4.
  assert.equal(store.apply(snapshot({ tick: 14, baseline: 10 })).status, APPLIED);
  assert.equal(store.current.entities.get(1).fields[0], 1600 + 32 * 4);
  assert.equal(store.current.entities.get(2).fields[7], 1);
});

test("the spec's worked example: its bytes and the state they decode to", () => {
  const store = new SnapshotStore(TR);
  store.apply(
    full(10, [
      player(1, 1600, 1600, 'one', { vx: 960 }),
      player(2, 3200, 800, 'two', { vy: -480, aim: 64 }),
      bullet(65536, 0, 0, 1600, 0, 1, 9),
    ]),
  );
  // Change bits 0 1 0; x: w=2, dense, short width 2, zigzag(+1) = 2; y, vx, vy: w=0; aim: w=3, dense, short width 3,
  // zigzag(+2) = 4; the rest w=0.
  const bytes = [0x12, 0x08, 0x02, 0x00, 0x30, 0x18, 0x08, 0x00, 0x00, 0x00];
  const w = new BitWriter();
  w.bit(0).bit(1).bit(0);
  w.write(2, 6).bit(0).write(2, 6).write(2, 2);
  w.write(0, 6).write(0, 6).write(0, 6);
  w.write(3, 6).bit(0).write(3, 6).write(4, 3);
  for (let i = 0; i < 4; i++) w.write(0, 6);
  assert.deepEqual([...w.bytes()], bytes, 'the bit writer agrees with the bytes worked out by hand');
  assert.deepEqual([...changedFor(store.current, 12, TR, { 2: { x: 3201, aim: 66 } })], bytes, 'and so does the encoder');
  assert.equal(store.apply(snapshot({ tick: 12, baseline: 10, changed: bytes })).status, APPLIED);
  assert.deepEqual(dump(store.current), [
    [1, 0, 1664, 1600, 960, 0, 0, 100, 0, 0, 0, 'one'],
    [2, 0, 3201, 768, 0, -480, 66, 100, 0, 0, 0, 'two'],
    [65536, 1, 0, 0, 1600, 0, 1, 9],
  ]);
});

/** Three players (ids 1, 2, 3) and a bullet (4), at tick 10, for hand-built streams. */
function threePlayers() {
  const store = new SnapshotStore(TR);
  store.apply(
    full(10, [
      player(1, 1000, 2000, 'a', { vx: 60, aim: 250, score: 5, hp: 100 }),
      player(2, 0, 0, 'b', { vy: -30, aim: 3, hp: 40 }),
      player(3, 500, 500, 'c', { respawn: 10, hp: 0, flags: 1 }),
      bullet(4, 0, 0, 0, 0, 1, 9),
    ]),
  );
  return store;
}

test('a hand-built stream: dense and sparse columns, negative residuals, a 32-bit width, aim wrap, vx in tick-rate steps', () => {
  const store = threePlayers();
  const w = new BitWriter();
  w.bit(1).bit(1).bit(1).bit(0); // players 1, 2, 3 marked; the bullet not
  // x: dense, 4 bits, short width 2: +3 (zigzag 6) and -2 (zigzag 3, the escape itself) escaped, 0 short
  w.write(4, 6).bit(0).write(2, 6).write(3, 2).write(zigzag(3), 4).write(3, 2).write(zigzag(-2), 4).write(zigzag(0), 2);
  // y: sparse, 32 bits, short width 0 (every present value escaped): player 1 absent, player 2 -2^31 (zigzag
  // 0xffffffff), player 3 2^31 - 1 (0xfffffffe)
  w.write(32, 6).bit(1).write(0, 6).bit(0).bit(1).write(0xffffffff, 32).bit(1).write(0xfffffffe, 32);
  // vx: sparse, 3 bits: player 1 -2 steps (-60), the others absent
  w.write(3, 6).bit(1).write(3, 6).bit(1).write(zigzag(-2), 3).bit(0).bit(0);
  // vy: dense, 2 bits: 0, +1 step (+30), -1 step (-30)
  w.write(2, 6).bit(0).write(2, 6).write(zigzag(0), 2).write(zigzag(1), 2).write(zigzag(-1), 2);
  // aim: dense, 5 bits: 250 + 8 wraps to 2, 3 - 5 wraps to 254, 0 + 0
  w.write(5, 6).bit(0).write(5, 6).write(zigzag(8), 5).write(zigzag(-5), 5).write(0, 5);
  // hp: sparse, 8 bits: only player 3, +100 (a respawn)
  w.write(8, 6).bit(1).write(8, 6).bit(0).bit(0).bit(1).write(zigzag(100), 8);
  // score: a 32-bit wide column too, dense, short width 1: -2^31 escaped (1, then 32 bits), 0, 0 in one bit each
  w.write(32, 6).bit(0).write(1, 6).write(1, 1).write(zigzag(-(2 ** 31)), 32).write(0, 1).write(0, 1);
  // respawn: dense 1 bit: 0, 0, -1 (applied to the prediction: 10 - 2 = 8, then 7)
  w.write(1, 6).bit(0).write(1, 6).write(0, 1).write(0, 1).write(zigzag(-1), 1);
  // flags: sparse, 1 bit: player 3 -1
  w.write(1, 6).bit(1).write(1, 6).bit(0).bit(0).bit(1).write(zigzag(-1), 1);
  const changed = w.bytes();
  assert.equal(store.apply(snapshot({ tick: 12, baseline: 10, changed })).status, APPLIED, store.desyncReason);
  assert.deepEqual(dump(store.current), [
    // vx 60 - 60 = 0, so x moves floor((2*2*60 + (0 - 60)*3 + 30) / 60) = 1 from 1000, + 3; aim 258 & 255;
    // score 5 - 2^31 wraps
    [1, 0, 1004, 2000, 0, 0, 2, 100, -2147483643, 0, 0, 'a'],
    // vy -30 + 30 = 0: y moves floor((-120 + 90 + 30) / 60) = 0, then - 2^31; aim 3 - 5 wraps to 254
    [2, 0, -2, -(2 ** 31), 0, 0, 254, 40, 0, 0, 0, 'b'],
    // vy 0 - 30: y moves floor((0 - 90 + 30) / 60) = -1 from 500, then + 2^31 - 1 wraps
    [3, 0, 500, 2 ** 31 - 1 + 499 - 2 ** 32, 0, -30, 0, 100, 0, 7, 0, 'c'],
    [4, 1, 0, 0, 0, 0, 1, 9],
  ]);
});

test("the server's encoder choices decode too: sparse where it pays, widths from the largest value", () => {
  const store = threePlayers();
  const targets = { 1: { x: 1004 + 100000, aim: 1 }, 3: { x: 499, respawn: 0, hp: 100, vy: 90 } };
  const changed = changedFor(store.current, 12, TR, targets);
  assert.equal(store.apply(snapshot({ tick: 12, baseline: 10, changed })).status, APPLIED, store.desyncReason);
  const e = (id) => store.current.entities.get(id).fields;
  assert.deepEqual(e(1), [101004, 2000, 60, 0, 1, 100, 5, 0, 0]);
  assert.deepEqual(e(2), [0, -2, 0, -30, 3, 40, 0, 0, 0], 'unmarked: the prediction');
  // y was not given: predicted along the way from vy 0 to 90, floor((90 * 3 + 30) / 60) = 5 on.
  assert.deepEqual(e(3), [499, 505, 0, 90, 0, 100, 0, 0, 1]);
  // Forced widths: a 32-bit column of small values, sparse or not, says the same.
  for (const sparse of [true, false]) {
    const again = threePlayers();
    const forced = changedFor(again.current, 12, TR, targets, {
      width: [32, 32, 32, 32, 32, 32, 32, 32, 32],
      sparse: new Array(9).fill(sparse),
    });
    assert.equal(again.apply(snapshot({ tick: 12, baseline: 10, changed: forced })).status, APPLIED);
    assert.deepEqual(dump(again.current), dump(store.current));
  }
  // Forced short widths (version 7): every value escaped (0), most escaped (1), some (2); the same state.
  for (const short of [0, 1, 2]) {
    const again = threePlayers();
    const forced = changedFor(again.current, 12, TR, targets, { short: new Array(9).fill(short) });
    assert.equal(again.apply(snapshot({ tick: 12, baseline: 10, changed: forced })).status, APPLIED, `short ${short}`);
    assert.deepEqual(dump(again.current), dump(store.current), `short ${short}`);
  }
});

test('an outlier is escaped: the column keeps the short width of the small values', () => {
  const store = threePlayers();
  // Players 1 and 3 move one unit off, player 2 a thousand: x's width is 11 bits, its short width 2.
  const targets = { 1: { x: 1004 + 1 }, 2: { x: 1000 }, 3: { x: 501 } };
  const changed = changedFor(store.current, 12, TR, targets);
  assert.equal(store.apply(snapshot({ tick: 12, baseline: 10, changed })).status, APPLIED, store.desyncReason);
  assert.deepEqual([1, 2, 3].map((id) => store.current.entities.get(id).fields[0]), [1005, 1000, 501]);
});

/**
 * Applies `changed` (bytes) as the tick-12 delta against tick 10 of threePlayers(): it must be refused as a
 * corrupt stream, storing nothing and acknowledging nothing.
 */
function assertCorrupt(changed, why, extra = {}) {
  const store = threePlayers();
  const r = store.apply(snapshot({ tick: 12, baseline: 10, changed, ...extra }));
  assert.equal(r.status, DESYNC, why);
  assert.equal(store.corrupt, 1, `${why}: counted as corrupt`);
  assert.equal(store.newestTick, 10, `${why}: nothing stored`);
  assert.equal(store.stateAt(12), null, why);
  assert.equal(store.ackTick, 0, `${why}: nothing acknowledged`);
  assert.equal(store.desynced, true, why);
  // The next full snapshot ends it.
  assert.equal(store.apply(full(13, [player(1, 0, 0, 'a')])).status, APPLIED);
  assert.equal(store.ackTick, 13);
  return store.desyncReason;
}

/** A stream with the given change bits (4: players 1..3 and the bullet) and one x residual each for the marked. */
function stream(marks, tail = (w) => w) {
  const w = new BitWriter();
  for (const m of marks) w.bit(m);
  const c = marks.filter((m) => m).length;
  w.write(2, 6).bit(0).write(2, 6);
  for (let i = 0; i < c; i++) w.write(zigzag(1), 2);
  for (let col = 1; col < 9; col++) w.write(0, 6);
  tail(w);
  return w.bytes();
}

test('the baseline for these streams accepts the well-formed one', () => {
  const store = threePlayers();
  assert.equal(store.apply(snapshot({ tick: 12, baseline: 10, changed: stream([1, 0, 1, 0]) })).status, APPLIED);
  assert.equal(store.current.entities.get(3).fields[0], 501);
});

test('corrupt: a change bit on a bullet', () => {
  assert.match(assertCorrupt(stream([1, 0, 0, 1]), 'bullet'), /not a player/);
});

test('corrupt: a change bit on a removed entity, or on one a created entry replaces', () => {
  assert.match(assertCorrupt(stream([0, 1, 0, 0]), 'removed', { removed: [2] }), /removed entity 2/);
  const created = [player(2, 7, 7, 'new')];
  assert.match(assertCorrupt(stream([0, 1, 0, 0]), 'replaced', { created }), /replaced entity 2/);
  // Without the bit, both are fine.
  const store = threePlayers();
  const r = store.apply(snapshot({ tick: 12, baseline: 10, changed: stream([1, 0, 0, 0]), removed: [2], created: [player(3, 7, 7, 'new')] }));
  assert.equal(r.status, APPLIED);
  assert.deepEqual([...store.current.entities.keys()], [1, 3, 4]);
});

test('corrupt: a column 33 bits wide (or 63)', () => {
  for (const width of [33, 63]) {
    const w = new BitWriter();
    w.bit(1).bit(0).bit(0).bit(0);
    w.write(width, 6).bit(0).write(1, 32).write(0, width - 32);
    for (let col = 1; col < 9; col++) w.write(0, 6);
    assert.match(assertCorrupt(w.bytes(), `width ${width}`), new RegExp(`${width} bits wide`));
  }
});

test('corrupt: a short width over the column width', () => {
  const w = new BitWriter();
  w.bit(1).bit(0).bit(0).bit(0);
  w.write(3, 6).bit(0).write(4, 6).write(zigzag(1), 4);
  for (let col = 1; col < 9; col++) w.write(0, 6);
  assert.match(assertCorrupt(w.bytes(), 'short 4 of 3'), /short width 4 over its width 3/);
});

test('corrupt: a truncated stream (in the change bits, before a column, inside a value)', () => {
  const good = stream([1, 0, 1, 0]);
  assert.match(assertCorrupt(good.subarray(0, good.length - 1), 'last byte cut'), /ends/);
  // Twelve entities need twelve change bits; one byte holds eight.
  const store = new SnapshotStore(TR);
  const many = [];
  for (let id = 1; id <= 12; id++) many.push(player(id, 0, 0, `p${id}`));
  store.apply(full(10, many));
  const r = store.apply(snapshot({ tick: 11, baseline: 10, changed: [0xff] }));
  assert.equal(r.status, DESYNC);
  assert.match(store.desyncReason, /change bits/);
  // A 32-bit value cut after its low 16 bits.
  const w = new BitWriter();
  w.bit(1).bit(0).bit(0).bit(0).write(32, 6).bit(0).write(32, 6).write(0x12345, 16);
  assert.match(assertCorrupt(w.bytes(), 'inside a value'), /ends inside column 0/);
});

test('corrupt: a byte left over after the last column, or padding bits that are not 0', () => {
  const good = stream([1, 0, 1, 0]);
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  assert.match(assertCorrupt(longer, 'an extra 0 byte'), /1 bytes left over/);
  // 4 change bits + 13 + 2 * 2 + 8 * 6 = 69 bits: three padding bits, which must be 0.
  assert.equal(good.length, 9);
  const padded = good.slice();
  padded[8] |= 0x80;
  assert.match(assertCorrupt(padded, 'a padding bit set'), /padding/);
});

test('corrupt: a non-empty changed with no change bit set, and any changed in a full snapshot', () => {
  assert.match(assertCorrupt(new Uint8Array([0]), 'no change bit'), /marks no entity/);
  assert.match(assertCorrupt(stream([0, 0, 0, 0]), 'no change bit, columns after'), /marks no entity/);
  const store = new SnapshotStore(TR);
  const r = store.apply(full(5, [player(1, 0, 0, 'a')], { changed: [1, 0, 0, 0, 0, 0, 0] }));
  assert.equal(r.status, DESYNC);
  assert.equal(store.newestTick, 0);
  assert.equal(store.corrupt, 1);
});

// The snapshot store against the "Applying snapshots" rules of PROTOCOL.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '../msgpack.js';
import { parseServerMessage } from '../protocol.js';
import { APPLIED, DESYNC, STALE, SnapshotStore } from '../state.js';

/** A snapshot as the server would send it, through the real encoder and parser. */
function snap(tick, baseline, created = [], changed = [], removed = [], events = [], lastInputSeq = 0) {
  return parseServerMessage(encode([2, tick, baseline, lastInputSeq, created, changed, removed, events]));
}

const player = (id, x, y, name, hp = 100, score = 0, flags = 0) => [id, 0, x, y, 0, 0, 0, hp, score, 0, flags, name];
const bullet = (id, x, y, vx, vy, owner, spawnTick) => [id, 1, x, y, vx, vy, owner, spawnTick];

/** Entities of a state as plain `[id, kind, ...fields, name?]` arrays, sorted by id. */
function dump(state) {
  return [...state.entities.values()]
    .sort((a, b) => a.id - b.id)
    .map((e) => (e.name === null ? [e.id, e.kind, ...e.fields] : [e.id, e.kind, ...e.fields, e.name]));
}

test('applies a full snapshot then a delta (the PROTOCOL.md session)', () => {
  const store = new SnapshotStore();
  assert.equal(store.ackTick, 0);
  let r = store.apply(snap(1235, 0, [player(7, 19200, 12800, 'ana')], [], [], [[1235, 2, 7, 'ana']]));
  assert.equal(r.status, APPLIED);
  assert.equal(r.events.length, 1);
  assert.equal(store.newestTick, 1235);
  assert.equal(store.ackTick, 1235);
  r = store.apply(snap(1237, 1235, [], [[7, 5, 13, 427]], [], [], 1)); // x +13, vx +427
  assert.equal(r.status, APPLIED);
  assert.deepEqual(dump(store.current), [[7, 0, 19213, 12800, 427, 0, 0, 100, 0, 0, 0, 'ana']]);
  assert.equal(store.current.lastInputSeq, 1);
  assert.equal(store.ackTick, 1237);
  assert.equal(store.fullApplied, 1);
  assert.equal(store.deltasApplied, 1);
  // the baseline state is untouched (copy on write)
  assert.deepEqual(dump(store.stateAt(1235)), [[7, 0, 19200, 12800, 0, 0, 0, 100, 0, 0, 0, 'ana']]);
});

test('applies a delta against an older acknowledged baseline after dropped frames', () => {
  const store = new SnapshotStore();
  store.apply(snap(10, 0, [player(1, 160, 160, 'a'), player(2, 320, 320, 'b')]));
  store.apply(snap(11, 10, [], [[1, 1, 16]]));
  store.apply(snap(12, 11, [bullet(65536, 176, 160, 1600, 0, 1, 12)], [[1, 1, 16]]));
  // The server had only seen our ack of 10 when it built 15 (11..14 acks lost or late): a delta against 10.
  const r = store.apply(
    snap(
      15,
      10,
      [bullet(65537, 320, 320, 0, 1600, 2, 14)],
      [
        [1, 3, 80, 16],
        [2, 1 << 6, 1],
      ],
      [],
    ),
  );
  assert.equal(r.status, APPLIED);
  assert.deepEqual(dump(store.current), [
    [1, 0, 240, 176, 0, 0, 0, 100, 0, 0, 0, 'a'],
    [2, 0, 320, 320, 0, 0, 0, 100, 1, 0, 0, 'b'],
    [65537, 1, 320, 320, 0, 1600, 2, 14],
  ]);
  // and the next delta may name 12, which is still stored
  store.apply(snap(16, 12, [], [], [65536], []));
  assert.deepEqual(dump(store.current), [
    [1, 0, 192, 160, 0, 0, 0, 100, 0, 0, 0, 'a'],
    [2, 0, 320, 320, 0, 0, 0, 100, 0, 0, 0, 'b'],
  ]);
  assert.equal(store.desyncs, 0);
});

test('a created entry for an existing id replaces the entity entirely', () => {
  const store = new SnapshotStore();
  store.apply(snap(5, 0, [player(3, 16, 16, 'old', 40, 7)]));
  store.apply(snap(6, 5, [[3, 0, 32, 48, 1, 2, 3, 100, 0, 0, 0, 'new']]));
  assert.deepEqual(dump(store.current), [[3, 0, 32, 48, 1, 2, 3, 100, 0, 0, 0, 'new']]);
  // a slot reused by a different kind too
  store.apply(snap(7, 6, [bullet(3, 1, 2, 3, 4, 9, 7)]));
  assert.deepEqual(dump(store.current), [[3, 1, 1, 2, 3, 4, 9, 7]]);
});

test('removed, created, then changed, in that order', () => {
  const store = new SnapshotStore();
  store.apply(snap(1, 0, [player(1, 0, 0, 'a'), player(2, 0, 0, 'b')]));
  store.apply(snap(2, 1, [player(3, 5, 5, 'c')], [[1, 0b10000000, 60]], [2]));
  assert.deepEqual(dump(store.current), [
    [1, 0, 0, 0, 0, 0, 0, 100, 0, 60, 0, 'a'],
    [3, 0, 5, 5, 0, 0, 0, 100, 0, 0, 0, 'c'],
  ]);
});

test('a missing baseline is a desync: no acks until a full snapshot', () => {
  const store = new SnapshotStore();
  store.apply(snap(20, 0, [player(1, 0, 0, 'a')]));
  let r = store.apply(snap(22, 21, [], [[1, 1, 16]]));
  assert.equal(r.status, DESYNC);
  assert.equal(store.desyncs, 1);
  assert.equal(store.desynced, true);
  assert.equal(store.ackTick, 0);
  assert.equal(store.newestTick, 20);
  r = store.apply(snap(23, 21, [], [[1, 1, 32]]));
  assert.equal(r.status, DESYNC);
  assert.equal(store.desyncs, 1, 'one desync, however many deltas it drops');
  assert.equal(store.dropped, 2);
  // a delta against a baseline we do hold is still exact: applied, but still not acknowledged
  r = store.apply(snap(24, 20, [], [[1, 1, 48]]));
  assert.equal(r.status, APPLIED);
  assert.equal(store.ackTick, 0);
  r = store.apply(snap(40, 0, [player(1, 64, 0, 'a')]));
  assert.equal(r.status, APPLIED);
  assert.equal(store.desynced, false);
  assert.equal(store.ackTick, 40);
  assert.deepEqual(dump(store.current), [[1, 0, 64, 0, 0, 0, 0, 100, 0, 0, 0, 'a']]);
});

test('changed values are differences from the baseline, added with 32-bit wrap-around', () => {
  const store = new SnapshotStore();
  store.apply(snap(1, 0, [player(1, 2147483000, -5, 'a')]));
  assert.equal(store.apply(snap(2, 1, [], [[1, 0b11, 1000, -20]])).status, APPLIED);
  assert.deepEqual(store.current.entities.get(1).fields.slice(0, 2), [-2147483296, -25]);
  // a later delta against the first state starts from that state, not from the newest
  assert.equal(store.apply(snap(3, 1, [], [[1, 1, 7]])).status, APPLIED);
  assert.equal(store.current.entities.get(1).fields[0], 2147483007);
});

test('a delta that does not fit its baseline is a desync', () => {
  for (const [changed, removed] of [
    [[[9, 1, 16]], []], // changed id unknown
    [[], [9]], // removed id unknown
    [[[65536, 1 << 6, 1]], []], // bullet has six fields
  ]) {
    const store = new SnapshotStore();
    store.apply(snap(1, 0, [player(1, 0, 0, 'a'), bullet(65536, 0, 0, 0, 0, 1, 1)]));
    assert.equal(store.apply(snap(2, 1, [], changed, removed)).status, DESYNC);
    assert.equal(store.desyncs, 1);
    assert.equal(store.newestTick, 1);
  }
});

test('snapshots not newer than the newest applied tick are ignored', () => {
  const store = new SnapshotStore();
  store.apply(snap(10, 0, [player(1, 0, 0, 'a')]));
  assert.equal(store.apply(snap(10, 0, [player(1, 99, 0, 'a')])).status, STALE);
  assert.equal(store.apply(snap(9, 0, [])).status, STALE);
  assert.equal(store.current.entities.get(1).fields[0], 0);
  assert.equal(store.stale, 2);
  assert.equal(store.received, 3);
});

test('keeps the last 64 applied states', () => {
  const store = new SnapshotStore();
  store.apply(snap(1, 0, [player(1, 1, 0, 'a')]));
  for (let t = 2; t <= 100; t++) store.apply(snap(t * 2, t === 2 ? 1 : (t - 1) * 2, [], [[1, 1, 1]]));
  assert.equal(store.stateAt(200).entities.get(1).fields[0], 100);
  assert.notEqual(store.stateAt(200 - 63 * 2), null);
  assert.equal(store.stateAt(200 - 64 * 2), null);
  assert.equal(store.stateAt(1), null);
  assert.equal(store.apply(snap(202, 200 - 63 * 2, [], [[1, 2, 5]])).status, APPLIED);
  assert.equal(store.apply(snap(204, 200 - 64 * 2, [], [[1, 2, 5]])).status, DESYNC);
});

test('events are handled once even though they repeat until acknowledged', () => {
  const store = new SnapshotStore();
  const kill = [11, 1, 1, 2];
  const kill2 = [11, 1, 3, 4];
  const join = [12, 2, 5, 'e'];
  let r = store.apply(snap(10, 0, [player(1, 0, 0, 'a')], [], [], [[10, 2, 1, 'a']]));
  assert.deepEqual(
    r.events.map((e) => e.tick),
    [10],
  );
  r = store.apply(snap(11, 10, [], [], [], [kill, kill2]));
  assert.deepEqual(
    r.events.map((e) => [e.killer, e.victim]),
    [
      [1, 2],
      [3, 4],
    ],
    'two events in one tick',
  );
  // our ack of 11 was lost: the server repeats tick 11's events along with tick 12's
  r = store.apply(snap(12, 10, [], [], [], [kill, kill2, join]));
  assert.deepEqual(
    r.events.map((e) => e.tick),
    [12],
  );
  r = store.apply(snap(13, 10, [], [], [], [kill, kill2, join]));
  assert.deepEqual(r.events, []);
  // a stale snapshot hands out nothing
  r = store.apply(snap(13, 0, [], [], [], [[13, 3, 5]]));
  assert.deepEqual(r.events, []);
  // a delta we cannot apply still delivers its new events
  r = store.apply(
    snap(
      15,
      14,
      [],
      [],
      [],
      [
        [14, 3, 5],
        [15, 3, 1],
      ],
    ),
  );
  assert.equal(r.status, DESYNC);
  assert.deepEqual(
    r.events.map((e) => e.tick),
    [14, 15],
  );
  assert.equal(store.lastEventTick, 15);
});

test('bracket finds the stored states around a fractional tick', () => {
  const store = new SnapshotStore();
  const b = { before: null, after: null };
  assert.deepEqual(store.bracket(5, b), { before: null, after: null });
  store.apply(snap(10, 0, [player(1, 0, 0, 'a')]));
  store.apply(snap(12, 10));
  store.apply(snap(15, 12));
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

test('the flags field (index 8) changes through a 16-bit mask; bits past a player\'s nine fields are a desync', () => {
  const store = new SnapshotStore();
  store.apply(snap(1, 0, [player(2, 16, 16, 'ana')]));
  // The seat detached (flags 0 -> 1) while x moved: mask 0x101.
  assert.equal(store.apply(snap(2, 1, [], [[2, 0x101, 5, 1]])).status, APPLIED);
  assert.deepEqual(dump(store.current), [[2, 0, 21, 16, 0, 0, 0, 100, 0, 0, 1, 'ana']]);
  assert.equal(store.apply(snap(3, 2, [], [[2, 1 << 8, -1]])).status, APPLIED);
  assert.equal(store.current.entities.get(2).fields[8], 0);
  assert.equal(store.apply(snap(4, 3, [], [[2, 1 << 9, 1]])).status, DESYNC);
});

// ---------------------------------------------------------------------------------------------------------------
// Version 5: hits, deduplicated like events (PROTOCOL 7.3) with a threshold of their own

/** A version 5 snapshot: `hits` as [tick, victim] pairs, then events. */
function snapHits(tick, baseline, hits, events = [], created = []) {
  return parseServerMessage(encode([2, tick, baseline, 0, created, [], [], events, hits]));
}

test('hits are handled once though they repeat until acknowledged; two in one tick are both kept', () => {
  const store = new SnapshotStore();
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
  const store = new SnapshotStore();
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
  // An 8-element (version 4) snapshot has no hits and leaves the threshold alone.
  r = store.apply(snap(15, 14));
  assert.deepEqual(r.hits, []);
  assert.equal(store.lastHitTick, 14);
});

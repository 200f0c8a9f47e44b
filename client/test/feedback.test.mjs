// What snapshots tell the own player about itself (feedback.js): new own shots, confirmed hits and kills, hp lost;
// fed as main.js feeds it, through the real parser and snapshot store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnFeedback, isKillHit } from '../feedback.js';
import { APPLIED, SnapshotStore } from '../state.js';
import { changedFor, snapshot } from './delta.mjs';

const ME = 7;
const player = (id, hp, name = `p${id}`) => [id, 0, 1600, 1600, 0, 0, 0, hp, 0, 0, 0, name];
const bullet = (id, owner, spawnTick) => [id, 1, 1600, 1600, 14400, 0, owner, spawnTick];

/**
 * Feeds snapshots to a store and a feedback as main.js does; `step` returns observe()'s result (a copy). `changes`
 * takes players to new values (`{id: {hp: 80}}`) when the baseline is held.
 */
function harness(ownId = ME) {
  const store = new SnapshotStore(30);
  const fb = new OwnFeedback();
  function step(tick, baseline, { created = [], changes = {}, removed = [], events = [], hits = [] } = {}) {
    const base = baseline === 0 ? null : store.stateAt(baseline);
    const changed = base === null ? new Uint8Array(0) : changedFor(base, tick, 30, changes);
    const snap = snapshot({ tick, baseline, created, changed, removed, events, hits });
    const prev = store.current;
    const r = store.apply(snap);
    return { ...fb.observe(ownId, snap, r.status === APPLIED, r.hits, r.events, prev, store.current) };
  }
  return { store, fb, step };
}

test('a new bullet of the own player is a shot; the same bullet listed again, or another player\'s, is not', () => {
  const { fb, step } = harness();
  assert.equal(step(10, 0, { created: [player(ME, 100), player(8, 100)] }).shot, false);
  assert.equal(step(11, 10, { created: [bullet(65536, 8, 11)] }).shot, false, "someone else's bullet");
  assert.equal(step(12, 11, { created: [bullet(65537, ME, 12)] }).shot, true);
  assert.equal(fb.lastShotTick, 12);
  // A full snapshot lists every bullet in flight again: no new shot.
  const all = [player(ME, 100), player(8, 100), bullet(65536, 8, 11), bullet(65537, ME, 12)];
  assert.equal(step(13, 0, { created: all }).shot, false);
  // Two new own bullets in one snapshot (one came late) are one shot sound.
  assert.equal(step(20, 13, { created: [bullet(65538, ME, 17), bullet(65539, ME, 20)] }).shot, true);
  assert.equal(fb.lastShotTick, 20);
  // A delta that cannot be applied makes no shot (its bullet comes again in the snapshot that is applied).
  assert.equal(step(26, 24, { created: [bullet(65540, ME, 26)] }).shot, false);
  assert.equal(step(27, 20, { created: [bullet(65540, ME, 26)] }).shot, true);
});

test('a confirmed hit: counted once, a kill when a kill event of the own player names that victim at that tick', () => {
  const { fb, step } = harness();
  step(10, 0, { created: [player(ME, 100), player(8, 100), player(9, 20)] });
  let r = step(11, 10, { hits: [[11, 8]] });
  assert.deepEqual([r.hit, r.killHit, r.kill, r.hits], [true, false, false, 1]);
  assert.deepEqual(fb.lastHit, { tick: 11, victim: 8, kill: false });
  // The ack of 11 was lost: tick 11's hit comes again with the kill of 9 at tick 12.
  r = step(12, 10, { hits: [[11, 8], [12, 9]], events: [[12, 1, ME, 9]] });
  assert.deepEqual([r.hit, r.killHit, r.kill, r.hits], [false, true, true, 1]);
  assert.deepEqual(fb.lastHit, { tick: 12, victim: 9, kill: true });
  assert.equal(fb.hits, 2);
  assert.equal(fb.kills, 1);
  // And again: nothing new.
  r = step(13, 10, { hits: [[11, 8], [12, 9]], events: [[12, 1, ME, 9]] });
  assert.deepEqual([r.hit, r.killHit, r.kill, r.hits], [false, false, false, 0]);
  assert.equal(fb.hits, 2);
  // Same tick, two victims: only the one the kill event names was killed.
  r = step(14, 13, { hits: [[14, 8], [14, 9]], events: [[14, 1, ME, 9]] });
  assert.deepEqual([r.hit, r.killHit, r.kill, r.hits], [true, true, true, 2]);
  assert.deepEqual(fb.lastHit, { tick: 14, victim: 9, kill: true });
  // Someone else's kill of the victim, or a kill at another tick, does not make the own hit a kill.
  r = step(15, 14, { hits: [[15, 8]], events: [[15, 1, 9, 8]] });
  assert.deepEqual([r.hit, r.killHit, r.kill], [true, false, false]);
  assert.equal(fb.lastHit.kill, false);
  assert.equal(fb.hits, 5);
});

test('isKillHit matches tick, killer and victim of kill events only', () => {
  const events = [
    { tick: 5, kind: 1, killer: 7, victim: 9 },
    { tick: 5, kind: 3, playerId: 8 },
  ];
  assert.equal(isKillHit(events, 5, 7, 9), true);
  assert.equal(isKillHit(events, 4, 7, 9), false);
  assert.equal(isKillHit(events, 5, 8, 9), false);
  assert.equal(isKillHit(events, 5, 7, 8), false);
  assert.equal(isKillHit([], 5, 7, 9), false);
});

test('hurt: the own hp fell between the newest applied states; a respawn or another player\'s loss is not', () => {
  const { step } = harness();
  assert.equal(step(10, 0, { created: [player(ME, 100), player(8, 100)] }).hurt, false, 'first sight');
  assert.equal(step(11, 10, { changes: { [ME]: { hp: 80 } } }).hurt, true, '100 -> 80');
  assert.equal(step(12, 11, { changes: { 8: { hp: 80 } } }).hurt, false, "the other player's hp");
  assert.equal(step(13, 11, { changes: { [ME]: { hp: 0 } } }).hurt, true, '80 -> 0: a death hurts too');
  assert.equal(step(14, 13, { changes: { [ME]: { hp: 100 } } }).hurt, false, 'respawned: 0 -> 100');
  assert.equal(step(14, 13, { changes: { [ME]: { hp: 0 } } }).hurt, false, 'a stale snapshot');
  assert.equal(step(16, 15, { changes: { [ME]: { hp: 80 } } }).hurt, false, 'a desync: not applied');
});

test('a spectator (player id 0) gets no feedback', () => {
  const { fb, step } = harness(0);
  step(10, 0, { created: [player(8, 100), player(9, 100)] });
  const r = step(11, 10, { created: [bullet(65536, 0, 11)], hits: [[11, 8]], events: [[11, 1, 0, 9]] });
  assert.deepEqual(r, { shot: false, hit: false, kill: false, killHit: false, hits: 0, hurt: false });
  assert.equal(fb.hits, 0);
});

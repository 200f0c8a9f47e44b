// Interpolation (interp.js): remote players between bracketing states, extrapolation with a cap, analytic bullets,
// and the server clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshotAimToRadians } from '../protocol.js';
import { InputPacer, Interpolator, ServerClock, interpDelayFrom, lerpAim } from '../interp.js';
import { Scene } from '../scene.js';
import { SnapshotStore } from '../state.js';
import { changedFor, snapshot } from './delta.mjs';

const TICK_RATE = 30;
const DT = 1 / TICK_RATE;

/** A full snapshot (baseline 0) of `created`. */
function snap(tick, created = []) {
  return snapshot({ tick, created });
}

/** A delta against `baseline` taking players to `targets` (`{id: {field: wire value}}`), the rest predicted. */
function delta(store, tick, baseline, targets = {}) {
  const changed = changedFor(store.stateAt(baseline), tick, TICK_RATE, targets);
  return snapshot({ tick, baseline, changed });
}

/** A created player in wire units from world units (velocities multiples of the tick rate once in 1/16). */
const player = (id, x, y, vx = 0, vy = 0, hp = 100, name = `p${id}`, aim = 0) => [
  id, 0, x * 16, y * 16, vx * 16, vy * 16, aim, hp, 0, 0, 0, name,
];
const bullet = (id, x, y, vx, vy, owner, spawnTick) => [id, 1, x * 16, y * 16, vx * 16, vy * 16, owner, spawnTick];

const find = (scene, id) => scene.players.slice(0, scene.playerCount).find((p) => p.id === id);

test('a remote player is drawn between the two states around the render time, also across a dropped frame', () => {
  const store = new SnapshotStore(TICK_RATE);
  store.apply(snap(10, [player(1, 100, 200), player(2, 500, 500)]));
  // Tick 11 never arrived; 12 is a delta against 10.
  store.apply(delta(store, 12, 10, { 1: { x: 120 * 16 } })); // x 100 -> 120
  const interp = new Interpolator(DT);
  const scene = new Scene();
  interp.fill(scene, store, 2, 11);
  assert.equal(interp.mode, 'interpolate');
  assert.equal(scene.playerCount, 1, 'the own player (2) is left to prediction');
  assert.equal(find(scene, 1).x, 110);
  assert.equal(find(scene, 1).y, 200);
  interp.fill(scene, store, 2, 10.5);
  assert.equal(find(scene, 1).x, 105);
  interp.fill(scene, store, 2, 12);
  assert.equal(find(scene, 1).x, 120);
  assert.equal(scene.tick, 12);
});

test('a late state: extrapolation along the velocity, capped at 3 ticks, then held', () => {
  const store = new SnapshotStore(TICK_RATE);
  store.apply(snap(10, [player(1, 100, 200, 300, -60)]));
  const interp = new Interpolator(DT);
  const scene = new Scene();
  interp.fill(scene, store, 0, 11);
  assert.equal(interp.mode, 'extrapolate');
  assert.ok(Math.abs(find(scene, 1).x - 110) < 1e-9);
  assert.ok(Math.abs(find(scene, 1).y - 198) < 1e-9);
  interp.fill(scene, store, 0, 12.5);
  assert.ok(Math.abs(find(scene, 1).x - 125) < 1e-9);
  interp.fill(scene, store, 0, 40);
  assert.ok(Math.abs(find(scene, 1).x - 130) < 1e-9, 'held at 3 ticks');
  assert.equal(interp.extrapolated, 3);
  assert.equal(scene.tick, 13);
  // ...but never out of the world.
  const edge = new Interpolator(DT, { width: 120, height: 600, radius: 16 });
  edge.fill(scene, store, 0, 40);
  assert.equal(find(scene, 1).x, 104);
});

test('before the oldest state the oldest is shown as it is', () => {
  const store = new SnapshotStore(TICK_RATE);
  store.apply(snap(10, [player(1, 100, 200, 300, 0)]));
  const interp = new Interpolator(DT);
  const scene = new Scene();
  interp.fill(scene, store, 0, 8);
  assert.equal(interp.mode, 'hold');
  assert.equal(find(scene, 1).x, 100);
  interp.fill(scene, new SnapshotStore(TICK_RATE), 0, 8);
  assert.equal(scene.playerCount, 0);
});

test('a respawn (a jump, or dead to alive) is not interpolated', () => {
  const store = new SnapshotStore(TICK_RATE);
  store.apply(snap(10, [player(1, 100, 200, 0, 0, 0), player(3, 100, 100)]));
  // 1 to (900, 900) and back to life, 3 to x 1000
  store.apply(delta(store, 11, 10, { 1: { x: 900 * 16, y: 900 * 16, hp: 100 }, 3: { x: 1000 * 16 } }));
  const interp = new Interpolator(DT);
  const scene = new Scene();
  interp.fill(scene, store, 0, 10.5);
  assert.equal(find(scene, 1).x, 100, 'still where it died');
  assert.equal(find(scene, 1).hp, 0);
  assert.equal(find(scene, 3).x, 100, 'a 900-unit jump in one tick is a teleport');
  interp.fill(scene, store, 0, 11);
  assert.equal(find(scene, 1).x, 900);
  assert.equal(find(scene, 1).hp, 100);
});

test('bullets are placed analytically at the render time, and not drawn before they exist or after their life', () => {
  const store = new SnapshotStore(TICK_RATE);
  store.apply(snap(10, [player(1, 0, 0), bullet(65536, 100, 100, 900, -300, 1, 9)]));
  store.apply(delta(store, 11, 10));
  const interp = new Interpolator(DT, { bulletLifetimeTicks: 36 });
  const scene = new Scene();
  interp.fill(scene, store, 0, 10.5);
  assert.equal(scene.bulletCount, 1);
  const b = scene.bullets[0];
  assert.equal(b.owner, 1);
  assert.ok(Math.abs(b.x - (100 + 900 * 1.5 * DT)) < 1e-9, `x ${b.x}`);
  assert.ok(Math.abs(b.y - (100 - 300 * 1.5 * DT)) < 1e-9);
  // Extrapolated past the newest state, with the same cap as players.
  interp.fill(scene, store, 0, 30);
  assert.ok(Math.abs(scene.bullets[0].x - (100 + 900 * 5 * DT)) < 1e-9);
  // Too old to draw.
  const short = new Interpolator(DT, { bulletLifetimeTicks: 1 });
  short.fill(scene, store, 0, 10.5);
  assert.equal(scene.bulletCount, 0);
});

test('aims (0..255 in snapshots) interpolate the short way round, wrapping at 256', () => {
  assert.equal(lerpAim(250, 4, 0.5), 255);
  assert.equal(lerpAim(250, 4, 0.75), 1.5);
  assert.equal(lerpAim(4, 250, 0.5), 255);
  assert.equal(lerpAim(4, 250, 0.25), 1.5);
  assert.equal(lerpAim(4, 250, 1), 250);
  assert.equal(lerpAim(10, 20, 0.25), 12.5);
  assert.equal(lerpAim(200, 100, 0.5), 150);
  assert.equal(lerpAim(0, 128, 0.5), 64, 'half a turn apart: the way of increasing steps');
  assert.equal(lerpAim(7, 7, 0.3), 7);
  // Through the interpolator: a remote player turning from 250 to 4 faces 255 halfway, in radians.
  const store = new SnapshotStore(TICK_RATE);
  store.apply(snap(10, [player(1, 0, 0, 0, 0, 100, 'p1', 250), player(2, 50, 50, 0, 0, 100, 'p2', 64)]));
  store.apply(delta(store, 11, 10, { 1: { aim: 4 } }));
  const interp = new Interpolator(DT);
  const scene = new Scene();
  interp.fill(scene, store, 0, 10.5);
  assert.ok(Math.abs(find(scene, 1).aim - snapshotAimToRadians(255)) < 1e-12, `${find(scene, 1).aim}`);
  assert.equal(find(scene, 2).aim, Math.PI / 2, 'aim 64 is a quarter turn');
  interp.fill(scene, store, 0, 11);
  assert.equal(find(scene, 1).aim, snapshotAimToRadians(4));
  assert.equal(store.current.entities.get(1).fields[4], 4);
});

test('the server clock follows the early edge of arrivals and jumps after a long gap', () => {
  const tickMs = 1000 / 30;
  const clock = new ServerClock(tickMs);
  assert.equal(clock.tickAt(5), 0);
  clock.observe(100, 1000);
  assert.equal(clock.tickAt(1000), 100);
  assert.ok(Math.abs(clock.tickAt(1000 + tickMs) - 101) < 1e-9);
  // A snapshot 20 ms late barely moves the clock...
  clock.observe(101, 1000 + tickMs + 20);
  assert.ok(clock.tickAt(1000 + tickMs) > 100.98);
  // ...an early one pulls it forward quickly.
  clock.observe(102, 1000 + 2 * tickMs - 20);
  assert.ok(clock.tickAt(1000 + 2 * tickMs) > 102.1);
  // A hidden tab: a whole second later, the clock jumps to the new arrivals.
  clock.observe(200, 9000);
  assert.equal(clock.tickAt(9000), 200);
});

test('the interpolation delay comes from ?interp=N, 2 by default', () => {
  assert.equal(interpDelayFrom(''), 2);
  assert.equal(interpDelayFrom('?name=ana&interp=3'), 3);
  assert.equal(interpDelayFrom('?interp=0'), 0);
  assert.equal(interpDelayFrom('?interp=1.5'), 1.5);
  assert.equal(interpDelayFrom('?interp=-4'), 0);
  assert.equal(interpDelayFrom('?interp=abc'), 2);
  assert.equal(interpDelayFrom('?interp=1000'), 30);
});

test('a frame reuses the pooled views', () => {
  const store = new SnapshotStore(TICK_RATE);
  store.apply(snap(10, [player(1, 0, 0), player(2, 5, 5), bullet(65536, 1, 1, 1, 1, 1, 10)]));
  const interp = new Interpolator(DT);
  const scene = new Scene();
  interp.fill(scene, store, 0, 10);
  const views = scene.players.slice();
  const bullets = scene.bullets.slice();
  interp.fill(scene, store, 0, 10);
  assert.equal(scene.players[0], views[0]);
  assert.equal(scene.bullets[0], bullets[0]);
  assert.equal(scene.players.length, 2);
});

test('the input pacer keeps one input per tick and slews towards half a tick after the server ticks', () => {
  const tickMs = 1000 / 30;
  const clock = new ServerClock(tickMs);
  const pacer = new InputPacer(tickMs, 2);
  // Before any state: a plain fixed rate.
  assert.equal(pacer.next(0, clock, null), tickMs);
  assert.equal(pacer.next(tickMs, clock, null), 2 * tickMs);
  // States arrive at 10 ms past each local tick multiple; with a 10 ms round trip inputs should go out at
  // phase 0.5 tick - 10 ms after an arrival, i.e. about 16.7 ms past each multiple.
  for (let k = 0; k < 5; k++) clock.observe(100 + k, 10 + k * tickMs);
  let t = 2 * tickMs;
  let last = t;
  for (let i = 0; i < 40; i++) {
    t = pacer.next(t, clock, 10);
    const gap = t - last;
    assert.ok(gap >= tickMs - 2 - 1e-9 && gap <= tickMs + 2 + 1e-9, `steady rhythm: ${gap}`);
    last = t;
  }
  const phase = (((t - clock.origin - (0.5 * tickMs - 10)) % tickMs) + tickMs) % tickMs;
  assert.ok(phase < 1e-6 || tickMs - phase < 1e-6, `locked on the target phase: ${phase}`);
  // A stalled timer (hidden tab) starts a new rhythm instead of bursting to catch up.
  const after = pacer.next(t + 5000, clock, 10);
  assert.ok(after >= t + 5000 + tickMs - 2 && after <= t + 5000 + tickMs + 2);
});

test('the input pacer adds back the median lateness of states, so a jittery link keeps inputs mid-tick', () => {
  const tickMs = 1000 / 30;
  const clock = new ServerClock(tickMs);
  const pacer = new InputPacer(tickMs, 2);
  for (let k = 0; k < 5; k++) clock.observe(100 + k, 10 + k * tickMs);
  let t = 2 * tickMs;
  for (let i = 0; i < 60; i++) t = pacer.next(t, clock, 10, 6);
  const phase = (((t - clock.origin - (0.5 * tickMs - 10 + 6)) % tickMs) + tickMs) % tickMs;
  assert.ok(phase < 1e-6 || tickMs - phase < 1e-6, `locked 6 ms later than without lateness: ${phase}`);
  // An unknown lateness (NaN before any state) counts as none.
  const plain = new InputPacer(tickMs, 2);
  assert.equal(plain.next(0, new ServerClock(tickMs), null, NaN), tickMs);
});

test('remote players carry their disconnected flag (bit 0 of field 8) into the drawn views', () => {
  const store = new SnapshotStore(TICK_RATE);
  const away = [2, 0, 80, 80, 0, 0, 0, 100, 0, 0, 1, 'bob'];
  store.apply(snap(10, [player(1, 5, 5), away]));
  store.apply(delta(store, 11, 10, { 2: { flags: 0 } }));
  const interp = new Interpolator(DT);
  const scene = new Scene();
  interp.fill(scene, store, 1, 10);
  assert.equal(find(scene, 2).disconnected, true);
  interp.fill(scene, store, 1, 10.5);
  assert.equal(find(scene, 2).disconnected, true, 'between two states the older one says');
  interp.fill(scene, store, 1, 11);
  assert.equal(find(scene, 2).disconnected, false, 'back: the flag cleared by a delta');
  interp.fill(scene, store, 0, 11);
  assert.equal(find(scene, 1).disconnected, false);
});

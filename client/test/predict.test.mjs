// Prediction (predict.js): the movement port against the server's own results, and reconciliation with scripted
// inputs and snapshots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MovementModel, Predictor, snap, snapTowardZero } from '../predict.js';

const RULES_30 = { playerRadius: 16, accel: 2400, friction: 8, maxSpeed: 260 };
const open = (width = 2400, height = 1600) => ({ width, height, walls: [] });
const wall = (x, y, w, h) => ({ x, y, w, h });

/** A map with touching, overlapping and thin walls, staircases, narrow gaps and walls across grid cells. */
const TRICKY = {
  width: 700,
  height: 500,
  walls: [
    [100, 100, 60, 20], [140, 100, 20, 90], [200, 60, 30, 200], [260, 60, 30, 200], [320, 150, 64, 64],
    [384, 150, 64, 64], [320, 214, 64, 64], [470, 40, 10, 10], [480, 50, 10, 10], [490, 60, 10, 10],
    [500, 70, 10, 10], [510, 80, 10, 10], [520, 90, 10, 10], [60, 300, 200, 17], [60, 340, 200, 17],
    [300, 320, 5, 5], [330, 330, 3, 90], [360, 300, 33, 33], [375, 315, 33, 33], [450, 300, 100, 100],
    [560, 300, 100, 100], [450, 410, 210, 30], [620, 20, 30, 30], [655, 20, 30, 30], [0, 470, 700, 30],
    [0, 0, 30, 30],
  ].map(([x, y, w, h]) => wall(x, y, w, h)),
};
/** Rule sets of the vectors: the defaults, odd values (as f32 on the wire) and a fast player, both hitting the cap. */
const VECTOR_RULES = [
  RULES_30,
  { playerRadius: 15.5, accel: 2000.5, friction: 8.5, maxSpeed: Math.fround(199.7) },
  { playerRadius: 16, accel: 5000, friction: 3, maxSpeed: 400 },
];

/**
 * One tick of the server's World::step (src/sim/world.rs) on TRICKY, printed by the server itself:
 * [rules, tick_rate, x, y, vx, vy, move_x, move_y, x', y', vx', vy'] in wire units (1/16). Chosen where the
 * arithmetic is delicate: each of the first rows comes out differently when computed in doubles instead of f32,
 * the rest push out of walls, slide along them or stop at the edges.
 */
const SERVER_STEPS = [
  [0, 30, 1321, 7264, -3079, 12, -127, 1, 1214, 7264, -3196, 0],
  [0, 30, 8550, 3986, -2227, 2720, 0, -127, 8496, 4021, -1633, 1055],
  [0, 30, 4961, 5987, 2340, 2335, 127, 127, 5024, 6066, 0, 2376],
  [0, 30, 4626, 4704, -1594, 0, -59, 0, 4573, 4704, -1605, 0],
  [0, 30, 6936, 4091, -2429, -2280, -127, -127, 6855, 4013, -2445, -2335],
  [0, 30, 10859, 1056, 3033, 0, 127, -127, 10944, 1056, 0, 0],
  [0, 30, 10794, 7242, -663, -663, -127, -127, 10757, 7204, 0, -1149],
  [0, 30, 9661, 256, 2501, 0, 127, 0, 9672, 256, 0, 0],
  [0, 60, 268, 5541, -2559, -2799, -79, -127, 256, 5493, 0, -2896],
  [0, 60, 6928, 7123, 1890, -438, 92, -89, 6953, 7110, 0, -765],
  [0, 60, 584, 5847, -760, -985, 127, 0, 582, 5833, -103, -853],
  [0, 60, 4383, 4569, 3443, 970, 0, -127, 4433, 4574, 2983, 285],
  [0, 60, 9757, 2023, 937, 78, 27, 0, 9773, 2024, 929, 67],
  [0, 60, 1749, 2908, -1599, -1570, 0, 127, 1726, 2895, -1385, -805],
  [0, 60, 1726, 2895, -1385, -805, 0, 127, 1706, 2893, -1200, -142],
  [0, 60, 5445, 2144, -759, 0, -127, 127, 5428, 2144, -1050, 0],
  [0, 60, 7452, 256, 2003, -2540, 127, -127, 7487, 256, 2128, 0],
  [0, 60, 275, 4230, 731, -759, 127, -127, 292, 4213, 1025, -1050],
  [0, 60, 6926, 6529, 3973, 339, 127, 0, 6945, 6534, 0, 293],
  [0, 60, 5718, 5581, 655, 0, -127, 0, 5718, 5581, 12, 0],
  [0, 60, 4104, 4544, -1225, 0, 127, 0, 4096, 4544, -506, 0],
  [1, 30, 7929, 1532, 0, -1631, 127, -98, 7926, 1523, 0, 0],
  [1, 30, 6851, 269, 1320, 644, 0, 107, 6883, 306, 945, 1105],
  [1, 30, 5695, 248, 2113, 0, 127, -127, 5764, 248, 2054, 0],
  [1, 30, 10921, 4970, 1537, -252, 127, 61, 10952, 4975, 0, 150],
  [1, 30, 5049, 7099, 1820, -1173, 127, -74, 5115, 7058, 1964, -1225],
  [1, 30, 5405, 7272, -1200, 0, 0, 127, 5376, 7272, -859, 0],
  [1, 30, 5524, 4696, 1798, 0, 87, -23, 5534, 4696, 0, 0],
  [1, 30, 7577, 1214, 606, 600, 0, 0, 7591, 1228, 434, 429],
  [1, 30, 10951, 3666, 2600, 0, 127, 0, 10952, 3666, 0, 0],
  [2, 20, 389, 4544, -6400, 0, -59, 0, 256, 4544, 0, 0],
  [2, 20, 2700, 256, 5952, 0, 71, -84, 3005, 256, 6089, 0],
  [2, 20, 5143, 7069, 6399, 3, 127, 0, 5463, 7069, 6400, 1],
  [2, 20, 5463, 7069, 6400, 1, 127, 0, 5783, 7069, 6400, 0],
  [2, 20, 2944, 520, 0, -6400, 0, -127, 2944, 256, 0, 0],
  [2, 20, 5441, 4901, -1265, -6273, -53, -88, 5342, 4704, -1974, 0],
  [2, 20, 10824, 256, -2404, 0, -127, 127, 10656, 256, 0, 0],
  [2, 20, 395, 736, 2784, 0, 127, -89, 682, 638, 0, -1951],
  [2, 20, 1719, 7264, 4315, 0, 31, 127, 1943, 7264, 4474, 0],
  [2, 20, 10579, 4544, 1895, 0, 11, 106, 10790, 4686, 0, 2837],
  [2, 20, 10833, 5413, 4, -6399, 0, -127, 10833, 5093, 2, -6400],
  [2, 20, 1962, 256, 5956, 0, 127, -127, 2267, 256, 6092, 0],
  [2, 20, 7936, 562, 0, 0, -68, 106, 8078, 704, 0, 2837],
];

/** Wire fields of the own player as a snapshot carries them (x, y, vx, vy, aim, hp, score, respawn). */
function fieldsOf(body, hp = 100) {
  return [body.x * 16, body.y * 16, body.vx * 16, body.vy * 16, 0, hp, 0, 0];
}

const TICK_MS = 1000 / 30;

test('the movement port lands exactly where the server does', () => {
  const models = new Map();
  for (const [rules, rate, x, y, vx, vy, mx, my, ex, ey, evx, evy] of SERVER_STEPS) {
    const key = `${rules}/${rate}`;
    if (!models.has(key)) models.set(key, new MovementModel(TRICKY, VECTOR_RULES[rules], rate));
    const b = models.get(key).step({ x: x / 16, y: y / 16, vx: vx / 16, vy: vy / 16 }, mx, my);
    assert.deepEqual([b.x * 16, b.y * 16, b.vx * 16, b.vy * 16], [ex, ey, evx, evy], `from ${[x, y, vx, vy, mx, my]}`);
  }
});

test('grid rounding follows Rust: nearest with halves away from zero for positions, towards zero for velocity', () => {
  assert.equal(snap(1 / 32), 1 / 16);
  assert.equal(snap(-1 / 32), -1 / 16);
  assert.equal(snap(10.03), 10);
  assert.equal(snapTowardZero(1.99), 1.9375);
  assert.equal(snapTowardZero(-1.99), -1.9375);
  assert.equal(snapTowardZero(0.06), 0);
});

test('movement: accelerates, settles at 220 u/s at 30 Hz, stops under friction, no faster diagonally', () => {
  const m = new MovementModel(open(100000, 100000), RULES_30, 30);
  const b = { x: 1200, y: 800, vx: 0, vy: 0 };
  m.step(b, 127, 0);
  assert.equal(b.vx, 58.625); // 2400/30 * (1 - 8/30) = 58.67, snapped towards zero
  assert.equal(b.x, 1200 + 1.9375); // 58.67/30 = 1.956, snapped to the nearest 1/16
  for (let i = 0; i < 200; i++) m.step(b, 127, 0);
  assert.ok(Math.abs(b.vx - 220) < 0.25, `terminal speed ${b.vx}`);
  for (let i = 0; i < 200; i++) m.step(b, 0, 0);
  assert.equal(b.vx, 0);
  const d = { x: 1200, y: 800, vx: 0, vy: 0 };
  for (let i = 0; i < 200; i++) m.step(d, 127, 127);
  assert.ok(Math.hypot(d.vx, d.vy) <= 220.25);
  for (const v of [b.x, b.y, d.x, d.y, d.vx, d.vy]) assert.equal(v * 16, Math.round(v * 16), 'on the 1/16 grid');
});

test('a wall stops the prediction like the server: flush against its face, velocity zeroed', () => {
  const map = { width: 800, height: 600, walls: [wall(400, 200, 40, 200)] };
  const m = new MovementModel(map, RULES_30, 30);
  const b = { x: 300, y: 300, vx: 0, vy: 0 };
  for (let i = 0; i < 60; i++) m.step(b, 127, 0);
  assert.equal(b.x, 400 - 16);
  assert.equal(b.vx, 0);
  // The world's edges too.
  const e = { x: 100, y: 100, vx: 0, vy: 0 };
  for (let i = 0; i < 60; i++) m.step(e, -127, -127);
  assert.deepEqual(e, { x: 16, y: 16, vx: 0, vy: 0 });
});

/** Sends `count` inputs holding (mx, my) from seq `from`, one per tick starting at time `t0`. */
function hold(p, from, count, mx, my, t0 = 0) {
  for (let i = 0; i < count; i++) p.input(from + i, mx, my, t0 + i * TICK_MS);
}

test('reconciliation: the server acks 12 of 20 inputs; replaying 13..20 ends on the pure prediction', () => {
  const map = open(800, 600);
  const start = { x: 100, y: 300, vx: 0, vy: 0 };
  // What the client predicts from the start with 20 inputs held right, and the server's state after 12 of them.
  const pure = new MovementModel(map, RULES_30, 30);
  const after20 = { ...start };
  const after12 = { ...start };
  for (let i = 0; i < 20; i++) pure.step(after20, 127, 0);
  for (let i = 0; i < 12; i++) pure.step(after12, 127, 0);

  const p = new Predictor(new MovementModel(map, RULES_30, 30), { tickMs: TICK_MS });
  p.reconcile(fieldsOf(start), 0, 0); // the first snapshot: nothing applied yet
  hold(p, 1, 20, 127, 0);
  assert.equal(p.x, after20.x, 'pure prediction before any ack');
  assert.equal(p.pendingInputs, 20);

  const error = p.reconcile(fieldsOf(after12), 12, 20 * TICK_MS);
  assert.equal(p.pendingInputs, 8, 'inputs 13..20 stay pending');
  assert.equal(error, 0);
  assert.deepEqual({ x: p.x, y: p.y }, { x: after20.x, y: after20.y });
  assert.equal(p.corrections, 0);
  assert.equal(p.ackedSeq, 12);
});

test('reconciliation: the server skipping inputs (a backlog) drops them from the pending list', () => {
  const p = new Predictor(new MovementModel(open(), RULES_30, 30), { tickMs: TICK_MS });
  p.reconcile(fieldsOf({ x: 500, y: 500, vx: 0, vy: 0 }), 0, 0);
  hold(p, 1, 10, 0, 127);
  p.reconcile(fieldsOf({ x: 500, y: 510, vx: 0, vy: 100 }), 7, 10 * TICK_MS);
  assert.equal(p.pendingInputs, 3);
  p.reconcile(fieldsOf({ x: 500, y: 530, vx: 0, vy: 150 }), 10, 11 * TICK_MS);
  assert.equal(p.pendingInputs, 0);
  assert.deepEqual({ x: p.x, y: p.y }, { x: 500, y: 530 }, 'nothing left to replay: the server state');
});

test('a correction is smoothed, not snapped: the drawn position stays, then fades to the new prediction', () => {
  const map = open(800, 600);
  const p = new Predictor(new MovementModel(map, RULES_30, 30), { tickMs: TICK_MS, smoothMs: 100 });
  p.reconcile(fieldsOf({ x: 100, y: 300, vx: 0, vy: 0 }), 0, 0);
  hold(p, 1, 10, 127, 0);
  const now = 10 * TICK_MS; // one tick after the last input: drawing is at the newest predicted tick
  const before = { x: 0, y: 0 };
  assert.ok(p.renderPosition(now, before));
  assert.equal(before.x, p.x);

  // The server saw something the client did not (a bump): it is 5 units behind on x after input 6.
  const server = { x: 100, y: 300, vx: 0, vy: 0 };
  const m = new MovementModel(map, RULES_30, 30);
  for (let i = 0; i < 6; i++) m.step(server, 127, 0);
  server.x -= 5;
  const oldX = p.x;
  const error = p.reconcile(fieldsOf(server), 6, now);
  assert.ok(Math.abs(error - 5) < 1e-9, `error ${error}`);
  assert.equal(p.corrections, 1);
  assert.equal(p.x, oldX - 5, 'the prediction itself is corrected at once');

  const drawn = { x: 0, y: 0 };
  p.renderPosition(now, drawn);
  assert.ok(Math.abs(drawn.x - before.x) < 1e-9, 'no jump when the correction arrives');
  p.renderPosition(now + 50, drawn);
  assert.ok(drawn.x < before.x - 3 && drawn.x > p.x, `half way through the fade: ${drawn.x}`);
  p.renderPosition(now + 300, drawn);
  assert.equal(drawn.x, p.x, 'faded out entirely');
});

test('corrections of at most 1/16 unit are not counted; death and respawn move without counting', () => {
  const map = open(800, 600);
  const p = new Predictor(new MovementModel(map, RULES_30, 30), { tickMs: TICK_MS });
  p.reconcile(fieldsOf({ x: 100, y: 300, vx: 0, vy: 0 }), 0, 0);
  p.reconcile(fieldsOf({ x: 100 + 1 / 16, y: 300, vx: 0, vy: 0 }), 0, TICK_MS);
  assert.equal(p.corrections, 0);
  p.reconcile(fieldsOf({ x: 100 + 3 / 16, y: 300, vx: 0, vy: 0 }), 0, 2 * TICK_MS);
  assert.equal(p.corrections, 1);

  // Dead: the server's position, no movement predicted.
  p.reconcile(fieldsOf({ x: 200, y: 300, vx: 0, vy: 0 }, 0), 0, 3 * TICK_MS);
  hold(p, 1, 5, 127, 0, 4 * TICK_MS);
  assert.equal(p.x, 200);
  // Respawned far away: a jump, not a correction; the pending inputs after the ack are replayed from there.
  p.reconcile(fieldsOf({ x: 700, y: 500, vx: 0, vy: 0 }), 3, 9 * TICK_MS);
  assert.equal(p.corrections, 1);
  assert.equal(p.pendingInputs, 2);
  assert.ok(p.x > 700);
  const drawn = { x: 0, y: 0 };
  p.renderPosition(10 * TICK_MS, drawn);
  assert.equal(drawn.x, p.x, 'no smoothing across a respawn');
  // Gone from the state: nothing predicted.
  p.reconcile(null, 5, 11 * TICK_MS);
  assert.equal(p.renderPosition(11 * TICK_MS, drawn), false);
});

test('between inputs the drawn position moves smoothly from the previous tick to the newest', () => {
  const p = new Predictor(new MovementModel(open(), RULES_30, 30), { tickMs: TICK_MS });
  p.reconcile(fieldsOf({ x: 500, y: 500, vx: 220, vy: 0 }), 0, 0);
  p.input(1, 127, 0, 0);
  const prevX = 500;
  const drawn = { x: 0, y: 0 };
  p.renderPosition(0, drawn);
  assert.equal(drawn.x, prevX);
  p.renderPosition(TICK_MS / 2, drawn);
  assert.ok(Math.abs(drawn.x - (prevX + p.x) / 2) < 1e-9);
  p.renderPosition(TICK_MS * 3, drawn);
  assert.equal(drawn.x, p.x, 'holds at the newest tick when the next input is late');
});

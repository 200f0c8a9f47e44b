// Prediction (predict.js): the movement port against the server's own simulation, step by step (steps.json, written
// by `cargo test --test golden` from World::step), and reconciliation with scripted inputs and snapshots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MovementModel, Predictor, snap, snapTowardZero } from '../predict.js';
import { parseServerMessage } from '../protocol.js';

const RULES_30 = { playerRadius: 16, accel: 2400, friction: 8, maxSpeed: 260 };
const open = (width = 2400, height = 1600) => ({ width, height, walls: [] });
const wall = (x, y, w, h) => ({ x, y, w, h });

/** Wire fields of the own player as a snapshot carries them (x, y, vx, vy, aim, hp, score, respawn). */
function fieldsOf(body, hp = 100) {
  return [body.x * 16, body.y * 16, body.vx * 16, body.vy * 16, 0, hp, 0, 0];
}

const TICK_MS = 1000 / 30;

// ---------------------------------------------------------------------------------------------------------------
// Step vectors of the real simulation

const STEPS = fileURLToPath(new URL('./steps.json', import.meta.url));
/** Fewer steps than this means the file lost its coverage (tests/golden.rs writes about 1,300). */
const MIN_STEPS = 1000;

/** A body (world units) from wire units [x, y, vx, vy]. */
const bodyOf = ([x, y, vx, vy]) => ({ x: x / 16, y: y / 16, vx: vx / 16, vy: vy / 16 });
/**
 * A body (world units) back in wire units, for exact comparisons with the server's integers. `+ 0` turns -0 into 0:
 * a velocity truncated to zero from below is -0 here and -0.0 in Rust, and both go on the wire as the integer 0.
 */
const wireOf = (b) => [b.x * 16 + 0, b.y * 16 + 0, b.vx * 16 + 0, b.vy * 16 + 0];

/**
 * Each scenario's recorded steps, flattened: `{label, index, moveX, moveY, after}` (after in wire units), with the
 * model built from the scenario's welcome exactly as the client builds it (main.js: map, rules, tick rate).
 */
function loadScenarios() {
  const file = JSON.parse(readFileSync(STEPS, 'utf8'));
  return file.scenarios.map((scenario) => {
    const welcome = parseServerMessage(new Uint8Array(Buffer.from(scenario.welcome, 'hex')));
    assert.equal(welcome.type, 'welcome', `${scenario.name}: the welcome parses`);
    const steps = [];
    for (const segment of scenario.segments) {
      segment.steps.forEach(([moveX, moveY, ...after], index) => {
        steps.push({ label: segment.label, index, moveX, moveY, after });
      });
    }
    return { name: scenario.name, welcome, start: scenario.start, steps, delicate: scenario.delicate };
  });
}

const model = (welcome) => new MovementModel(welcome.map, welcome.rules, welcome.tickRate);

if (!existsSync(STEPS)) {
  test('step vectors', () => {
    assert.fail('client/test/steps.json missing: run SKIRMISH_BLESS=1 cargo test --test golden');
  });
} else {
  const scenarios = loadScenarios();

  test('steps.json holds scenarios on maps with walls, over a thousand steps in all', () => {
    assert.ok(scenarios.length >= 5, `${scenarios.length} scenarios`);
    let total = 0;
    for (const s of scenarios) {
      assert.ok(s.welcome.map.walls.length > 0, `${s.name}: a map with walls`);
      assert.ok(s.steps.length >= 100, `${s.name}: ${s.steps.length} steps`);
      assert.equal(s.start.length, 4, `${s.name}: start is [x, y, vx, vy]`);
      for (const st of s.steps) {
        assert.equal(st.after.length, 4, `${s.name}: a step is [move_x, move_y, x, y, vx, vy]`);
        for (const v of [st.moveX, st.moveY, ...st.after]) assert.ok(Number.isInteger(v), `${s.name}: integers`);
      }
      total += s.steps.length;
    }
    assert.ok(total >= MIN_STEPS, `${total} steps in all`);
    const rates = new Set(scenarios.map((s) => s.welcome.tickRate));
    assert.ok(rates.size >= 3, `tick rates ${[...rates]}`);
  });

  for (const s of scenarios) {
    test(`steps.json, ${s.name}: every step of the movement port lands exactly where World::step did`, () => {
      const m = model(s.welcome);
      let before = s.start;
      for (const st of s.steps) {
        const b = m.step(bodyOf(before), st.moveX, st.moveY);
        assert.deepEqual(
          wireOf(b),
          st.after,
          `"${st.label}" step ${st.index}: from ${before} with input (${st.moveX}, ${st.moveY})`,
        );
        before = st.after;
      }
    });

    test(`steps.json, ${s.name}: the delicate steps of the long run land exactly where World::step did`, () => {
      // Steps where a port with one classic mistake (each step's `wrong` says which) lands elsewhere than the server.
      assert.ok(s.delicate.length > 0, 'the long run kept some delicate steps');
      const m = model(s.welcome);
      for (const { before, input, after, wrong } of s.delicate) {
        const b = m.step(bodyOf(before), input[0], input[1]);
        const why = `from ${before} with input (${input}), where a port ${wrong.join(' or ')} goes wrong`;
        assert.deepEqual(wireOf(b), after, why);
      }
    });

    test(`steps.json, ${s.name}: the predictor replays the inputs through late acks onto the server's states`, () => {
      // The client's loop: every input is predicted when sent; snapshots arrive LAG inputs behind and reconcile.
      const LAG = 3;
      const p = new Predictor(model(s.welcome), { tickMs: TICK_MS });
      p.reconcile([...s.start, 0, 100, 0, 0], 0, 0);
      s.steps.forEach((st, i) => {
        const seq = i + 1;
        const now = seq * TICK_MS;
        p.input(seq, st.moveX, st.moveY, now);
        const where = `"${st.label}" step ${st.index} (seq ${seq})`;
        assert.deepEqual(wireOf(p.body).slice(0, 2), st.after.slice(0, 2), `${where}: predicted`);
        if (seq > LAG) {
          const acked = s.steps[seq - LAG - 1];
          const error = p.reconcile([...acked.after, 0, 100, 0, 0], seq - LAG, now);
          assert.equal(error, 0, `${where}: reconciled with the server's state after seq ${seq - LAG}`);
          assert.equal(p.pendingInputs, LAG, `${where}: pending inputs`);
          assert.deepEqual(wireOf(p.body), st.after, `${where}: after replaying ${LAG} inputs`);
        }
      });
      assert.equal(p.corrections, 0, 'no correction over the whole run');
      assert.equal(p.reconciles, s.steps.length - LAG + 1);
    });
  }
}

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

test("reconciliation with a v6 snapshot: the state's vx, vy (multiples of the tick rate) plus own's correction", () => {
  const map = open(800, 600);
  const start = { x: 100, y: 300, vx: 0, vy: 0 };
  const pure = new MovementModel(map, RULES_30, 30);
  const after20 = { ...start };
  const after12 = { ...start };
  for (let i = 0; i < 20; i++) pure.step(after20, 127, 64);
  for (let i = 0; i < 12; i++) pure.step(after12, 127, 64);
  // The snapshot's player: velocity rounded to the nearest multiple of 30 (halves away from zero), and `own`.
  const round30 = (v) => (v < 0 ? -Math.round(-v / 30) : Math.round(v / 30)) * 30;
  const wire = fieldsOf(after12);
  const sent = wire.slice();
  sent[2] = round30(wire[2]);
  sent[3] = round30(wire[3]);
  const own = { dvx: wire[2] - sent[2], dvy: wire[3] - sent[3] };
  assert.ok(own.dvx !== 0 && own.dvy !== 0, `a correction to make: ${JSON.stringify(own)}`);
  assert.ok(Math.abs(own.dvx) <= 15 && Math.abs(own.dvy) <= 15);

  const p = new Predictor(new MovementModel(map, RULES_30, 30), { tickMs: TICK_MS });
  p.reconcile(fieldsOf(start), 0, 0);
  hold(p, 1, 20, 127, 64);
  const error = p.reconcile(sent, 12, 20 * TICK_MS, own);
  assert.equal(error, 0, 'the true velocity: the replay lands on the pure prediction');
  assert.deepEqual({ x: p.x, y: p.y }, { x: after20.x, y: after20.y });
  assert.deepEqual([p.body.vx * 16, p.body.vy * 16], [after20.vx * 16, after20.vy * 16]);

  // Without the correction the replay would start from the rounded velocity, and land elsewhere.
  const q = new Predictor(new MovementModel(map, RULES_30, 30), { tickMs: TICK_MS });
  q.reconcile(fieldsOf(start), 0, 0);
  hold(q, 1, 20, 127, 64);
  q.reconcile(sent, 12, 20 * TICK_MS);
  assert.notDeepEqual([q.body.vx, q.body.vy], [after20.vx, after20.vy]);
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

test('after a resume, reset() forgets the pending inputs; reconciliation starts afresh from the server', () => {
  const p = new Predictor(new MovementModel(open(), RULES_30, 30), { tickMs: TICK_MS });
  p.reconcile(fieldsOf({ x: 500, y: 500, vx: 0, vy: 0 }), 0, 0);
  for (let seq = 1; seq <= 10; seq++) p.input(seq, 127, 0, seq * TICK_MS);
  assert.equal(p.pendingInputs, 10);
  assert.ok(p.x > 500);
  // The socket died after input 10; the server had applied input 4 and stood the player still since.
  p.reset();
  assert.equal(p.pendingInputs, 0);
  assert.equal(p.active, false);
  const drawn = { x: 0, y: 0 };
  assert.equal(p.renderPosition(20 * TICK_MS, drawn), false, 'nothing predicted until the next snapshot');
  // The resumed seat's first snapshot: its last_input_seq is the server's (4), and nothing is replayed on it.
  p.reconcile(fieldsOf({ x: 530, y: 500, vx: 0, vy: 0 }), 4, 21 * TICK_MS);
  assert.equal(p.x, 530);
  assert.equal(p.corrections, 0, 'a resume is a fresh start, not a misprediction');
  assert.equal(p.lastError, 0);
  // New inputs, numbered above the welcome's input_seq, predict from there.
  p.input(11, 127, 0, 22 * TICK_MS);
  assert.equal(p.pendingInputs, 1);
  assert.ok(p.x > 530);
  p.reconcile(fieldsOf({ x: p.x, y: 500, vx: p.body.vx, vy: 0 }), 11, 23 * TICK_MS);
  assert.equal(p.pendingInputs, 0);
});

test('each counted correction size is kept: the newest 32 in order, mean and p99 over all; respawns are not', () => {
  const map = open(800, 600);
  const p = new Predictor(new MovementModel(map, RULES_30, 30), { tickMs: TICK_MS });
  p.reconcile(fieldsOf({ x: 100, y: 300, vx: 0, vy: 0 }), 0, 0);
  // Standing still, the server keeps moving it by 1, 2, ... 40 sixteenths to the right of where it was.
  let x = 100;
  for (let k = 1; k <= 40; k++) {
    x += k / 16;
    p.reconcile(fieldsOf({ x, y: 300, vx: 0, vy: 0 }), 0, k * TICK_MS);
  }
  assert.equal(p.corrections, 39, 'the first, exactly 1/16, is not counted');
  const sizes = p.recentCorrections.toArray();
  assert.equal(sizes.length, 32);
  assert.deepEqual(sizes, Array.from({ length: 32 }, (_, i) => (i + 9) / 16), 'the newest 32, oldest first');
  assert.ok(Math.abs(p.correctionSizes.mean - (2 + 40) / 2 / 16) < 1e-9, `mean ${p.correctionSizes.mean}`);
  assert.ok(Math.abs(p.correctionSizes.percentile(99) - 40 / 16) < 40 / 16 * 0.03);
  // A respawn moves it far: not a correction, so no size is kept for it.
  p.reconcile(fieldsOf({ x: 700, y: 500, vx: 0, vy: 0 }, 0), 0, 41 * TICK_MS);
  p.reconcile(fieldsOf({ x: 200, y: 100, vx: 0, vy: 0 }), 0, 42 * TICK_MS);
  assert.equal(p.recentCorrections.count, 32);
  assert.equal(p.correctionSizes.count, 39);
});

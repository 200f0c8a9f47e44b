// The adaptive interpolation delay (delay.js): the rule's pure functions, and whole arrival sequences (clean and
// jittery links, a stall) fed through the ServerClock the game uses, with underruns counted as the game does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdaptiveDelay,
  FALL_MS,
  MAX_TICKS,
  MIN_TICKS,
  RISE_MS,
  START_TICKS,
  stepDelay,
  targetDelayTicks,
  viewDelayMs,
} from '../delay.js';
import { ServerClock, interpDelayOverride } from '../interp.js';
import { UnderrunStats } from '../stats.js';

const TICK = 1000 / 30;

/** A small seeded generator (mulberry32), so the jittery sequences are the same on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('target: 1 tick plus 1.5 times the p95 lateness, bounded to 1.5..6 ticks; the start value without data', () => {
  assert.equal(targetDelayTicks(0, TICK), MIN_TICKS, 'a clean link: the floor');
  assert.equal(targetDelayTicks(5, TICK), MIN_TICKS);
  assert.ok(Math.abs(targetDelayTicks(TICK, TICK) - 2.5) < 1e-9);
  assert.ok(Math.abs(targetDelayTicks(40, TICK) - 2.8) < 1e-9);
  assert.equal(targetDelayTicks(1000, TICK), MAX_TICKS, 'a stall: the cap');
  assert.equal(targetDelayTicks(-3, TICK), MIN_TICKS);
  assert.equal(targetDelayTicks(NaN, TICK), START_TICKS);
});

test('smoothing: rises within a few hundred ms, falls over seconds, never faster than half a tick per tick', () => {
  // Rising from 1.5 to 3: most of the way after 3 rise time constants.
  let d = 1.5;
  for (let t = 0; t < 3 * RISE_MS; t += 16) d = stepDelay(d, 3, 16, TICK);
  assert.ok(d > 2.9 && d <= 3, `after ${3 * RISE_MS} ms: ${d}`);
  // Falling from 3 to 1.5: after one second it has come down only a little.
  let f = 3;
  for (let t = 0; t < 1000; t += 16) f = stepDelay(f, 1.5, 16, TICK);
  assert.ok(f > 2.6 && f < 3, `after 1 s: ${f}`);
  for (let t = 0; t < 4 * FALL_MS; t += 16) f = stepDelay(f, 1.5, 16, TICK);
  assert.ok(f < 1.55, `after ${4 * FALL_MS} ms more: ${f}`);
  // A jump of the target to the cap: each frame rises by at most half the ticks the frame lasted.
  const step = stepDelay(1.5, 6, 16, TICK) - 1.5;
  assert.ok(step <= (0.5 * 16) / TICK + 1e-12, `rise of ${step} ticks in 16 ms`);
  assert.equal(stepDelay(2, 3, 0, TICK), 2, 'no time, no change');
  assert.equal(stepDelay(2, 2, 100, TICK), 2);
});

/**
 * Plays `seconds` of a link: the server sends tick t at t * TICK, the network adds `extra(t)` ms (and keeps the
 * order, like TCP), the page draws every 16 ms. Returns the delay's history, the underruns and how far behind the
 * newest state the frames were drawn.
 */
function play(seconds, extra, fixed = null) {
  const clock = new ServerClock(TICK);
  const delay = new AdaptiveDelay(TICK);
  const underruns = new UnderrunStats();
  const arrivals = [];
  let last = 0;
  for (let t = 1; t <= seconds * 30; t++) {
    last = Math.max(last, 50 + t * TICK + extra(t));
    arrivals.push([t, last]);
  }
  let next = 0;
  let newest = 0;
  const history = [];
  let behindMax = 0;
  for (let now = 0; now < 50 + seconds * 1000; now += 16) {
    while (next < arrivals.length && arrivals[next][1] <= now) {
      const [tick, at] = arrivals[next++];
      delay.arrive(at, clock.lateness(tick, at));
      clock.observe(tick, at);
      newest = tick;
    }
    if (!clock.ready) continue;
    const d = fixed ?? delay.update(now);
    const renderTick = clock.tickAt(now) - d;
    underruns.frame(now, renderTick > newest ? 'extrapolate' : 'interpolate');
    history.push({ now, d });
    if (now > 5000) behindMax = Math.max(behindMax, newest - renderTick);
  }
  return { history, underruns, behindMax, delay };
}

const after = (history, ms) => history.filter((h) => h.now >= ms).map((h) => h.d);

test('a clean link (timer noise of a couple of ms) settles at 1.5 to 2 ticks, without underruns', () => {
  const r = rng(1);
  const { history, underruns, delay } = play(20, () => r() * 2);
  const late = after(history, 10000);
  const lo = Math.min(...late);
  const hi = Math.max(...late);
  assert.ok(hi <= 2 && lo >= MIN_TICKS, `delay ${lo}..${hi}`);
  assert.ok(delay.p95LatenessMs < 3, `p95 lateness ${delay.p95LatenessMs}`);
  assert.equal(underruns.underruns, 0);
});

test('a jittery link (0..40 ms extra each way) grows the delay to ~2.5-3 ticks and keeps underruns rare', () => {
  const r = rng(7);
  const jitter = () => r() * 40;
  const adaptive = play(30, jitter);
  const late = after(adaptive.history, 5000);
  const lo = Math.min(...late);
  const hi = Math.max(...late);
  assert.ok(lo >= 2.2 && hi <= 3.3, `delay ${lo}..${hi}`);
  // Fewer than 1 underrun per 10 s, and remote players at most about 3 ticks behind the newest snapshot.
  assert.ok(adaptive.underruns.underruns < 3, `${adaptive.underruns.underruns} underruns in 30 s`);
  assert.ok(adaptive.behindMax < 3.5, `drawn up to ${adaptive.behindMax} ticks behind the newest`);
  // The same link drawn with the floor's fixed delay underruns again and again.
  const r2 = rng(7);
  const fixed = play(30, () => r2() * 40, MIN_TICKS);
  assert.ok(fixed.underruns.underruns > 10 * Math.max(1, adaptive.underruns.underruns), `${fixed.underruns.underruns}`);
});

test('a short stall lifts the delay to the cap at most, and it falls back once the link is clean again', () => {
  // Clean, then at 5 s the link holds everything for 200 ms and releases it, then clean again.
  const { history } = play(30, (t) => (t >= 150 && t < 156 ? (156 - t) * TICK : 0));
  const peak = Math.max(...history.map((h) => h.d));
  assert.ok(peak > 4 && peak <= MAX_TICKS, `peak ${peak}`);
  // A stall past the clock's reset is a jump of the clock, not lateness: the delay stays put.
  const long = play(30, (t) => (t >= 150 && t < 165 ? (165 - t) * TICK : 0));
  assert.ok(Math.max(...after(long.history, 4000)) <= 2, 'a 500 ms stall');
  const end = after(history, 25000);
  assert.ok(Math.max(...end) < 2, `back to ${Math.max(...end)} by 25 s`);
});

test('?interp=N fixes the delay (clamped); without it, or with nonsense, the delay adapts', () => {
  assert.equal(interpDelayOverride('?interp=3'), 3);
  assert.equal(interpDelayOverride('?interp=0.5'), 0.5);
  assert.equal(interpDelayOverride('?interp=99'), 30);
  assert.equal(interpDelayOverride('?interp=-1'), 0);
  assert.equal(interpDelayOverride(''), null);
  assert.equal(interpDelayOverride('?interp='), null);
  assert.equal(interpDelayOverride('?interp=soon'), null);
});

test('clock lateness: 0 on the early edge, the extra delay behind it, NaN before a sample or across a jump', () => {
  const clock = new ServerClock(TICK);
  assert.ok(Number.isNaN(clock.lateness(1, 100)));
  clock.observe(10, 10 * TICK + 50);
  assert.equal(clock.lateness(11, 11 * TICK + 50), 0);
  assert.ok(Math.abs(clock.lateness(12, 12 * TICK + 70) - 20) < 1e-9);
  assert.equal(clock.lateness(13, 13 * TICK + 40), 0, 'early: not negative');
  assert.ok(Number.isNaN(clock.lateness(14, 14 * TICK + 50 + 20 * TICK)), 'a gap the clock jumps over');
});

test('view_delay_ms: how far behind the acknowledged tick the remote players are drawn, 0..1000 ms', () => {
  // 30 Hz: 2 ticks behind are 66.67 ms, rounded to 67; fractions of a tick count.
  assert.equal(viewDelayMs(100, 98, 30), 67);
  assert.equal(viewDelayMs(100, 98.5, 30), 50);
  assert.equal(viewDelayMs(100, 99.99, 60), 0, '0.17 ms rounds to 0');
  assert.equal(viewDelayMs(1000, 997.25, 60), 46);
  assert.equal(Number.isInteger(viewDelayMs(1234, 1231.123, 30)), true);
  // Clamped: drawn past the acknowledged tick (extrapolating) is 0, a second or more behind is 1000.
  assert.equal(viewDelayMs(100, 100.4, 30), 0);
  assert.equal(Object.is(viewDelayMs(100, 100.01, 30), 0), true, 'never -0');
  assert.equal(viewDelayMs(100, 69.9, 30), 1000);
  assert.equal(viewDelayMs(100, 70, 30), 1000);
  assert.equal(viewDelayMs(100, 70.1, 30), 997);
  assert.equal(viewDelayMs(1000, 0, 1), 1000);
  // Nothing acknowledged (no snapshot yet, or desynced: ack_tick 0) or nothing known: no compensation asked.
  assert.equal(viewDelayMs(0, -2, 30), 0);
  assert.equal(viewDelayMs(100, NaN, 30), 0);
  assert.equal(viewDelayMs(100, 98, 0), 0);
});

test('view_delay_ms from the render tick the game computes: the server clock minus the interpolation delay', () => {
  const clock = new ServerClock(TICK);
  const delay = new AdaptiveDelay(TICK);
  // Tick 100's state arrives right on time; an input is built 10 ms later, drawing START_TICKS (2) behind.
  clock.observe(100, 100 * TICK);
  const now = 100 * TICK + 10;
  const renderTick = clock.tickAt(now) - delay.update(now);
  assert.ok(Math.abs(renderTick - 98.3) < 1e-9);
  // (100 - 98.3) ticks at 30 Hz = 56.67 ms.
  assert.equal(viewDelayMs(100, renderTick, 30), 57);
  // A larger delay (a jittery link) asks the server to rewind further, up to the cap.
  assert.equal(viewDelayMs(100, clock.tickAt(now) - MAX_TICKS, 30), 190);
});

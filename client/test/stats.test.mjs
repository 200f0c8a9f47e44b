// The client's smoothness counters (stats.js): percentiles, the session histogram, the recent list, snapshot
// inter-arrival jitter, interpolation underruns and input-to-acknowledgement latency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckLatency, ArrivalStats, Histogram, Recent, UnderrunStats, percentile } from '../stats.js';

const near = (actual, expected, rel, what) =>
  assert.ok(Math.abs(actual - expected) <= Math.abs(expected) * rel, `${what}: ${actual}, expected ${expected}`);

test('percentile: nearest rank over the first n values, in any order; NaN for none', () => {
  const v = [5, 1, 4, 2, 3, 99];
  assert.equal(percentile(v, 5, 0), 1);
  assert.equal(percentile(v, 5, 50), 3);
  assert.equal(percentile(v, 5, 80), 4);
  assert.equal(percentile(v, 5, 100), 5, 'the sixth value is outside n');
  assert.equal(percentile(v, 6, 95), 99);
  assert.ok(Number.isNaN(percentile(v, 0, 50)));
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  const scratch = new Float64Array(100);
  assert.equal(percentile(hundred, 100, 95, scratch), 95);
  assert.equal(percentile(hundred, 100, 99, scratch), 99);
  assert.deepEqual(hundred.slice(0, 3), [100, 99, 98], 'the input is left as it was');
});

test('histogram: exact mean and extremes, percentiles within 2.5% in fixed memory', () => {
  const h = new Histogram();
  assert.equal(h.percentile(99), 0);
  assert.equal(h.mean, 0);
  for (let i = 1; i <= 1000; i++) h.add(i);
  assert.equal(h.count, 1000);
  assert.equal(h.mean, 500.5);
  near(h.percentile(50), 500, 0.025, 'p50');
  near(h.percentile(99), 990, 0.025, 'p99');
  assert.equal(h.percentile(100), 1000, 'clamped to the largest seen');
  assert.equal(h.percentile(0), 1, 'clamped to the smallest seen');
  const z = new Histogram();
  z.add(0);
  z.add(0);
  assert.equal(z.percentile(99), 0, 'zeros share the first bucket');
  const one = new Histogram();
  one.add(33.3);
  assert.equal(one.percentile(50), 33.3, 'a single sample is exact');
});

test('recent: keeps the newest values, oldest first', () => {
  const r = new Recent(3);
  assert.deepEqual(r.toArray(), []);
  r.push(1);
  r.push(2);
  assert.deepEqual(r.toArray(), [1, 2]);
  r.push(3);
  r.push(4);
  r.push(5);
  assert.deepEqual(r.toArray(), [3, 4, 5]);
});

test('arrivals: a steady 30 Hz stream has no jitter; late and early ones deviate; skipped ticks are not jitter', () => {
  const tick = 1000 / 30;
  const steady = new ArrivalStats(tick);
  for (let t = 1; t <= 100; t++) steady.arrive(t, 1000 + t * tick);
  assert.ok(steady.jitterMs < 1e-9);
  near(steady.intervals.percentile(99), tick, 0.025, 'steady p99');
  // Tick 3 never came: the interval over it is two ticks long, expected, no deviation.
  const gap = new ArrivalStats(tick);
  gap.arrive(1, tick);
  gap.arrive(2, 2 * tick);
  gap.arrive(4, 4 * tick);
  assert.ok(gap.jitterMs < 1e-9);
  // Every other snapshot 10 ms late: intervals alternate tick + 10, tick - 10.
  const jittery = new ArrivalStats(tick);
  for (let t = 1; t <= 101; t++) jittery.arrive(t, t * tick + (t % 2 === 0 ? 10 : 0));
  near(jittery.jitterMs, 10, 1e-9, 'mean absolute deviation');
  near(jittery.intervals.percentile(99), tick + 10, 0.025, 'p99 interval');
  // A resume: the seconds the link was down are not an interval.
  steady.restart();
  steady.arrive(400, 60000);
  steady.arrive(401, 60000 + tick);
  assert.equal(steady.intervals.count, 100);
  assert.ok(steady.jitterMs < 1e-9);
});

test('underruns: a run of frames past the newest snapshot is one underrun; their time is the time extrapolated', () => {
  const u = new UnderrunStats();
  const modes = ['interpolate', 'interpolate', 'extrapolate', 'extrapolate', 'extrapolate', 'interpolate', 'hold'];
  modes.forEach((m, i) => u.frame(i * 16, m));
  assert.equal(u.underruns, 1);
  assert.equal(u.frames, 3);
  assert.equal(u.extrapolatingMs, 48);
  u.frame(7 * 16, 'extrapolate');
  assert.equal(u.underruns, 2, 'a new run after a frame with a pair ahead');
  // A hidden tab: the gap counts as at most 100 ms, not the seconds the tab slept.
  u.frame(7 * 16 + 5000, 'extrapolate');
  assert.equal(u.underruns, 2);
  assert.equal(u.extrapolatingMs, 48 + 16 + 100);
  // 'hold' before the oldest state kept (just joined) is not an underrun; nor is the first frame's time counted.
  const fresh = new UnderrunStats();
  fresh.frame(1000, 'hold');
  fresh.frame(1016, 'none');
  assert.equal(fresh.underruns, 0);
  const first = new UnderrunStats();
  first.frame(1000, 'extrapolate');
  assert.equal(first.underruns, 1);
  assert.equal(first.extrapolatingMs, 0);
});

test('ack latency: each input from its send to the first snapshot that covers it; cleared on a resume', () => {
  const a = new AckLatency();
  for (let seq = 1; seq <= 10; seq++) a.sent(seq, seq * 10);
  a.acked(0, 50);
  assert.equal(a.latencies.count, 0);
  a.acked(3, 120); // seqs 1, 2, 3 sent at 10, 20, 30
  assert.equal(a.latencies.count, 3);
  assert.equal(a.lastMs, 90);
  a.acked(3, 200);
  assert.equal(a.latencies.count, 3, 'an ack seen again measures nothing');
  a.acked(10, 200); // 4..10 sent at 40..100: 160..100
  assert.equal(a.latencies.count, 10);
  assert.equal(a.lastMs, 100);
  near(a.latencies.percentile(50), 110, 0.025, 'p50');
  near(a.latencies.percentile(99), 160, 0.025, 'p99');
  a.sent(11, 300);
  a.clear();
  a.acked(20, 400);
  assert.equal(a.latencies.count, 10, 'inputs sent into a dead socket are not measured');
});

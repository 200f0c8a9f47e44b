// stats.js: the client's own numbers: per-second network rates for the overlay (snapshots/s, bytes/s in and out),
// frames per second, and the smoothness counters the debug view exposes (percentiles of corrections, snapshot
// inter-arrival jitter, interpolation underruns and time extrapolated, input-to-acknowledgement latency).
//
// Pure: the caller passes the time and the running counters; rates are recomputed at most once per window so the
// overlay's text is rebuilt about once a second rather than every frame. Session-long percentiles come from a
// log-bucketed Histogram (fixed memory however long the session, within about 2.5% of the true value) rather than
// from every sample kept.

export class RateMeter {
  constructor(windowMs = 1000) {
    this.windowMs = windowMs;
    this.lastTime = -1;
    this.lastSnapshots = 0;
    this.lastBytesIn = 0;
    this.lastBytesOut = 0;
    /** Rates over the last complete window. */
    this.snapshotsPerSec = 0;
    this.bytesInPerSec = 0;
    this.bytesOutPerSec = 0;
  }

  /** Feeds the current totals; returns true when the rates were recomputed. */
  update(now, snapshots, bytesIn, bytesOut) {
    if (this.lastTime < 0) {
      this.reset(now, snapshots, bytesIn, bytesOut);
      return true;
    }
    const elapsed = now - this.lastTime;
    if (elapsed < this.windowMs) return false;
    const perSec = 1000 / elapsed;
    this.snapshotsPerSec = (snapshots - this.lastSnapshots) * perSec;
    this.bytesInPerSec = (bytesIn - this.lastBytesIn) * perSec;
    this.bytesOutPerSec = (bytesOut - this.lastBytesOut) * perSec;
    this.reset(now, snapshots, bytesIn, bytesOut);
    return true;
  }

  reset(now, snapshots, bytesIn, bytesOut) {
    this.lastTime = now;
    this.lastSnapshots = snapshots;
    this.lastBytesIn = bytesIn;
    this.lastBytesOut = bytesOut;
  }
}

/** Formats a byte rate compactly: "812 B/s", "14.2 kB/s". */
export function formatRate(bytesPerSec) {
  return bytesPerSec < 1000 ? `${Math.round(bytesPerSec)} B/s` : `${(bytesPerSec / 1000).toFixed(1)} kB/s`;
}

/** Frames per second, over windows of `windowMs`: feed it every frame's time. */
export class FpsMeter {
  constructor(windowMs = 1000) {
    this.windowMs = windowMs;
    this.start = -1;
    this.frames = 0;
    /** Rate over the last complete window (0 before the first). */
    this.fps = 0;
  }

  /** Counts one frame drawn at `now` (ms); returns true when the rate was recomputed. */
  frame(now) {
    if (this.start < 0) {
      this.start = now;
      this.frames = 0;
      return false;
    }
    this.frames++;
    const elapsed = now - this.start;
    if (elapsed < this.windowMs) return false;
    this.fps = (this.frames * 1000) / elapsed;
    this.start = now;
    this.frames = 0;
    return true;
  }
}

/**
 * The `p`-th percentile (0..100, nearest rank) of the first `n` numbers of `values`, sorted in `scratch` (a
 * Float64Array at least `n` long, so a caller that asks every snapshot allocates nothing); NaN when `n` is 0.
 */
export function percentile(values, n, p, scratch = new Float64Array(n)) {
  if (n <= 0) return NaN;
  for (let i = 0; i < n; i++) scratch[i] = values[i];
  const sorted = scratch.subarray(0, n).sort();
  const rank = Math.ceil((p / 100) * n);
  return sorted[rank <= 1 ? 0 : rank >= n ? n - 1 : rank - 1];
}

/** Bucket width of a Histogram: each bucket spans a factor of this (5%: a percentile is off by at most ~2.5%). */
const HISTOGRAM_RATIO = 1.05;
const LOG_RATIO = Math.log(HISTOGRAM_RATIO);

/**
 * Non-negative samples over a whole session in fixed memory: buckets growing by 5% from `min` (smaller values,
 * zero included, share the first bucket) to `max` (larger ones share the last). The mean and the extremes are
 * exact; percentiles are the geometric middle of their bucket, clamped to the extremes seen.
 */
export class Histogram {
  constructor(min = 1e-3, max = 1e6) {
    this.min = min;
    this.buckets = new Float64Array(Math.ceil(Math.log(max / min) / LOG_RATIO) + 2);
    this.count = 0;
    this.sum = 0;
    this.lo = Infinity;
    this.hi = -Infinity;
  }

  add(v) {
    this.count++;
    this.sum += v;
    if (v < this.lo) this.lo = v;
    if (v > this.hi) this.hi = v;
    let i = v < this.min ? 0 : 1 + Math.floor(Math.log(v / this.min) / LOG_RATIO);
    if (i >= this.buckets.length) i = this.buckets.length - 1;
    this.buckets[i]++;
  }

  /** Mean of the samples, 0 when none. */
  get mean() {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** The `p`-th percentile (0..100, nearest rank), 0 when there are no samples. */
  percentile(p) {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    let i = 0;
    for (; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= rank) break;
    }
    const v = i === 0 ? this.lo : this.min * HISTOGRAM_RATIO ** (i - 0.5);
    return v < this.lo ? this.lo : v > this.hi ? this.hi : v;
  }
}

/** The newest `capacity` numbers, for "the last 32 corrections" style lists. */
export class Recent {
  constructor(capacity) {
    this.items = new Float64Array(capacity);
    this.start = 0;
    this.count = 0;
  }

  push(v) {
    const cap = this.items.length;
    if (this.count === cap) {
      this.items[this.start] = v;
      this.start = (this.start + 1) % cap;
    } else {
      this.items[(this.start + this.count++) % cap] = v;
    }
  }

  /** The numbers kept, oldest first (a new array: for the debug view, not the frame loop). */
  toArray() {
    const out = [];
    for (let k = 0; k < this.count; k++) out.push(this.items[(this.start + k) % this.items.length]);
    return out;
  }
}

/**
 * Snapshot inter-arrival: the time between consecutive newer snapshots (a p99 over the session), and the jitter as
 * the mean absolute deviation of each interval from what the ticks between the two snapshots should have taken (a
 * tick skipped by the server is not jitter).
 */
export class ArrivalStats {
  constructor(tickMs) {
    this.tickMs = tickMs;
    this.lastTime = NaN;
    this.lastTick = 0;
    this.intervals = new Histogram();
    this.deviationSum = 0;
  }

  /** Records that the state of `tick` (newer than any before) arrived at `now` (ms). */
  arrive(tick, now) {
    if (!Number.isNaN(this.lastTime) && tick > this.lastTick) {
      const interval = now - this.lastTime;
      this.intervals.add(interval);
      this.deviationSum += Math.abs(interval - (tick - this.lastTick) * this.tickMs);
    }
    this.lastTime = now;
    this.lastTick = tick;
  }

  /** Starts over from the next arrival (a resumed link: the gap before it is the drop, not jitter). */
  restart() {
    this.lastTime = NaN;
  }

  /** Mean absolute deviation from the expected interval, ms (0 before two arrivals). */
  get jitterMs() {
    return this.intervals.count === 0 ? 0 : this.deviationSum / this.intervals.count;
  }
}

/** A frame interval longer than this (a hidden tab, a debugger) counts as this much time spent extrapolating. */
const MAX_FRAME_MS = 100;

/**
 * Interpolation underruns: frames drawn at a time past the newest snapshot (the Interpolator's 'extrapolate' mode:
 * no pair of states ahead), counted as frames, as episodes (a run of such frames is one underrun) and as the time
 * they covered (each such frame adds the time since the previous frame, capped at MAX_FRAME_MS).
 */
export class UnderrunStats {
  constructor() {
    this.underruns = 0;
    this.frames = 0;
    this.extrapolatingMs = 0;
    this.lastFrame = NaN;
    this.inUnderrun = false;
  }

  /** Counts one frame drawn at `now` (ms) in interpolation mode `mode`. */
  frame(now, mode) {
    const elapsed = Number.isNaN(this.lastFrame) ? 0 : Math.min(Math.max(now - this.lastFrame, 0), MAX_FRAME_MS);
    this.lastFrame = now;
    const under = mode === 'extrapolate';
    if (under) {
      if (!this.inUnderrun) this.underruns++;
      this.frames++;
      this.extrapolatingMs += elapsed;
    }
    this.inUnderrun = under;
  }
}

/** Inputs awaiting acknowledgement kept at most; beyond that the oldest are forgotten (never measured). */
const ACK_CAPACITY = 256;

/**
 * Input-to-acknowledgement latency: from sending input `seq` to the first applied snapshot whose `last_input_seq`
 * covers it, for every input (p50 and p99 over the session, and the newest).
 */
export class AckLatency {
  constructor() {
    this.seqs = new Float64Array(ACK_CAPACITY);
    this.times = new Float64Array(ACK_CAPACITY);
    this.start = 0;
    this.count = 0;
    this.latencies = new Histogram();
    this.lastMs = 0;
  }

  sent(seq, now) {
    if (this.count === ACK_CAPACITY) {
      this.start = (this.start + 1) % ACK_CAPACITY;
      this.count--;
    }
    const i = (this.start + this.count++) % ACK_CAPACITY;
    this.seqs[i] = seq;
    this.times[i] = now;
  }

  /** A snapshot applied at `now` says the server has applied every input up to `lastInputSeq`. */
  acked(lastInputSeq, now) {
    while (this.count > 0 && this.seqs[this.start] <= lastInputSeq) {
      this.lastMs = now - this.times[this.start];
      this.latencies.add(this.lastMs);
      this.start = (this.start + 1) % ACK_CAPACITY;
      this.count--;
    }
  }

  /** Forgets the inputs in flight (a resumed seat: those sent into the dead socket are never acknowledged). */
  clear() {
    this.start = 0;
    this.count = 0;
  }
}

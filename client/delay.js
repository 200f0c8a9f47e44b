// delay.js: the interpolation delay, adapted to the jitter this client measures (unless `?interp=N` fixes it).
//
// Remote players are drawn `delay` ticks behind the server clock (interp.js). Drawing needs a state at or after the
// render time; the next state is due one tick after the newest, plus however late the network brings it. The
// ServerClock follows the early edge of arrivals, so a snapshot's lateness is how far its arrival falls behind the
// clock's expectation (`arrival - (origin + tick * tickMs)`, 0 for the earliest ones). The rule:
//
//   target = clamp(1 + K * p95(lateness over the last WINDOW_MS) / tickMs, MIN_TICKS, MAX_TICKS)
//            with K = 1.5, WINDOW_MS = 2000, MIN_TICKS = 1.5, MAX_TICKS = 6
//   delay  moves towards target exponentially: with a time constant of RISE_MS (250 ms) when rising, so
//          underruns stop soon after the link gets worse, and FALL_MS (4 s) when falling, so one calm second
//          does not undo it; a rise never exceeds half a tick per tick, so the remote players slow down when the
//          delay grows but never run backwards.
//
// 1 tick covers the interval itself and K * p95 the lateness with a margin (1.5 * p95 is past the worst sample of
// a uniform jitter and about the 99.3rd percentile of a Gaussian one), so a clean link (lateness of a few ms from
// timers) stays at 1.5 to 2 ticks, and ±20 ms of jitter at 30 Hz settles near 2.5. A short stall lifts the
// target towards the cap while its arrivals are in the window, then the delay falls back over seconds; a stall
// longer than the clock's reset (10 ticks) makes the clock jump instead and is not lateness (no delay within the
// cap would have covered it).
// The functions are pure; AdaptiveDelay keeps the window and is fed arrivals and frame times by the caller.
//
// The delay is also what lag compensation (protocol v5) needs to know: each input says, as `view_delay_ms`, how far
// behind its ack_tick the remote players were drawn when it was made (viewDelayMs), so that the server can test its
// shots against the players where this page showed them.

import { MAX_VIEW_DELAY_MS } from './protocol.js';
import { percentile } from './stats.js';

export const K = 1.5;
export const WINDOW_MS = 2000;
export const MIN_TICKS = 1.5;
export const MAX_TICKS = 6;
export const RISE_MS = 250;
export const FALL_MS = 4000;
/** Where the delay starts before any lateness is known (the old fixed default). */
export const START_TICKS = 2;

/** The delay the link calls for, in ticks, given the p95 lateness of recent snapshots (ms; NaN: none known). */
export function targetDelayTicks(p95LatenessMs, tickMs) {
  if (Number.isNaN(p95LatenessMs)) return START_TICKS;
  const t = 1 + (K * Math.max(p95LatenessMs, 0)) / tickMs;
  return t < MIN_TICKS ? MIN_TICKS : t > MAX_TICKS ? MAX_TICKS : t;
}

/** The delay `elapsedMs` after it was `current`, moving towards `target` (ticks): fast up, slowly down. */
export function stepDelay(current, target, elapsedMs, tickMs) {
  if (elapsedMs <= 0 || current === target) return current;
  const tau = target > current ? RISE_MS : FALL_MS;
  let next = current + (target - current) * (1 - Math.exp(-elapsedMs / tau));
  // Half a tick per tick at most: the render time keeps moving forward at half speed or more.
  const maxRise = (0.5 * elapsedMs) / tickMs;
  if (next - current > maxRise) next = current + maxRise;
  return next;
}

/** Arrivals kept in the window at most (2 s at 60 snapshots/s with room to spare). */
const CAPACITY = 256;

/** The adaptive delay of one session: feed it every applied snapshot's lateness and every frame's time. */
export class AdaptiveDelay {
  constructor(tickMs) {
    this.tickMs = tickMs;
    /** Arrival times and lateness (ms) of the snapshots in the window, a ring, oldest first. */
    this.times = new Float64Array(CAPACITY);
    this.late = new Float64Array(CAPACITY);
    this.start = 0;
    this.count = 0;
    this.scratch = new Float64Array(CAPACITY);
    this.lateScratch = new Float64Array(CAPACITY);
    /** The delay drawn with now, the target it moves to, and the newest window's p95 lateness (ms). */
    this.ticks = START_TICKS;
    this.target = START_TICKS;
    this.p95LatenessMs = NaN;
    /** The window's median lateness (ms): how far behind the clock's early edge a typical state arrives. */
    this.p50LatenessMs = NaN;
    this.lastUpdate = NaN;
  }

  /** A snapshot arrived at `now`, `latenessMs` behind the clock's expectation (NaN: the clock was not ready). */
  arrive(now, latenessMs) {
    while (this.count > 0 && now - this.times[this.start] > WINDOW_MS) {
      this.start = (this.start + 1) % CAPACITY;
      this.count--;
    }
    if (!Number.isNaN(latenessMs)) {
      if (this.count === CAPACITY) {
        this.start = (this.start + 1) % CAPACITY;
        this.count--;
      }
      const i = (this.start + this.count++) % CAPACITY;
      this.times[i] = now;
      this.late[i] = latenessMs;
    }
    for (let k = 0; k < this.count; k++) this.lateScratch[k] = this.late[(this.start + k) % CAPACITY];
    this.p95LatenessMs = percentile(this.lateScratch, this.count, 95, this.scratch);
    this.p50LatenessMs = percentile(this.lateScratch, this.count, 50, this.scratch);
    this.target = targetDelayTicks(this.p95LatenessMs, this.tickMs);
  }

  /** The delay to draw with at `now` (ticks), advanced towards the target since the previous call. */
  update(now) {
    if (!Number.isNaN(this.lastUpdate)) {
      this.ticks = stepDelay(this.ticks, this.target, now - this.lastUpdate, this.tickMs);
    }
    this.lastUpdate = now;
    return this.ticks;
  }
}

/**
 * An input's `view_delay_ms` (protocol v5): how far, in milliseconds, the remote players drawn at `renderTick` (the
 * fractional tick the interpolation shows at the moment the input is built) are behind `ackTick` (the tick the
 * input acknowledges): `round((ackTick - renderTick) * 1000 / tickRate)`, clamped to 0..MAX_VIEW_DELAY_MS. 0 when
 * there is nothing to compensate: no tick acknowledged (0, also while desynced), players drawn at or past the
 * acknowledged tick (extrapolating), or no render time known yet.
 */
export function viewDelayMs(ackTick, renderTick, tickRate) {
  if (!(ackTick > 0) || !Number.isFinite(renderTick) || !(tickRate > 0)) return 0;
  const ms = Math.round(((ackTick - renderTick) * 1000) / tickRate);
  return ms <= 0 ? 0 : ms > MAX_VIEW_DELAY_MS ? MAX_VIEW_DELAY_MS : ms;
}

// stats.js: per-second network rates for the overlay (snapshots/s, bytes/s in and out).
//
// Pure: the caller passes the time and the running counters; rates are recomputed at most once per window so the
// overlay's text is rebuilt about once a second rather than every frame.

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

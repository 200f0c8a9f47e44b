// interp.js: where remote players and bullets are drawn: the server's states replayed a little in the past.
//
// ServerClock turns the local time into the server's tick (fractional), learnt from when snapshots arrive, and says
// how late each one is (for delay.js). The Interpolator draws the world as of `clock - delay` ticks (the delay
// adapted to the measured jitter by delay.js, or fixed by `?interp=N`): remote players between the two stored
// states that bracket that time, extrapolated with their velocity for at most a few ticks when the next state is
// late, then held; bullets analytically from origin, velocity and spawn tick (PROTOCOL.md). The own player is not
// drawn from here (predict.js places it). Pure: no DOM, no clock; views are pooled so a frame allocates nothing.

import {
  B_OWNER,
  B_SPAWN_TICK,
  B_VX,
  B_VY,
  B_X,
  B_Y,
  KIND_BULLET,
  KIND_PLAYER,
  P_AIM,
  P_HP,
  P_RESPAWN,
  P_SCORE,
  P_VX,
  P_VY,
  P_X,
  P_Y,
  snapshotAimToRadians,
  toWorld,
} from './protocol.js';
import { isDisconnected, setIdentity } from './scene.js';

/** Default interpolation delay, in ticks. */
export const DEFAULT_INTERP_TICKS = 2;
/** How far past the newest state remote players and bullets are extrapolated before they hold, in ticks. */
export const MAX_EXTRAPOLATE_TICKS = 3;
/** Largest accepted interpolation delay (`?interp=`), in ticks. */
export const MAX_INTERP_TICKS = 30;

/**
 * The fixed interpolation delay a query string asks for (`?interp=3`, clamped to 0..MAX_INTERP_TICKS), or null
 * when it asks none (or nonsense): then the delay adapts (delay.js).
 */
export function interpDelayOverride(search) {
  const raw = new URLSearchParams(search).get('interp');
  if (raw === null || raw.trim() === '' || !Number.isFinite(Number(raw))) return null;
  return interpDelayFrom(search);
}

/** The interpolation delay from a query string (`?interp=3`), clamped to 0..MAX_INTERP_TICKS; default 2. */
export function interpDelayFrom(search) {
  const raw = new URLSearchParams(search).get('interp');
  if (raw === null || raw.trim() === '') return DEFAULT_INTERP_TICKS;
  const v = Number(raw);
  if (!Number.isFinite(v)) return DEFAULT_INTERP_TICKS;
  return v < 0 ? 0 : v > MAX_INTERP_TICKS ? MAX_INTERP_TICKS : v;
}

/**
 * The server's tick as seen from here. Each snapshot's arrival gives a sample of `arrival time - tick * tickMs`
 * (the local time the server's tick 0 would have had); the clock follows the early edge of those samples (fast
 * when a snapshot comes earlier than expected, slowly when later) so network jitter delays a snapshot rather than
 * the clock, and it jumps when it is off by more than `resetTicks` (a hidden tab, a paused server).
 */
export class ServerClock {
  constructor(tickMs, resetTicks = 10) {
    this.tickMs = tickMs;
    this.resetTicks = resetTicks;
    /** Local time of server tick 0 (ms), NaN before the first sample. */
    this.origin = NaN;
  }

  /** Records that the state of `tick` arrived at local time `now` (ms). */
  observe(tick, now) {
    const sample = now - tick * this.tickMs;
    if (Number.isNaN(this.origin) || Math.abs(sample - this.origin) > this.resetTicks * this.tickMs) {
      this.origin = sample;
    } else {
      const diff = sample - this.origin;
      this.origin += diff * (diff < 0 ? 0.25 : 0.02);
    }
  }

  /**
   * How late (ms) the state of `tick` arriving at `now` is behind what the clock expects, before it is observed:
   * about 0 for the early edge the clock follows, more the more the network held it back; NaN before the first
   * sample or when the clock would jump (a gap that is not jitter).
   */
  lateness(tick, now) {
    if (!this.ready) return NaN;
    const late = now - tick * this.tickMs - this.origin;
    if (Math.abs(late) > this.resetTicks * this.tickMs) return NaN;
    return late < 0 ? 0 : late;
  }

  /** Whether a sample has been seen. */
  get ready() {
    return !Number.isNaN(this.origin);
  }

  /** The server tick at local time `now` (fractional), 0 before any sample. */
  tickAt(now) {
    return this.ready ? (now - this.origin) / this.tickMs : 0;
  }
}

/**
 * When to send inputs: one per tick, timed so each reaches the server about half a tick before the server's next
 * tick, never at the moment it ticks. An input sent too close to that moment lands in the next tick or the one
 * before depending on jitter, so the server sometimes applies two inputs in one tick's place and repeats one
 * elsewhere, and prediction has to correct. With the clock's origin (the local arrival time of server tick 0's
 * state) and the round-trip time, an input sent at local phase `0.5 tick - rtt + lateness` reaches the server half
 * a tick after it ticked: the clock follows the early edge of arrivals, so the median lateness of states (how far
 * behind that edge a typical one arrives) is added back; without it a jittery link puts the inputs as much earlier
 * as its jitter, close to the tick before. The pacer keeps a steady one-tick rhythm and slews its phase towards
 * that target by at most `maxSlewMs` per input, so inputs never bunch up or skip.
 */
export class InputPacer {
  constructor(tickMs, maxSlewMs = 2) {
    this.tickMs = tickMs;
    this.maxSlewMs = maxSlewMs;
    /** When the previous input was due (ms), NaN before the first. */
    this.due = NaN;
  }

  /**
   * After an input was sent at `now`: when the next one is due (ms). `rttMs` may be null (unknown yet);
   * `latenessMs` is the median lateness of recent states behind the clock (delay.js), 0 or NaN when unknown.
   */
  next(now, clock, rttMs, latenessMs = 0) {
    const tick = this.tickMs;
    // Behind by more than two ticks (a hidden tab, a stalled timer): start a new rhythm rather than catch up.
    let t = Number.isNaN(this.due) || now - this.due > 2 * tick ? now + tick : this.due + tick;
    if (clock.ready) {
      const want = 0.5 * tick - (rttMs ?? 0) + (Number.isFinite(latenessMs) ? latenessMs : 0);
      let err = (t - clock.origin - want) % tick;
      if (err < 0) err += tick;
      if (err > tick / 2) err -= tick;
      t -= err > this.maxSlewMs ? this.maxSlewMs : err < -this.maxSlewMs ? -this.maxSlewMs : err;
    }
    this.due = t;
    return t;
  }
}

/**
 * Shortest-way interpolation of two snapshot aims (version 6: 0..255, 256 steps per turn), wrapping at 256: from 250
 * to 4 goes up through 0. Returns a step count in [0, 256) (fractional), for snapshotAimToRadians. Exactly half a turn
 * apart goes the way of increasing steps.
 */
export function lerpAim(a, b, t) {
  const d = ((((b - a) % 256) + 384) % 256) - 128; // in [-128, 128)
  const v = a + (d === -128 ? 128 : d) * t;
  return v < 0 ? v + 256 : v >= 256 ? v - 256 : v;
}

export class Interpolator {
  /**
   * `dt`: seconds per tick. Options: `maxExtrapolateTicks` (default 3), `bulletLifetimeTicks` (bullets older than
   * this are not drawn), `teleportDistance` (world units per tick: a move longer than this times the ticks between
   * two states is a respawn, drawn as a jump; default 32), `width`, `height`, `radius` (map size and player
   * radius, to keep extrapolated players inside the world).
   */
  constructor(dt, options = {}) {
    this.dt = dt;
    this.maxExtrapolateTicks = options.maxExtrapolateTicks ?? MAX_EXTRAPOLATE_TICKS;
    this.bulletLifetimeTicks = options.bulletLifetimeTicks ?? Infinity;
    this.teleportDistance = options.teleportDistance ?? 32;
    this.width = options.width ?? Infinity;
    this.height = options.height ?? Infinity;
    this.radius = options.radius ?? 0;
    /** Set by fill(): how the frame was drawn ('none' | 'hold' | 'interpolate' | 'extrapolate'). */
    this.mode = 'none';
    /** Set by fill(): ticks past the newest state (0 unless extrapolating or holding). */
    this.extrapolated = 0;
    /** Frames that had to extrapolate or hold past the newest state. */
    this.lateFrames = 0;
    /** Scratch for the bracket search. */
    this.bracket = { before: null, after: null };
  }

  /**
   * Fills `scene` with every player but `ownId` and every bullet as of `renderTick` (fractional server tick),
   * from the states `store` keeps. The own player is left out; scene.tick becomes the tick drawn.
   */
  fill(scene, store, ownId, renderTick) {
    scene.playerCount = 0;
    scene.bulletCount = 0;
    scene.own = null;
    scene.tick = 0;
    this.mode = 'none';
    this.extrapolated = 0;
    const br = store.bracket(renderTick, this.bracket);
    let a = br.before;
    let b = br.after;
    if (a === null && b === null) return scene;
    let t = renderTick;
    let frac = 0;
    if (a === null) {
      // Earlier than anything kept (just joined, or the clock lags): show the oldest state as it is.
      a = b;
      b = null;
      t = a.tick;
      this.mode = 'hold';
    } else if (b === null) {
      // The next state is late: carry on along the velocities for a few ticks, then hold.
      const ahead = renderTick - a.tick;
      const capped = ahead < this.maxExtrapolateTicks ? ahead : this.maxExtrapolateTicks;
      t = a.tick + capped;
      this.extrapolated = capped;
      if (ahead > 0) {
        this.mode = 'extrapolate';
        this.lateFrames++;
      } else {
        this.mode = 'interpolate';
      }
    } else {
      frac = (renderTick - a.tick) / (b.tick - a.tick);
      this.mode = 'interpolate';
    }
    scene.tick = t;
    const ahead = b === null ? t - a.tick : 0;
    const dt = this.dt;

    for (const e of a.entities.values()) {
      const fa = e.fields;
      if (e.kind === KIND_PLAYER) {
        if (e.id === ownId) continue;
        const p = scene.nextPlayer();
        setIdentity(p, e);
        p.own = false;
        let x = toWorld(fa[P_X]);
        let y = toWorld(fa[P_Y]);
        let aim = fa[P_AIM];
        p.hp = fa[P_HP];
        p.score = fa[P_SCORE];
        p.respawn = fa[P_RESPAWN];
        p.disconnected = isDisconnected(fa);
        if (b !== null) {
          const eb = b.entities.get(e.id);
          // The same player in both states (not a reused slot), alive in both: interpolate.
          if (eb !== undefined && eb.kind === KIND_PLAYER && eb.name === e.name && fa[P_HP] > 0) {
            const fb = eb.fields;
            const bx = toWorld(fb[P_X]);
            const by = toWorld(fb[P_Y]);
            const jump = this.teleportDistance * (b.tick - a.tick);
            if (fb[P_HP] > 0 && Math.abs(bx - x) + Math.abs(by - y) < jump) {
              x += (bx - x) * frac;
              y += (by - y) * frac;
              aim = lerpAim(aim, fb[P_AIM], frac);
            }
          }
        } else if (ahead > 0 && fa[P_HP] > 0) {
          x = this.clampX(x + toWorld(fa[P_VX]) * ahead * dt);
          y = this.clampY(y + toWorld(fa[P_VY]) * ahead * dt);
        }
        p.x = x;
        p.y = y;
        p.aim = snapshotAimToRadians(aim);
      } else if (e.kind === KIND_BULLET) {
        const age = t - fa[B_SPAWN_TICK];
        if (age < 0 || age > this.bulletLifetimeTicks) continue;
        const bv = scene.nextBullet();
        const s = age * dt;
        bv.id = e.id;
        bv.owner = fa[B_OWNER];
        bv.x = toWorld(fa[B_X]) + toWorld(fa[B_VX]) * s;
        bv.y = toWorld(fa[B_Y]) + toWorld(fa[B_VY]) * s;
      }
    }
    return scene;
  }

  clampX(x) {
    const lo = this.radius;
    const hi = this.width - this.radius;
    return x < lo ? lo : x > hi ? hi : x;
  }

  clampY(y) {
    const lo = this.radius;
    const hi = this.height - this.radius;
    return y < lo ? lo : y > hi ? hi : y;
  }
}

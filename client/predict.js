// predict.js: client-side prediction of the own player, and reconciliation with the server's snapshots.
//
// MovementModel is a port of the movement pass of the server's `World::step` (src/sim/world.rs, with
// `geom::push_circle_out`, the wall grid of `sim/grid.rs` and `snap`/`snap_toward_zero` of `sim/mod.rs`). The server
// computes in f32; every operation here is rounded with Math.fround, which gives the same f32 results (double
// rounding is harmless for +, -, *, / and sqrt of f32 operands), so with the same state and input the model lands on
// the same 1/16 grid point as the server.
//
// Predictor keeps the inputs the server has not applied yet (seq > last_input_seq). Each sent input advances the
// prediction by one tick; each snapshot resets it to the server's state and replays the pending inputs. The drawn
// position moves smoothly from the previous predicted tick to the current one, and a correction becomes a render
// offset that decays in about 100 ms instead of a jump. Pure: the caller passes the time.

import { MOVE_MAX, P_HP, P_VX, P_VY, P_X, P_Y, toWorld } from './protocol.js';
import { Histogram, Recent } from './stats.js';

/** How many of the newest correction sizes the Predictor keeps for the debug view. */
export const RECENT_CORRECTIONS = 32;

const f = Math.fround;

/** The server's wire and grid scale (POS_SCALE). */
const SCALE = 16;
/** Passes of wall resolution before the server gives up on a tight spot (MAX_PUSH_PASSES). */
const MAX_PUSH_PASSES = 4;
/** The server's wall grid cell (WallGrid::CELL) and cell budget (MAX_CELLS). */
const WALL_CELL = 64;
const MAX_CELLS = 1 << 20;

/** Rust's `f32::round`: halfway cases away from zero. */
function roundHalfAway(v) {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** `snap_f32`: to the nearest 1/16 (v * 16 is exact in f32, so no fround is needed). */
export function snap(v) {
  return roundHalfAway(v * SCALE) / SCALE;
}

/** `snap_toward_zero`, one component. */
export function snapTowardZero(v) {
  return Math.trunc(v * SCALE) / SCALE;
}

/** `floor_to_grid`. */
export function floorToGrid(v) {
  return Math.floor(v * SCALE) / SCALE;
}

/** `ceil_to_grid`. */
export function ceilToGrid(v) {
  return Math.ceil(v * SCALE) / SCALE;
}

/**
 * The cell layout of the server's `GridShape`: square cells of at least `minCell` units over the map, coarser for
 * huge maps; a coordinate's row or column is clamped into the grid.
 */
class GridShape {
  constructor(width, height, minCell) {
    const w = Math.max(f(width), 1);
    const h = Math.max(f(height), 1);
    const cell = Math.max(Math.max(minCell, f(Math.sqrt(f(f(w * h) / MAX_CELLS)))), 1);
    this.invCell = f(1 / cell);
    this.cols = Math.max(Math.ceil(f(w / cell)), 1);
    this.rows = Math.max(Math.ceil(f(h / cell)), 1);
  }

  /** `(v * inv_cell) as u32` (saturating, NaN and negatives to 0), clamped to `count - 1`. */
  index(v, count) {
    const q = f(v * this.invCell);
    const i = q > 0 ? Math.min(Math.trunc(q), 4294967295) : 0;
    return i < count - 1 ? i : count - 1;
  }
}

/**
 * The movement rules of one world: map walls (with the server's grid, so walls are visited in the same passes and
 * order), rules and tick rate. `step` moves one alive player by one tick.
 */
export class MovementModel {
  /** `map`, `rules` as parsed from welcome (protocol.js), `tickRate` in ticks per second. */
  constructor(map, rules, tickRate) {
    this.dt = f(1 / tickRate);
    this.radius = f(rules.playerRadius);
    this.accelDt = f(f(rules.accel) * this.dt);
    this.damping = Math.max(f(1 - f(f(rules.friction) * this.dt)), 0);
    this.maxSpeed = f(rules.maxSpeed);
    this.r2 = f(this.radius * this.radius);
    this.reach = f(this.radius + 1);
    this.loX = ceilToGrid(this.radius);
    this.loY = this.loX;
    this.hiX = floorToGrid(f(f(map.width) - this.radius));
    this.hiY = floorToGrid(f(f(map.height) - this.radius));

    const walls = map.walls;
    const n = walls.length;
    /** Wall rectangles as min x, min y, max x, max y (f32), in map order. */
    this.rects = new Float64Array(n * 4);
    for (let i = 0; i < n; i++) {
      const w = walls[i];
      const x = f(w.x);
      const y = f(w.y);
      this.rects[i * 4] = x;
      this.rects[i * 4 + 1] = y;
      this.rects[i * 4 + 2] = f(x + f(w.w));
      this.rects[i * 4 + 3] = f(y + f(w.h));
    }

    // The wall grid, as compressed rows: starts[cell]..starts[cell + 1] index `items`.
    const shape = new GridShape(map.width, map.height, WALL_CELL);
    this.shape = shape;
    const cells = shape.cols * shape.rows;
    const starts = new Uint32Array(cells + 1);
    this.forEachCell(this.rects, 0, n, (cell) => starts[cell + 1]++);
    for (let i = 1; i < starts.length; i++) starts[i] += starts[i - 1];
    const cursor = starts.slice(0, cells);
    const items = new Uint32Array(starts[cells]);
    for (let i = 0; i < n; i++) {
      this.forEachCell(this.rects, i, i + 1, (cell) => {
        items[cursor[cell]++] = i;
      });
    }
    this.starts = starts;
    this.items = items;

    /** Scratch for a wall query: the walls near the player, sorted, each once (`stamp` marks those taken). */
    this.near = new Uint32Array(Math.max(n, 1));
    this.nearCount = 0;
    this.stamps = new Uint32Array(Math.max(n, 1));
    this.stamp = 0;

    /** The player being moved (world units, f32 values). */
    this.px = 0;
    this.py = 0;
    this.vx = 0;
    this.vy = 0;
  }

  /** Calls `fn(cell)` for every cell each rectangle `from..to` overlaps (set-up only). */
  forEachCell(rects, from, to, fn) {
    const s = this.shape;
    for (let i = from; i < to; i++) {
      const c0 = s.index(rects[i * 4], s.cols);
      const c1 = s.index(rects[i * 4 + 2], s.cols);
      const r0 = s.index(rects[i * 4 + 1], s.rows);
      const r1 = s.index(rects[i * 4 + 3], s.rows);
      for (let row = r0; row <= r1; row++) for (let col = c0; col <= c1; col++) fn(row * s.cols + col);
    }
  }

  /**
   * Moves `body` (`{x, y, vx, vy}` in world units, on the 1/16 grid) by one tick of an alive player holding the
   * movement input `moveX`, `moveY` (wire values -127..127), exactly as the server's movement pass does.
   */
  step(body, moveX, moveY) {
    // PlayerInput::sanitized: movement / 127, scaled to length 1 if longer.
    let ix = f(moveX / MOVE_MAX);
    let iy = f(moveY / MOVE_MAX);
    const lengthSq = f(f(ix * ix) + f(iy * iy));
    if (lengthSq > 1) {
      const length = f(Math.sqrt(lengthSq));
      ix = f(ix / length);
      iy = f(iy / length);
    }
    let vx = f(f(body.vx) + f(ix * this.accelDt));
    let vy = f(f(body.vy) + f(iy * this.accelDt));
    vx = f(vx * this.damping);
    vy = f(vy * this.damping);
    const speed = f(Math.sqrt(f(f(vx * vx) + f(vy * vy))));
    if (speed > this.maxSpeed) {
      const k = f(this.maxSpeed / speed);
      vx = f(vx * k);
      vy = f(vy * k);
    }
    const dt = this.dt;
    this.px = snap(f(f(body.x) + f(vx * dt)));
    this.py = snap(f(f(body.y) + f(vy * dt)));
    this.vx = vx;
    this.vy = vy;
    this.resolveWalls();
    if (this.px < this.loX || this.px > this.hiX) {
      this.px = this.px < this.loX ? this.loX : this.hiX;
      this.vx = 0;
    }
    if (this.py < this.loY || this.py > this.hiY) {
      this.py = this.py < this.loY ? this.loY : this.hiY;
      this.vy = 0;
    }
    body.x = snap(this.px);
    body.y = snap(this.py);
    body.vx = snapTowardZero(this.vx);
    body.vy = snapTowardZero(this.vy);
    return body;
  }

  /** `resolve_walls`: up to 4 passes over the walls near the current position, in map order. */
  resolveWalls() {
    for (let pass = 0; pass < MAX_PUSH_PASSES; pass++) {
      this.gatherNear();
      let pushed = false;
      for (let i = 0; i < this.nearCount; i++) {
        if (this.pushOut(this.near[i])) pushed = true;
      }
      if (!pushed) break;
    }
  }

  /** Fills `near` with the walls in the grid cells the box `pos ± (r + 1)` overlaps, sorted, without repeats. */
  gatherNear() {
    const s = this.shape;
    const reach = this.reach;
    const c0 = s.index(f(this.px - reach), s.cols);
    const c1 = s.index(f(this.px + reach), s.cols);
    const r0 = s.index(f(this.py - reach), s.rows);
    const r1 = s.index(f(this.py + reach), s.rows);
    this.stamp = (this.stamp + 1) >>> 0;
    if (this.stamp === 0) {
      this.stamps.fill(0);
      this.stamp = 1;
    }
    const near = this.near;
    let n = 0;
    for (let row = r0; row <= r1; row++) {
      for (let col = c0; col <= c1; col++) {
        const cell = row * s.cols + col;
        for (let k = this.starts[cell]; k < this.starts[cell + 1]; k++) {
          const w = this.items[k];
          if (this.stamps[w] === this.stamp) continue;
          this.stamps[w] = this.stamp;
          // insertion sort: the list holds a handful of walls
          let j = n++;
          while (j > 0 && near[j - 1] > w) {
            near[j] = near[j - 1];
            j--;
          }
          near[j] = w;
        }
      }
    }
    this.nearCount = n;
  }

  /** `geom::push_circle_out` of the current position against wall `w`; returns whether it pushed. */
  pushOut(w) {
    const rects = this.rects;
    const minX = rects[w * 4];
    const minY = rects[w * 4 + 1];
    const maxX = rects[w * 4 + 2];
    const maxY = rects[w * 4 + 3];
    const px = this.px;
    const py = this.py;
    const dx = f(px - Math.min(Math.max(px, minX), maxX));
    const dy = f(py - Math.min(Math.max(py, minY), maxY));
    const r2 = this.r2;
    if (f(f(dx * dx) + f(dy * dy)) >= r2) return false;
    const hx = f(Math.sqrt(Math.max(f(r2 - f(dy * dy)), 0)));
    const hy = f(Math.sqrt(Math.max(f(r2 - f(dx * dx)), 0)));
    const left = f(px - f(minX - hx));
    const right = f(f(maxX + hx) - px);
    const up = f(py - f(minY - hy));
    const down = f(f(maxY + hy) - py);
    if (Math.min(left, right) <= Math.min(up, down)) {
      this.px = left <= right ? floorToGrid(f(minX - hx)) : ceilToGrid(f(maxX + hx));
      this.vx = 0;
    } else {
      this.py = up <= down ? floorToGrid(f(minY - hy)) : ceilToGrid(f(maxY + hy));
      this.vy = 0;
    }
    return true;
  }
}

/** Pending inputs kept at most (about 8 s at 30 Hz); beyond that the oldest are forgotten. */
const PENDING_CAPACITY = 256;

/**
 * Prediction and reconciliation of the own player. Feed it every input sent (`input`) and every applied snapshot
 * (`reconcile`); read the predicted state (`x`, `y`) or the smoothed position to draw (`renderPosition`).
 */
export class Predictor {
  /**
   * `model`: a MovementModel. Options: `threshold` (world units; corrections larger than this are counted, default
   * 1/16), `smoothMs` (how long a correction takes to fade out, default 100), `snapDistance` (corrections at least
   * this large are jumps, not smoothed, default 64), `tickMs` (time between inputs, for drawing between ticks).
   */
  constructor(model, options = {}) {
    this.model = model;
    this.threshold = options.threshold ?? 1 / 16;
    this.smoothMs = options.smoothMs ?? 100;
    this.snapDistance = options.snapDistance ?? 64;
    this.tickMs = options.tickMs ?? model.dt * 1000;

    /** Inputs not yet applied by the server, oldest first: a ring of seq and movement. */
    this.pendingSeq = new Float64Array(PENDING_CAPACITY);
    this.pendingX = new Int8Array(PENDING_CAPACITY);
    this.pendingY = new Int8Array(PENDING_CAPACITY);
    this.pendingStart = 0;
    this.pendingCount = 0;

    /** Whether a server state of the own player has been seen (nothing is predicted before). */
    this.active = false;
    /** Whether the own player is alive in the newest server state (a dead player does not move). */
    this.alive = false;
    /** The predicted state after every input sent so far (world units). */
    this.body = { x: 0, y: 0, vx: 0, vy: 0 };
    /** The predicted position one input earlier: drawing moves from here to `body` over one tick. */
    this.prevX = 0;
    this.prevY = 0;
    /** When the newest input was predicted (drawing time base). */
    this.stepTime = 0;
    /** Render offset left by corrections, fading to 0. */
    this.offsetX = 0;
    this.offsetY = 0;
    this.offsetTime = 0;

    /** Reconciliations whose correction exceeded `threshold`. */
    this.corrections = 0;
    /** Snapshots reconciled. */
    this.reconciles = 0;
    /** Size of the newest correction and the largest one, world units. */
    this.lastError = 0;
    this.maxError = 0;
    /**
     * Sizes of the counted corrections (world units): the newest RECENT_CORRECTIONS, and all of the session for
     * their mean and p99, so a test can tell a misprediction of a few units from a respawn (never counted).
     */
    this.recentCorrections = new Recent(RECENT_CORRECTIONS);
    this.correctionSizes = new Histogram();
    /** `last_input_seq` of the newest reconciled snapshot. */
    this.ackedSeq = 0;
    /** Scratch for replays. */
    this.replayPrev = { x: 0, y: 0 };
  }

  /** Predicted position (world units) after every input sent so far. */
  get x() {
    return this.body.x;
  }

  get y() {
    return this.body.y;
  }

  /** Inputs sent but not yet applied by the server (as far as the newest snapshot tells). */
  get pendingInputs() {
    return this.pendingCount;
  }

  /**
   * Forgets every pending input and the prediction built on them, for a resumed seat: the inputs sent into the
   * dead socket were never applied (the server stood the player still meanwhile), so replaying them would predict
   * moves that never happened. The next reconcile starts afresh from the server's state, like a first sight, and
   * is not counted as a correction.
   */
  reset() {
    this.pendingStart = 0;
    this.pendingCount = 0;
    this.active = false;
    this.alive = false;
    this.lastError = 0;
    this.clearOffset();
  }

  /** Records the input `seq` (movement in wire values) sent at `now` and predicts its tick. */
  input(seq, moveX, moveY, now) {
    if (this.pendingCount === PENDING_CAPACITY) {
      this.pendingStart = (this.pendingStart + 1) % PENDING_CAPACITY;
      this.pendingCount--;
    }
    const i = (this.pendingStart + this.pendingCount) % PENDING_CAPACITY;
    this.pendingSeq[i] = seq;
    this.pendingX[i] = moveX;
    this.pendingY[i] = moveY;
    this.pendingCount++;
    if (!this.active || !this.alive) return;
    this.decay(now);
    // Drawing continues from where it is now, so the new tick starts without a jump.
    const a = this.alpha(now);
    const fromX = this.prevX + (this.body.x - this.prevX) * a;
    const fromY = this.prevY + (this.body.y - this.prevY) * a;
    this.offsetX += fromX - this.body.x;
    this.offsetY += fromY - this.body.y;
    this.prevX = this.body.x;
    this.prevY = this.body.y;
    this.model.step(this.body, moveX, moveY);
    this.stepTime = now;
  }

  /**
   * Resets to the server's state of the own player (`fields` in wire units, or null when it is not in the state)
   * as of a snapshot with `lastInputSeq`, replays the inputs after it, and turns the difference with the previous
   * prediction into a fading render offset. Returns the size of the correction (world units).
   * `own` is the snapshot's own-velocity correction (protocol v6, `{dvx, dvy}` in wire units, or null): the state's
   * vx, vy are rounded to a multiple of the tick rate, and the server's true velocity, which the replay starts from,
   * is `vx + dvx`, `vy + dvy`. Null takes `fields`' velocity as it is.
   */
  reconcile(fields, lastInputSeq, now, own = null) {
    this.reconciles++;
    this.ackedSeq = lastInputSeq;
    while (this.pendingCount > 0 && this.pendingSeq[this.pendingStart] <= lastInputSeq) {
      this.pendingStart = (this.pendingStart + 1) % PENDING_CAPACITY;
      this.pendingCount--;
    }
    if (fields === null) {
      this.active = false;
      this.alive = false;
      this.clearOffset();
      return 0;
    }
    this.decay(now);
    const wasPredicting = this.active && this.alive;
    const oldX = this.body.x;
    const oldY = this.body.y;
    const a = this.alpha(now);
    const drawnX = this.prevX + (oldX - this.prevX) * a + this.offsetX;
    const drawnY = this.prevY + (oldY - this.prevY) * a + this.offsetY;

    const body = this.body;
    body.x = toWorld(fields[P_X]);
    body.y = toWorld(fields[P_Y]);
    body.vx = toWorld(own === null ? fields[P_VX] : fields[P_VX] + own.dvx);
    body.vy = toWorld(own === null ? fields[P_VY] : fields[P_VY] + own.dvy);
    this.active = true;
    this.alive = fields[P_HP] > 0;
    this.prevX = body.x;
    this.prevY = body.y;
    if (this.alive) {
      for (let k = 0; k < this.pendingCount; k++) {
        const i = (this.pendingStart + k) % PENDING_CAPACITY;
        this.prevX = body.x;
        this.prevY = body.y;
        this.model.step(body, this.pendingX[i], this.pendingY[i]);
      }
    }

    if (!wasPredicting || !this.alive) {
      // First sight, death or respawn: the server moved the player, nothing was mispredicted.
      this.lastError = 0;
      this.clearOffset();
      return 0;
    }
    const error = Math.hypot(body.x - oldX, body.y - oldY);
    this.lastError = error;
    if (error > this.maxError) this.maxError = error;
    if (error > this.threshold) {
      this.corrections++;
      this.recentCorrections.push(error);
      this.correctionSizes.add(error);
    }
    if (error >= this.snapDistance) {
      this.clearOffset();
    } else {
      // Keep the drawn position where it was; the offset carries the difference and fades.
      const b = this.alpha(now);
      this.offsetX = drawnX - (this.prevX + (body.x - this.prevX) * b);
      this.offsetY = drawnY - (this.prevY + (body.y - this.prevY) * b);
      this.offsetTime = now;
    }
    return error;
  }

  /** The position to draw at `now` (world units) into `out` (`{x, y}`); returns false when nothing is predicted. */
  renderPosition(now, out) {
    if (!this.active) return false;
    this.decay(now);
    const a = this.alpha(now);
    out.x = this.prevX + (this.body.x - this.prevX) * a + this.offsetX;
    out.y = this.prevY + (this.body.y - this.prevY) * a + this.offsetY;
    return true;
  }

  /** How far drawing is between the previous predicted tick and the current one. */
  alpha(now) {
    if (this.tickMs <= 0) return 1;
    const a = (now - this.stepTime) / this.tickMs;
    return a <= 0 ? 0 : a >= 1 ? 1 : a;
  }

  /** Fades the render offset: exponentially, to about 5% after `smoothMs`, then to exactly 0. */
  decay(now) {
    if (this.offsetX === 0 && this.offsetY === 0) {
      this.offsetTime = now;
      return;
    }
    const elapsed = now - this.offsetTime;
    if (elapsed <= 0) return;
    this.offsetTime = now;
    const k = Math.exp((-3 * elapsed) / this.smoothMs);
    this.offsetX *= k;
    this.offsetY *= k;
    if (Math.abs(this.offsetX) < 1e-3 && Math.abs(this.offsetY) < 1e-3) this.clearOffset();
  }

  clearOffset() {
    this.offsetX = 0;
    this.offsetY = 0;
  }
}

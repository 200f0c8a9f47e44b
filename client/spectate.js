// spectate.js: a spectator's camera and the view messages that steer what the server sends it.
//
// Pure (no DOM, no clock: the caller passes the players drawn this frame and the time), so it runs under Node. The
// camera follows one player, drawn where the interpolator puts it; Q/E (or [ and ]) cycle through the players in id
// order, F toggles a free camera moved with the movement keys. When the followed player leaves, the next one in id
// order is followed. The server centres a spectator's interest area on the followed player, or on the camera when
// it follows nobody (docs/PROTOCOL.md, `view`); ViewThrottle decides when to tell it.

/** Free camera speed, world units per second. */
export const FREE_CAMERA_SPEED = 900;
/** Fewest milliseconds between two view messages (at most 10 a second). */
export const VIEW_INTERVAL_MS = 100;

/**
 * The id after `current` in `ids` (ascending) going `step` (+1 or -1) places, wrapping around; when `current` is
 * not among them, the first id after it in that direction. 0 when `ids` is empty.
 */
export function nextFollow(ids, current, step) {
  const n = ids.length;
  if (n === 0) return 0;
  const at = ids.indexOf(current);
  if (at >= 0) return ids[(((at + step) % n) + n) % n];
  if (step > 0) {
    for (let i = 0; i < n; i++) if (ids[i] > current) return ids[i];
    return ids[0];
  }
  for (let i = n - 1; i >= 0; i--) if (ids[i] < current) return ids[i];
  return ids[n - 1];
}

/** The ids of `players` (views with an `id`; the first `count` of them), ascending, into `out`. */
export function playerIds(players, count, out = []) {
  out.length = 0;
  for (let i = 0; i < count; i++) out.push(players[i].id);
  return out.sort((a, b) => a - b);
}

export class SpectatorCamera {
  /** `width`, `height`: the map's size in world units; the camera starts at its centre. */
  constructor(width, height) {
    this.width = width;
    this.height = height;
    /** Centre of the view, world units. */
    this.x = width / 2;
    this.y = height / 2;
    /** The player followed (0: none, or the free camera). */
    this.follow = 0;
    /** The followed player's name ('' when none). */
    this.followName = '';
    /** Whether the camera is free (moved by the keys) rather than following. */
    this.free = false;
    /** Scratch id list. */
    this.ids = [];
  }

  /** The `follow` of a view message: 0 for the free camera or when nobody is followed. */
  get viewFollow() {
    return this.free ? 0 : this.follow;
  }

  /**
   * Advances one frame: `players` are the player views drawn (the first `count`), `dt` the seconds since the last
   * frame, `moveX`/`moveY` the movement keys (-1..1, moving the free camera). Following, the camera sits on the
   * followed player; a followed player gone is replaced by the next in id order, and when nobody is followed the
   * first player to appear is.
   */
  update(players, count, dt, moveX, moveY) {
    if (this.free) {
      this.x = clamp(this.x + moveX * FREE_CAMERA_SPEED * dt, 0, this.width);
      this.y = clamp(this.y + moveY * FREE_CAMERA_SPEED * dt, 0, this.height);
      return;
    }
    let followed = find(players, count, this.follow);
    if (followed === null && count > 0) {
      this.follow = nextFollow(playerIds(players, count, this.ids), this.follow, 1);
      followed = find(players, count, this.follow);
    } else if (followed === null) {
      this.follow = 0;
    }
    if (followed !== null) {
      this.x = followed.x;
      this.y = followed.y;
      this.followName = followed.name;
    } else {
      this.followName = '';
    }
  }

  /** Follows the player `step` places after the current one in id order (leaving the free camera). */
  cycle(players, count, step) {
    const ids = playerIds(players, count, this.ids);
    if (ids.length === 0) return;
    this.free = false;
    this.follow = nextFollow(ids, this.follow, step);
    this.place(players, count);
  }

  /** Switches between the free camera (starting where the camera is) and following. */
  toggleFree(players, count) {
    this.free = !this.free;
    if (!this.free) this.update(players, count, 0, 0, 0);
  }

  place(players, count) {
    const p = find(players, count, this.follow);
    if (p === null) return;
    this.x = p.x;
    this.y = p.y;
    this.followName = p.name;
  }
}

function find(players, count, id) {
  if (id === 0) return null;
  for (let i = 0; i < count; i++) if (players[i].id === id) return players[i];
  return null;
}

function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * When to send a view: the first time asked (right after the welcome), then whenever what the server should
 * centre on changed (another player followed, or the free camera moved by a world unit or more) and at least
 * `intervalMs` after the last one. A change within the interval is not lost: it goes once the interval is over.
 */
export class ViewThrottle {
  constructor(intervalMs = VIEW_INTERVAL_MS) {
    this.intervalMs = intervalMs;
    this.sent = 0;
    this.lastTime = -Infinity;
    this.lastFollow = -1;
    this.lastX = 0;
    this.lastY = 0;
  }

  /** Whether to send `[5, follow, x, y]` now; if so it counts as sent. */
  due(now, follow, x, y) {
    const ix = Math.round(x);
    const iy = Math.round(y);
    const moved = follow === 0 && (ix !== this.lastX || iy !== this.lastY);
    const changed = this.sent === 0 || follow !== this.lastFollow || moved;
    if (!changed || now - this.lastTime < this.intervalMs) return false;
    this.sent++;
    this.lastTime = now;
    this.lastFollow = follow;
    this.lastX = ix;
    this.lastY = iy;
    return true;
  }
}

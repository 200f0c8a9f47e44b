// spectate.js: a spectator's camera, the room's roster, and the view messages that steer what the server sends it.
//
// Pure (no DOM, no clock: the caller passes the players drawn this frame and the time), so it runs under Node. The
// camera follows one player, drawn where the interpolator puts it; Q/E (or [ and ]) cycle through the players in id
// order, F toggles a free camera moved with the movement keys. When the followed player leaves, the next one in id
// order is followed. The server centres a spectator's interest area on the followed player, or on the camera when
// it follows nobody (docs/PROTOCOL.md, `view`); ViewThrottle decides when to tell it.
//
// With interest management (a view radius) the snapshots hold only what is in view, so the players the camera
// knows are the roster's (`[5, tick, players]`, every player of the room once a second) as well as those drawn:
// Q/E cycle through all of them, a player followed from afar stays followed (named from the roster) until the
// server has centred the view on it and it is drawn, and the scoreboard (RosterBoard) lists the whole room. The
// first player to be followed on its own is still the first one drawn: a spectator watching the map's centre is
// not carried off to someone out of view until it asks.

import { nameSortKey } from './scene.js';
import { EVENT_JOIN, EVENT_LEAVE } from './protocol.js';

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

/**
 * The room's players as the newest roster lists them, by ascending id: entries `{id, name, sortKey, score, hp}`
 * (sortKey as scene.js's nameSortKey, for the scoreboard). Join and leave events newer than the roster amend it
 * until the next one comes (at most a second later), so a player who left is not followed, nor listed, meanwhile.
 */
export class Roster {
  constructor() {
    /** The tick the newest roster listed (0: none yet). */
    this.tick = 0;
    /** Rosters applied. */
    this.received = 0;
    /** Entries by ascending id. */
    this.players = [];
  }

  /**
   * Takes a parsed roster (`{tick, players: [{id, name, score, hp}]}`, protocol.js); one older than the roster held
   * is ignored. Returns whether it was taken.
   */
  apply(msg) {
    if (this.received > 0 && msg.tick < this.tick) return false;
    const players = msg.players.map((p) => {
      // Names never change for the life of a player: keep the sort key already computed.
      const before = this.find(p.id);
      const sortKey = before !== null && before.name === p.name ? before.sortKey : nameSortKey(p.name);
      return { id: p.id, name: p.name, sortKey, score: p.score, hp: p.hp };
    });
    // The server sends them by id; sorted anyway, as indexOf's binary search needs it.
    players.sort((a, b) => a.id - b.id);
    this.players = players;
    this.tick = msg.tick;
    this.received++;
    return true;
  }

  /**
   * Amends the roster with snapshot events (state.js's new events, oldest first) after its tick: a join adds the
   * player (no kills, `hp` as it spawns), a leave removes it.
   */
  noteEvents(events, hp) {
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (e.tick <= this.tick) continue;
      if (e.kind === EVENT_LEAVE) {
        const at = this.indexOf(e.playerId);
        if (at >= 0) this.players.splice(at, 1);
      } else if (e.kind === EVENT_JOIN && this.indexOf(e.playerId) < 0) {
        const entry = { id: e.playerId, name: e.name, sortKey: nameSortKey(e.name), score: 0, hp };
        let at = 0;
        while (at < this.players.length && this.players[at].id < e.playerId) at++;
        this.players.splice(at, 0, entry);
      }
    }
  }

  /** The index of player `id` in `players`, or -1. */
  indexOf(id) {
    const list = this.players;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = list[mid].id;
      if (at === id) return mid;
      if (at < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Player `id`'s entry, or null. */
  find(id) {
    const at = this.indexOf(id);
    return at < 0 ? null : this.players[at];
  }
}

/**
 * The ids of the players drawn (the first `count` of `players`) and of the roster (null for none), ascending and
 * each once, into `out`.
 */
export function knownIds(players, count, roster, out = []) {
  playerIds(players, count, out);
  if (roster === null || roster.players.length === 0) return out;
  const entries = roster.players;
  for (let i = 0; i < entries.length; i++) out.push(entries[i].id);
  out.sort((a, b) => a - b);
  let n = 0;
  for (let i = 0; i < out.length; i++) if (n === 0 || out[i] !== out[n - 1]) out[n++] = out[i];
  out.length = n;
  return out;
}

/**
 * What a spectator's scoreboard lists: the whole room, as `{players, playerCount}` like a Scene (hud.js draws
 * either). Each roster entry, except that a player drawn this frame is listed as drawn (its score and hp are
 * newer than the roster's, which may be a second old), and players drawn that the roster does not have yet.
 */
export class RosterBoard {
  constructor() {
    this.players = [];
    this.playerCount = 0;
  }

  /** Rebuilds the list from `roster` and the first `count` of `players` (the scene's views); allocates nothing. */
  fill(roster, players, count) {
    const list = this.players;
    const entries = roster.players;
    list.length = 0;
    for (let i = 0; i < entries.length; i++) list.push(entries[i]);
    for (let i = 0; i < count; i++) {
      const p = players[i];
      const at = roster.indexOf(p.id);
      if (at >= 0) list[at] = p;
      else list.push(p);
    }
    this.playerCount = list.length;
    return this;
  }
}

export class SpectatorCamera {
  /**
   * `width`, `height`: the map's size in world units; the camera starts at its centre. `roster`: the room's Roster
   * (kept up to date by the caller), or null to know only the players drawn.
   */
  constructor(width, height, roster = null) {
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
    this.roster = roster;
  }

  /** The `follow` of a view message: 0 for the free camera or when nobody is followed. */
  get viewFollow() {
    return this.free ? 0 : this.follow;
  }

  /**
   * Advances one frame: `players` are the player views drawn (the first `count`), `dt` the seconds since the last
   * frame, `moveX`/`moveY` the movement keys (-1..1, moving the free camera). Following, the camera sits on the
   * followed player; one the roster lists but that is not drawn (out of view until the server centres the view on
   * it) is followed where the camera is, and named from the roster. A followed player gone from both is replaced by
   * the next in id order, and when nobody is followed the first player drawn is.
   */
  update(players, count, dt, moveX, moveY) {
    if (this.free) {
      this.x = clamp(this.x + moveX * FREE_CAMERA_SPEED * dt, 0, this.width);
      this.y = clamp(this.y + moveY * FREE_CAMERA_SPEED * dt, 0, this.height);
      return;
    }
    let followed = find(players, count, this.follow);
    if (followed === null && this.follow !== 0) {
      if (this.listed(this.follow)) {
        this.place(players, count);
        return;
      }
      // Gone from the room: the next one in id order, drawn or not.
      this.follow = nextFollow(knownIds(players, count, this.roster, this.ids), this.follow, 1);
      followed = find(players, count, this.follow);
    } else if (followed === null && count > 0) {
      this.follow = nextFollow(playerIds(players, count, this.ids), this.follow, 1);
      followed = find(players, count, this.follow);
    }
    if (followed !== null) {
      this.x = followed.x;
      this.y = followed.y;
      this.followName = followed.name;
    } else {
      this.place(players, count);
    }
  }

  /**
   * Follows the player `step` places after the current one in id order (leaving the free camera), among the players
   * drawn and those the roster lists.
   */
  cycle(players, count, step) {
    const ids = knownIds(players, count, this.roster, this.ids);
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

  /** Whether the roster lists player `id`. */
  listed(id) {
    return this.roster !== null && this.roster.indexOf(id) >= 0;
  }

  /**
   * Puts the camera on the followed player where it is drawn; one only the roster lists is named from it and the
   * camera stays until it is drawn; with neither (or nobody followed), follow is 0 and the name empty.
   */
  place(players, count) {
    const p = find(players, count, this.follow);
    if (p !== null) {
      this.x = p.x;
      this.y = p.y;
      this.followName = p.name;
      return;
    }
    const entry = this.follow === 0 || this.roster === null ? null : this.roster.find(this.follow);
    if (entry === null) this.follow = 0;
    this.followName = entry === null ? '' : entry.name;
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

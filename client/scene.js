// scene.js: what the renderer draws (world units, radians), built from tick states (wire units).
//
// The game fills a Scene in two steps each frame: interp.js places remote players and bullets at the interpolated
// time, then placeOwn() adds the own player where predict.js puts it. buildScene() copies one state as it is (no
// smoothing), for tests and tools. Views are pooled and reused, so a frame allocates nothing. cameraAxis() says
// where a player's camera looks along one axis: on the player, but never past the arena's edge.

import {
  B_SPAWN_TICK,
  FLAG_DISCONNECTED,
  B_VX,
  B_VY,
  B_X,
  B_Y,
  B_OWNER,
  KIND_BULLET,
  KIND_PLAYER,
  P_AIM,
  P_FLAGS,
  P_HP,
  P_RESPAWN,
  P_SCORE,
  P_X,
  P_Y,
  snapshotAimToRadians,
  toWorld,
} from './protocol.js';

/** A player as drawn. */
export class PlayerView {
  constructor() {
    this.id = 0;
    this.name = '';
    /** The name's sort key (nameSortKey), refreshed only when the name changes (see setIdentity). */
    this.sortKey = '';
    this.x = 0;
    this.y = 0;
    /** Radians, clockwise on screen from +x. */
    this.aim = 0;
    this.hp = 0;
    this.score = 0;
    /** Ticks until respawn, 0 while alive. */
    this.respawn = 0;
    /** Its socket is gone and the server holds its seat (FLAG_DISCONNECTED): drawn greyed. */
    this.disconnected = false;
    this.own = false;
  }
}

/** A bullet as drawn. */
export class BulletView {
  constructor() {
    this.id = 0;
    this.owner = 0;
    this.x = 0;
    this.y = 0;
  }
}

export class Scene {
  constructor() {
    /** Pool of player views; the first `playerCount` are live. */
    this.players = [];
    this.playerCount = 0;
    /** Pool of bullet views; the first `bulletCount` are live. */
    this.bullets = [];
    this.bulletCount = 0;
    /** The own player's view, or null when it is not in the state. */
    this.own = null;
    /** Tick (possibly fractional later) the scene shows, 0 for none. */
    this.tick = 0;
  }

  nextPlayer() {
    if (this.playerCount === this.players.length) this.players.push(new PlayerView());
    return this.players[this.playerCount++];
  }

  nextBullet() {
    if (this.bulletCount === this.bullets.length) this.bullets.push(new BulletView());
    return this.bullets[this.bulletCount++];
  }
}

/**
 * Fills `scene` from `state` (a TickState or null). `dt` is seconds per tick; bullets are placed at
 * `origin + velocity * (tick - spawn_tick) * dt` as PROTOCOL.md says.
 */
export function buildScene(scene, state, ownId, dt) {
  scene.playerCount = 0;
  scene.bulletCount = 0;
  scene.own = null;
  scene.tick = state ? state.tick : 0;
  if (state === null) return scene;
  const tick = state.tick;
  for (const e of state.entities.values()) {
    const f = e.fields;
    if (e.kind === KIND_PLAYER) {
      const p = scene.nextPlayer();
      setIdentity(p, e);
      p.x = toWorld(f[P_X]);
      p.y = toWorld(f[P_Y]);
      p.aim = snapshotAimToRadians(f[P_AIM]);
      p.hp = f[P_HP];
      p.score = f[P_SCORE];
      p.respawn = f[P_RESPAWN];
      p.disconnected = isDisconnected(f);
      p.own = e.id === ownId;
      if (p.own) scene.own = p;
    } else if (e.kind === KIND_BULLET) {
      const b = scene.nextBullet();
      const age = (tick - f[B_SPAWN_TICK]) * dt;
      b.id = e.id;
      b.owner = f[B_OWNER];
      b.x = toWorld(f[B_X]) + toWorld(f[B_VX]) * age;
      b.y = toWorld(f[B_Y]) + toWorld(f[B_VY]) * age;
    }
  }
  return scene;
}

/** Whether a player's wire fields say its seat is held without a connection. */
export function isDisconnected(fields) {
  return (fields[P_FLAGS] & FLAG_DISCONNECTED) !== 0;
}

/** Copies id and name of entity `e` into the pooled view `p`, refreshing the sort key only when the name changes. */
export function setIdentity(p, e) {
  p.id = e.id;
  if (p.name !== e.name) {
    p.name = e.name;
    p.sortKey = nameSortKey(e.name);
  }
}

/**
 * A key that orders names by plain string comparison the way people read them: case-insensitive, and numbers by
 * value ("bot2" before "bot10"), so the scoreboard can sort hundreds of names every frame cheaply.
 */
export function nameSortKey(name) {
  return name.toLowerCase().replace(/\d+/g, (digits) => digits.padStart(12, '0'));
}

/**
 * Adds the own player to `scene` from its newest server entity `e` (hp, score, respawn, name), drawn at `(x, y)`
 * (the predicted position) aiming at `aim` radians. Returns its view.
 */
export function placeOwn(scene, e, x, y, aim) {
  const f = e.fields;
  const p = scene.nextPlayer();
  setIdentity(p, e);
  p.x = x;
  p.y = y;
  p.aim = aim;
  p.hp = f[P_HP];
  p.score = f[P_SCORE];
  p.respawn = f[P_RESPAWN];
  p.disconnected = isDisconnected(f);
  p.own = true;
  scene.own = p;
  return p;
}

/**
 * The camera's centre along one axis (world units) when it follows `target` with `view` world units on screen over
 * an arena `arena` long. Where the arena is longer than the view, the centre follows the target but stops half a
 * view from each edge, so a player near a wall sees the arena rather than half a screen of void; where it is
 * shorter, the camera stays on the arena's middle (following would only slide the whole arena about).
 */
export function cameraAxis(target, view, arena) {
  if (view >= arena) return arena / 2;
  const half = view / 2;
  return target < half ? half : target > arena - half ? arena - half : target;
}

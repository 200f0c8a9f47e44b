// scene.js: turns a tick state (wire units) into what the renderer draws (world units, radians).
//
// This is the seam for smoothing: today buildScene() copies the newest applied state as is; later interp.js can
// fill remote players and bullets from two states and a fractional tick, and predict.js can overwrite the own
// player, without the renderer or the store changing. Views are pooled and reused, so a frame allocates nothing.

import {
  B_SPAWN_TICK,
  B_VX,
  B_VY,
  B_X,
  B_Y,
  B_OWNER,
  KIND_BULLET,
  KIND_PLAYER,
  P_AIM,
  P_HP,
  P_RESPAWN,
  P_SCORE,
  P_X,
  P_Y,
  aimToRadians,
  toWorld,
} from './protocol.js';

/** A player as drawn. */
export class PlayerView {
  constructor() {
    this.id = 0;
    this.name = '';
    this.x = 0;
    this.y = 0;
    /** Radians, clockwise on screen from +x. */
    this.aim = 0;
    this.hp = 0;
    this.score = 0;
    /** Ticks until respawn, 0 while alive. */
    this.respawn = 0;
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
      p.id = e.id;
      p.name = e.name;
      p.x = toWorld(f[P_X]);
      p.y = toWorld(f[P_Y]);
      p.aim = aimToRadians(f[P_AIM]);
      p.hp = f[P_HP];
      p.score = f[P_SCORE];
      p.respawn = f[P_RESPAWN];
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

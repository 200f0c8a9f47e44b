// render.js: draws a scene on a Canvas 2D: the map, bullets, players, then the HUD (hud.js) on top.
//
// It only draws: it reads a Scene (scene.js), the map and rules from welcome, and a HUD model, and remembers where
// the own player landed on screen so main.js can turn the mouse into an aim. The canvas follows the window size and
// devicePixelRatio; the camera follows the own player at a zoom that shows about the same area on every screen.

import { drawBanner, drawFeed, drawOverlay, drawScoreboard } from './hud.js';

/** World units the view aims to show (the zoom fits this box into the window). */
const VIEW_W = 1280;
const VIEW_H = 720;
const GRID = 100;

const COLOR = {
  background: '#0d1016',
  floor: '#161b24',
  grid: '#1e2531',
  bounds: '#4c566a',
  wall: '#3b4252',
  wallEdge: '#4c566a',
  self: '#5fd3a8',
  other: '#e0796b',
  selfBullet: '#b8f5dc',
  otherBullet: '#ffd0a8',
  name: '#e5e9f0',
  hpBack: 'rgba(0,0,0,0.55)',
  hpGood: '#8fd46a',
  hpLow: '#e8b04a',
  hpBad: '#e05a4a',
  aim: 'rgba(255,255,255,0.75)',
};

export class Renderer {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    /** Canvas size in CSS pixels. */
    this.width = 0;
    this.height = 0;
    this.dpr = 1;
    /** World-to-screen transform: screen = (world - cam) * scale + half size. */
    this.camX = 0;
    this.camY = 0;
    this.scale = 1;
    /** Where the own player was drawn last frame, in CSS pixels; meaningful only while ownOnScreen. */
    this.ownScreenX = 0;
    this.ownScreenY = 0;
    this.ownOnScreen = false;
    /** Cached "2.3s" labels by remaining ticks, so a countdown does not build a string every frame. */
    this.respawnLabels = [];
    this.respawnLabelRate = 0;
    /** Name font in world units, rebuilt only when the zoom changes. */
    this.font = '';
    this.fontScale = 0;
  }

  /** Matches the backing store to the CSS size and devicePixelRatio (cheap when nothing changed). */
  resize() {
    const dpr = globalThis.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    const bw = Math.max(1, Math.round(w * dpr));
    const bh = Math.max(1, Math.round(h * dpr));
    if (this.canvas.width !== bw || this.canvas.height !== bh) {
      this.canvas.width = bw;
      this.canvas.height = bh;
    }
    this.width = w;
    this.height = h;
    this.dpr = dpr;
  }

  /**
   * Draws one frame. `world` is `{map, rules, tickRate}` from welcome (null before it); `hud` is the model hud.js
   * draws: `{feed, overlayLines, overlayVisible, banner, now}`.
   */
  draw(scene, world, hud) {
    this.resize();
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = COLOR.background;
    ctx.fillRect(0, 0, this.width, this.height);
    this.ownOnScreen = false;

    if (world !== null) {
      this.placeCamera(scene, world.map);
      const s = this.scale;
      ctx.setTransform(
        this.dpr * s,
        0,
        0,
        this.dpr * s,
        this.dpr * (this.width / 2 - this.camX * s),
        this.dpr * (this.height / 2 - this.camY * s),
      );
      this.drawMap(world.map);
      this.drawBullets(scene, world.rules);
      this.drawPlayers(scene, world);
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      drawScoreboard(ctx, scene, this.width);
    }
    drawFeed(ctx, hud.feed, hud.now);
    if (hud.overlayVisible) drawOverlay(ctx, hud.overlayLines, this.height);
    if (hud.banner) drawBanner(ctx, hud.banner, this.width, this.height);
  }

  placeCamera(scene, map) {
    this.scale = clamp(Math.min(this.width / VIEW_W, this.height / VIEW_H), 0.35, 3);
    if (scene.own !== null) {
      this.camX = scene.own.x;
      this.camY = scene.own.y;
      this.ownScreenX = this.width / 2;
      this.ownScreenY = this.height / 2;
      this.ownOnScreen = true;
    } else {
      this.camX = map.width / 2;
      this.camY = map.height / 2;
    }
  }

  drawMap(map) {
    const ctx = this.ctx;
    ctx.fillStyle = COLOR.floor;
    ctx.fillRect(0, 0, map.width, map.height);

    ctx.beginPath();
    for (let x = GRID; x < map.width; x += GRID) {
      ctx.moveTo(x, 0);
      ctx.lineTo(x, map.height);
    }
    for (let y = GRID; y < map.height; y += GRID) {
      ctx.moveTo(0, y);
      ctx.lineTo(map.width, y);
    }
    ctx.strokeStyle = COLOR.grid;
    ctx.lineWidth = 1 / this.scale;
    ctx.stroke();

    ctx.fillStyle = COLOR.wall;
    ctx.strokeStyle = COLOR.wallEdge;
    ctx.lineWidth = 2 / this.scale;
    const walls = map.walls;
    for (let i = 0; i < walls.length; i++) {
      const w = walls[i];
      ctx.fillRect(w.x, w.y, w.w, w.h);
      ctx.strokeRect(w.x, w.y, w.w, w.h);
    }

    ctx.strokeStyle = COLOR.bounds;
    ctx.lineWidth = 4 / this.scale;
    ctx.strokeRect(0, 0, map.width, map.height);
  }

  drawBullets(scene, rules) {
    const ctx = this.ctx;
    const r = Math.max(rules.bulletRadius, 1.5);
    const ownId = scene.own !== null ? scene.own.id : 0;
    for (let pass = 0; pass < 2; pass++) {
      const own = pass === 0;
      ctx.fillStyle = own ? COLOR.selfBullet : COLOR.otherBullet;
      ctx.beginPath();
      for (let i = 0; i < scene.bulletCount; i++) {
        const b = scene.bullets[i];
        if ((b.owner === ownId) !== own) continue;
        ctx.moveTo(b.x + r, b.y);
        ctx.arc(b.x, b.y, r, 0, Math.PI * 2);
      }
      ctx.fill();
    }
  }

  drawPlayers(scene, world) {
    const ctx = this.ctx;
    const r = world.rules.playerRadius;
    const maxHp = world.rules.maxHp > 0 ? world.rules.maxHp : 100;
    const inv = 1 / this.scale;
    ctx.textAlign = 'center';
    if (this.fontScale !== this.scale) {
      this.fontScale = this.scale;
      this.font = `${(13 * inv).toFixed(2)}px system-ui, sans-serif`;
    }
    ctx.font = this.font;
    // The own player last, so it is never hidden under someone else.
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < scene.playerCount; i++) {
        const p = scene.players[i];
        if (p.own !== (pass === 1)) continue;
        this.drawPlayer(p, r, maxHp, inv, world.tickRate);
      }
    }
    ctx.globalAlpha = 1;
  }

  drawPlayer(p, r, maxHp, inv, tickRate) {
    const ctx = this.ctx;
    const dead = p.hp <= 0;
    ctx.globalAlpha = dead ? 0.3 : 1;

    ctx.fillStyle = p.own ? COLOR.self : COLOR.other;
    ctx.beginPath();
    ctx.arc(p.x, p.y, r, 0, Math.PI * 2);
    ctx.fill();

    const cos = Math.cos(p.aim);
    const sin = Math.sin(p.aim);
    ctx.strokeStyle = COLOR.aim;
    ctx.lineWidth = 3 * inv;
    ctx.beginPath();
    ctx.moveTo(p.x + cos * r * 0.4, p.y + sin * r * 0.4);
    ctx.lineTo(p.x + cos * (r + 14 * inv), p.y + sin * (r + 14 * inv));
    ctx.stroke();

    // hp bar, then the name above it
    const barW = Math.max(r * 2, 36 * inv);
    const barH = 5 * inv;
    const barY = p.y - r - 10 * inv;
    ctx.fillStyle = COLOR.hpBack;
    ctx.fillRect(p.x - barW / 2, barY, barW, barH);
    const frac = clamp(p.hp / maxHp, 0, 1);
    ctx.fillStyle = frac > 0.5 ? COLOR.hpGood : frac > 0.25 ? COLOR.hpLow : COLOR.hpBad;
    ctx.fillRect(p.x - barW / 2, barY, barW * frac, barH);

    ctx.fillStyle = COLOR.name;
    ctx.textBaseline = 'bottom';
    ctx.fillText(p.name, p.x, barY - 3 * inv);

    if (dead && p.respawn > 0) {
      ctx.globalAlpha = 0.9;
      ctx.textBaseline = 'middle';
      ctx.fillText(this.respawnLabel(p.respawn, tickRate), p.x, p.y);
    }
  }

  respawnLabel(ticks, tickRate) {
    if (this.respawnLabelRate !== tickRate) {
      this.respawnLabels.length = 0;
      this.respawnLabelRate = tickRate;
    }
    let label = this.respawnLabels[ticks];
    if (label === undefined) {
      label = `${(ticks / tickRate).toFixed(1)}s`;
      if (ticks < 10000) this.respawnLabels[ticks] = label;
    }
    return label;
  }
}

function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

// render.js: draws a scene on a Canvas 2D: the map, bullets, players, hit and death effects, then the HUD (hud.js)
// on top, the hit marker (effects.js) around the crosshair among it.
//
// It only draws: it reads a Scene (scene.js), the map and rules from welcome, the effects (effects.js) and a HUD
// model, and remembers where the own player landed on screen so main.js can turn the mouse into an aim. The canvas
// follows the window size and devicePixelRatio; the camera follows the own player but stays inside the arena
// (scene.js's cameraAxis; a spectator's camera is given) at a zoom that shows about the same area on every screen.
// The minimap's walls are drawn once per map into an offscreen canvas. A player whose seat is held without a
// connection (FLAG_DISCONNECTED) is drawn grey and translucent, "(disconnected)" under its name.

import { DEATH, HIT, OWN_HIT_FLASH_MS } from './effects.js';
import { cameraAxis } from './scene.js';
import {
  drawBanner,
  drawFeed,
  drawHitFlash,
  drawHitMarker,
  drawMinimap,
  drawOverlay,
  drawScoreboard,
  drawSpectatorBar,
  minimapSize,
  scoreboardRowsFor,
} from './hud.js';

/** World units the view aims to show (the zoom fits this box into the window). */
const VIEW_W = 1280;
const VIEW_H = 720;
const GRID = 100;
/** Without a mouse, the hit marker is drawn this far (CSS pixels) ahead of the own player along its aim. */
const CROSSHAIR_AHEAD = 90;

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
  hit: '#ffb3a6',
  death: '#e05a4a',
  ownKill: '#ffd36a',
  minimapWall: '#6b7487',
  disconnected: '#7b8394',
  disconnectedLabel: '#aeb5c2',
};

/** Opacity of a disconnected player (a dead one is fainter still). */
const DISCONNECTED_ALPHA = 0.45;
const DISCONNECTED_LABEL = '(disconnected)';

/** Directions of the death burst's sparks (unit vectors), computed once. */
const SPARKS = 10;
const SPARK_COS = new Float64Array(SPARKS);
const SPARK_SIN = new Float64Array(SPARKS);
for (let i = 0; i < SPARKS; i++) {
  SPARK_COS[i] = Math.cos((i / SPARKS) * Math.PI * 2 + 0.3);
  SPARK_SIN[i] = Math.sin((i / SPARKS) * Math.PI * 2 + 0.3);
}

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
    /** Name font (and the smaller one of the "(disconnected)" label) in world units, rebuilt only on a new zoom. */
    this.font = '';
    this.smallFont = '';
    this.fontScale = 0;
    /** The minimap's walls, drawn once per map (null until needed or without a DOM). */
    this.minimapMap = null;
    this.minimapImage = null;
    this.minimap = { w: 0, h: 0 };
    /** The part of the world on screen, world units (for culling and the minimap). */
    this.view = { x0: 0, y0: 0, x1: 0, y1: 0 };
    /** The scoreboard's rows drawn last frame (player views or roster entries), top to bottom. */
    this.scoreboardRows = [];
    /** Where the hit marker was last placed, CSS pixels. */
    this.crosshairX = 0;
    this.crosshairY = 0;
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
   * draws: `{feed, overlayLines, overlayVisible, banner, bannerProgress, sortMode, now}`, `crosshair` (`{x, y}` CSS
   * pixels: where the mouse points, null when unknown; the hit marker is drawn there, or ahead of the own player
   * along its aim without it), and for a spectator
   * `highlightId` (the followed player, drawn and listed like an own player), `spectatorTitle` and `spectatorHint`
   * (null when playing), and `board` what the scoreboard lists instead of the scene's players (a spectator's whole
   * room, spectate.js's RosterBoard; null or absent: the scene's); `effects` the hit and death effects (effects.js)
   * or null; `camera` a spectator's camera centre (`{x, y}` world units), or null to follow the own player.
   */
  draw(scene, world, hud, effects, camera = null) {
    this.resize();
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = COLOR.background;
    ctx.fillRect(0, 0, this.width, this.height);
    this.ownOnScreen = false;
    this.scoreboardRows.length = 0;

    if (world !== null) {
      this.placeCamera(scene, world.map, camera);
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
      this.drawBullets(scene, world.rules, hud.highlightId ?? 0);
      this.drawPlayers(scene, world, hud.highlightId ?? 0);
      if (effects !== null) this.drawEffects(effects, world.rules.playerRadius, hud.now);
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      if (effects !== null) {
        drawHitFlash(ctx, this.width, this.height, 1 - (hud.now - effects.ownHitTime) / OWN_HIT_FLASH_MS);
        const marker = effects.hitMarkerStrength(hud.now);
        if (marker > 0 && this.placeCrosshair(scene, hud.crosshair ?? null)) {
          drawHitMarker(ctx, this.crosshairX, this.crosshairY, marker, effects.hitMarkerKill);
        }
      }
      const highlight = hud.highlightId ?? 0;
      const spectating = hud.spectatorTitle != null;
      const rows = spectating ? scoreboardRowsFor(this.height) : undefined;
      const listed = hud.board ?? scene;
      drawScoreboard(ctx, listed, this.width, hud.sortMode, highlight, rows, this.scoreboardRows);
      const mm = minimapSize(world.map, this.minimap);
      const ring = scene.own ?? findPlayer(scene, highlight);
      const walls = this.minimapWalls(world.map);
      drawMinimap(ctx, scene, world.map, walls, mm.w, mm.h, this.width, this.height, this.view, ring);
      if (spectating) drawSpectatorBar(ctx, hud.spectatorTitle, hud.spectatorHint ?? '', this.width, this.height);
    }
    drawFeed(ctx, hud.feed, hud.now);
    if (hud.overlayVisible) drawOverlay(ctx, hud.overlayLines, this.height);
    if (hud.banner) drawBanner(ctx, hud.banner, this.width, this.height, hud.bannerProgress);
  }

  /**
   * Where the crosshair is (CSS pixels, into crosshairX/Y): the mouse when known, else CROSSHAIR_AHEAD pixels ahead
   * of the own player along its aim. Returns false when neither is known.
   */
  placeCrosshair(scene, mouse) {
    if (mouse !== null) {
      this.crosshairX = mouse.x;
      this.crosshairY = mouse.y;
      return true;
    }
    if (!this.ownOnScreen || scene.own === null) return false;
    this.crosshairX = this.ownScreenX + Math.cos(scene.own.aim) * CROSSHAIR_AHEAD;
    this.crosshairY = this.ownScreenY + Math.sin(scene.own.aim) * CROSSHAIR_AHEAD;
    return true;
  }

  /** The minimap's wall picture for `map`, drawn at the minimap's size times devicePixelRatio once per map. */
  minimapWalls(map) {
    if (this.minimapMap === map && this.minimapImage !== null) return this.minimapImage;
    this.minimapMap = map;
    this.minimapImage = null;
    if (typeof document === 'undefined') return null;
    const size = minimapSize(map, { w: 0, h: 0 });
    const dpr = this.dpr;
    const c = document.createElement('canvas');
    c.width = Math.max(1, Math.round(size.w * dpr));
    c.height = Math.max(1, Math.round(size.h * dpr));
    const g = c.getContext('2d');
    const k = (size.w * dpr) / map.width;
    g.fillStyle = 'rgba(22, 27, 36, 0.9)';
    g.fillRect(0, 0, c.width, c.height);
    g.fillStyle = COLOR.minimapWall;
    for (let i = 0; i < map.walls.length; i++) {
      const w = map.walls[i];
      g.fillRect(w.x * k, w.y * k, Math.max(w.w * k, 1), Math.max(w.h * k, 1));
    }
    this.minimapImage = c;
    return c;
  }

  /** Hit rings and death bursts, in world space; they fade as they grow. */
  drawEffects(effects, radius, now) {
    const ctx = this.ctx;
    const inv = 1 / this.scale;
    for (let i = 0; i < effects.count; i++) {
      const e = effects.items[i];
      const t = (now - e.start) / e.duration;
      if (t < 0 || t >= 1) continue;
      ctx.globalAlpha = 1 - t;
      if (e.kind === HIT) {
        ctx.strokeStyle = COLOR.hit;
        ctx.lineWidth = (2 + Math.min(e.amount, 50) / 10) * inv;
        ctx.beginPath();
        ctx.arc(e.x, e.y, radius * (1 + 0.8 * t), 0, Math.PI * 2);
        ctx.stroke();
      } else if (e.kind === DEATH) {
        const color = e.byOwn ? COLOR.ownKill : e.own ? COLOR.self : COLOR.death;
        ctx.fillStyle = color;
        ctx.globalAlpha = (1 - t) * 0.35;
        ctx.beginPath();
        ctx.arc(e.x, e.y, radius * (0.6 + 2.2 * t), 0, Math.PI * 2);
        ctx.fill();
        ctx.globalAlpha = 1 - t;
        ctx.strokeStyle = color;
        ctx.lineWidth = 3 * inv;
        ctx.beginPath();
        const r0 = radius * (0.4 + 1.6 * t);
        const r1 = radius * (0.9 + 2.6 * t);
        for (let k = 0; k < SPARKS; k++) {
          ctx.moveTo(e.x + SPARK_COS[k] * r0, e.y + SPARK_SIN[k] * r0);
          ctx.lineTo(e.x + SPARK_COS[k] * r1, e.y + SPARK_SIN[k] * r1);
        }
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
  }

  placeCamera(scene, map, camera) {
    this.scale = clamp(Math.min(this.width / VIEW_W, this.height / VIEW_H), 0.35, 3);
    if (camera !== null) {
      this.camX = camera.x;
      this.camY = camera.y;
    } else if (scene.own !== null) {
      // Kept inside the arena (scene.js's cameraAxis), so the own player is off centre near an edge: the aim
      // (main.js) takes its screen position from here.
      this.camX = cameraAxis(scene.own.x, this.width / this.scale, map.width);
      this.camY = cameraAxis(scene.own.y, this.height / this.scale, map.height);
      this.ownScreenX = this.width / 2 + (scene.own.x - this.camX) * this.scale;
      this.ownScreenY = this.height / 2 + (scene.own.y - this.camY) * this.scale;
      this.ownOnScreen = true;
    } else {
      this.camX = map.width / 2;
      this.camY = map.height / 2;
    }
    const v = this.view;
    v.x0 = this.camX - this.width / 2 / this.scale;
    v.x1 = this.camX + this.width / 2 / this.scale;
    v.y0 = this.camY - this.height / 2 / this.scale;
    v.y1 = this.camY + this.height / 2 / this.scale;
  }

  /** Whether a point is within `margin` world units of the visible part of the world. */
  inView(x, y, margin) {
    const v = this.view;
    return x >= v.x0 - margin && x <= v.x1 + margin && y >= v.y0 - margin && y <= v.y1 + margin;
  }

  drawMap(map) {
    const ctx = this.ctx;
    ctx.fillStyle = COLOR.floor;
    ctx.fillRect(0, 0, map.width, map.height);

    // Grid lines only where the view is.
    const gv = this.view;
    const gx1 = Math.min(map.width, gv.x1);
    const gy1 = Math.min(map.height, gv.y1);
    const gy0 = Math.max(0, gv.y0);
    const gx0 = Math.max(0, gv.x0);
    ctx.beginPath();
    for (let x = Math.max(GRID, Math.ceil(gx0 / GRID) * GRID); x < gx1; x += GRID) {
      ctx.moveTo(x, gy0);
      ctx.lineTo(x, gy1);
    }
    for (let y = Math.max(GRID, Math.ceil(gy0 / GRID) * GRID); y < gy1; y += GRID) {
      ctx.moveTo(gx0, y);
      ctx.lineTo(gx1, y);
    }
    ctx.strokeStyle = COLOR.grid;
    ctx.lineWidth = 1 / this.scale;
    ctx.stroke();

    ctx.fillStyle = COLOR.wall;
    ctx.strokeStyle = COLOR.wallEdge;
    ctx.lineWidth = 2 / this.scale;
    const walls = map.walls;
    const v = this.view;
    for (let i = 0; i < walls.length; i++) {
      const w = walls[i];
      if (w.x > v.x1 || w.y > v.y1 || w.x + w.w < v.x0 || w.y + w.h < v.y0) continue;
      ctx.fillRect(w.x, w.y, w.w, w.h);
      ctx.strokeRect(w.x, w.y, w.w, w.h);
    }

    ctx.strokeStyle = COLOR.bounds;
    ctx.lineWidth = 4 / this.scale;
    ctx.strokeRect(0, 0, map.width, map.height);
  }

  drawBullets(scene, rules, highlightId) {
    const ctx = this.ctx;
    const r = Math.max(rules.bulletRadius, 1.5);
    const ownId = scene.own !== null ? scene.own.id : highlightId;
    for (let pass = 0; pass < 2; pass++) {
      const own = pass === 0;
      ctx.fillStyle = own ? COLOR.selfBullet : COLOR.otherBullet;
      ctx.beginPath();
      for (let i = 0; i < scene.bulletCount; i++) {
        const b = scene.bullets[i];
        if ((b.owner === ownId) !== own || !this.inView(b.x, b.y, r)) continue;
        ctx.moveTo(b.x + r, b.y);
        ctx.arc(b.x, b.y, r, 0, Math.PI * 2);
      }
      ctx.fill();
    }
  }

  drawPlayers(scene, world, highlightId) {
    const ctx = this.ctx;
    const r = world.rules.playerRadius;
    const maxHp = world.rules.maxHp > 0 ? world.rules.maxHp : 100;
    const inv = 1 / this.scale;
    ctx.textAlign = 'center';
    if (this.fontScale !== this.scale) {
      this.fontScale = this.scale;
      this.font = `${(13 * inv).toFixed(2)}px system-ui, sans-serif`;
      this.smallFont = `italic ${(11 * inv).toFixed(2)}px system-ui, sans-serif`;
    }
    ctx.font = this.font;
    // The own player last, so it is never hidden under someone else.
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < scene.playerCount; i++) {
        const p = scene.players[i];
        const own = p.own || (highlightId !== 0 && p.id === highlightId);
        if (own !== (pass === 1)) continue;
        if (!own && !this.inView(p.x, p.y, r + 60)) continue;
        this.drawPlayer(p, own, r, maxHp, inv, world.tickRate);
      }
    }
    ctx.globalAlpha = 1;
  }

  drawPlayer(p, own, r, maxHp, inv, tickRate) {
    const ctx = this.ctx;
    const dead = p.hp <= 0;
    const away = p.disconnected;
    const alpha = dead ? 0.3 : 1;
    ctx.globalAlpha = away ? alpha * DISCONNECTED_ALPHA : alpha;

    ctx.fillStyle = away ? COLOR.disconnected : own ? COLOR.self : COLOR.other;
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
    if (away) {
      // The label sits between the name and the hp bar, the name one line higher; both stay readable.
      ctx.globalAlpha = 0.85;
      ctx.fillText(p.name, p.x, barY - 16 * inv);
      ctx.font = this.smallFont;
      ctx.fillStyle = COLOR.disconnectedLabel;
      ctx.fillText(DISCONNECTED_LABEL, p.x, barY - 3 * inv);
      ctx.font = this.font;
      ctx.fillStyle = COLOR.name;
    } else {
      ctx.fillText(p.name, p.x, barY - 3 * inv);
    }

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

/** The player view with id `id` in `scene`, or null (also for id 0). */
function findPlayer(scene, id) {
  if (id === 0) return null;
  for (let i = 0; i < scene.playerCount; i++) if (scene.players[i].id === id) return scene.players[i];
  return null;
}

function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

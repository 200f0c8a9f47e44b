// Hit and death effects and the hit marker (effects.js), the scoreboard order and the hit marker's drawing (hud.js),
// where the renderer puts the marker (render.js) and the frame-rate meter (stats.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEATH, DEATH_MS, Effects, HIT, HIT_MARKER_MS } from '../effects.js';
import { SORT_NAME, SORT_SCORE, drawHitMarker, sortPlayers } from '../hud.js';
import { Renderer } from '../render.js';
import { Scene, setIdentity } from '../scene.js';
import { FpsMeter } from '../stats.js';

/** A scene with players given as [id, name, hp, x, y, own?]. */
function sceneOf(scene, list) {
  scene.playerCount = 0;
  scene.own = null;
  for (const [id, name, hp, x, y, own = false] of list) {
    const p = scene.nextPlayer();
    setIdentity(p, { id, name });
    p.hp = hp;
    p.x = x;
    p.y = y;
    p.own = own;
    if (own) scene.own = p;
  }
  return scene;
}

test('an hp drop starts a hit ring where the player is drawn, a drop to 0 a death burst', () => {
  const fx = new Effects();
  const scene = new Scene();
  fx.observe(sceneOf(scene, [[1, 'a', 100, 10, 20], [2, 'b', 40, 0, 0, true]]), 0);
  assert.equal(fx.count, 0, 'nothing on first sight');
  fx.observe(sceneOf(scene, [[1, 'a', 80, 11, 21], [2, 'b', 20, 0, 0, true]]), 16);
  assert.equal(fx.count, 2);
  assert.equal(fx.items[0].kind, HIT);
  assert.deepEqual([fx.items[0].x, fx.items[0].y, fx.items[0].amount], [11, 21, 20]);
  assert.equal(fx.ownHitTime, 16, 'the own player was hit: the screen flashes');
  fx.noteKill(2, 1, 2, 20);
  fx.observe(sceneOf(scene, [[1, 'a', 0, 12, 22], [2, 'b', 20, 0, 0, true]]), 32);
  const death = fx.items.slice(0, fx.count).find((e) => e.kind === DEATH);
  assert.ok(death);
  assert.equal(death.byOwn, true, 'the own player scored this kill');
  assert.equal(fx.deaths, 1);
  // Respawning (0 -> 100) is not a hit; effects end after their duration.
  fx.observe(sceneOf(scene, [[1, 'a', 100, 500, 500], [2, 'b', 20, 0, 0, true]]), 48);
  assert.equal(fx.hits, 2);
  fx.observe(scene, 48 + DEATH_MS);
  assert.equal(fx.count, 0);
});

test('a player gone for a frame starts over (a reused id is not a drop)', () => {
  const fx = new Effects();
  const scene = new Scene();
  fx.observe(sceneOf(scene, [[1, 'a', 100, 0, 0]]), 0);
  fx.observe(sceneOf(scene, []), 16);
  fx.observe(sceneOf(scene, [[1, 'new', 60, 0, 0]]), 32);
  assert.equal(fx.count, 0);
  assert.equal(fx.tracks.size, 1);
});

test('the scoreboard sorts by kills or by name', () => {
  const scene = sceneOf(new Scene(), [[3, 'cy', 100, 0, 0], [1, 'Bob', 100, 0, 0], [2, 'ana', 100, 0, 0]]);
  scene.players[0].score = 1;
  scene.players[1].score = 5;
  scene.players[2].score = 1;
  const list = scene.players.slice(0, 3);
  assert.deepEqual(sortPlayers(list, SORT_SCORE).map((p) => p.name), ['Bob', 'ana', 'cy']);
  assert.deepEqual(sortPlayers(list, SORT_NAME).map((p) => p.name), ['ana', 'Bob', 'cy']);
  const bots = sceneOf(new Scene(), [[1, 'bot10', 1, 0, 0], [2, 'bot2', 1, 0, 0], [3, 'Bot1', 1, 0, 0]]);
  const names = sortPlayers(bots.players.slice(0, 3), SORT_NAME).map((p) => p.name);
  assert.deepEqual(names, ['Bot1', 'bot2', 'bot10'], 'numbers in names by value');
});

test('the frame-rate meter counts frames per window', () => {
  const m = new FpsMeter(1000);
  m.frame(0);
  for (let i = 1; i <= 60; i++) m.frame(i * (1000 / 60));
  assert.ok(Math.abs(m.fps - 60) < 1e-6);
});

test('the hit marker shows for 200 ms after a confirmed hit, fading; a kill shows as a kill', () => {
  const fx = new Effects();
  assert.equal(HIT_MARKER_MS, 200);
  assert.equal(fx.hitMarkerStrength(0), 0, 'none before any hit');
  fx.noteHitMarker(false, 1000);
  assert.equal(fx.hitMarkerStrength(1000), 1);
  assert.equal(fx.hitMarkerStrength(1100), 0.5);
  assert.ok(fx.hitMarkerStrength(1199) > 0);
  assert.equal(fx.hitMarkerStrength(1200), 0, 'gone at 200 ms');
  assert.equal(fx.hitMarkerStrength(999), 0, 'not before it started');
  assert.equal(fx.hitMarkerKill, false);
  // A kill; a plain hit 50 ms later starts the marker over but keeps the kill's look while it would still show.
  fx.noteHitMarker(true, 2000);
  assert.equal(fx.hitMarkerKill, true);
  fx.noteHitMarker(false, 2050);
  assert.equal(fx.hitMarkerKill, true);
  assert.ok(fx.hitMarkerStrength(2249) > 0, '200 ms from the newest hit');
  assert.equal(fx.hitMarkerStrength(2250), 0);
  // A plain hit after the kill marker is gone is a plain hit again.
  fx.noteHitMarker(false, 2400);
  assert.equal(fx.hitMarkerKill, false);
  assert.equal(fx.hitMarkers, 4);
});

/** A 2D context that records strokes (their style and width and the segments of their paths). */
function recordingContext() {
  const ctx = {
    strokes: [],
    path: [],
    globalAlpha: 1,
    strokeStyle: '',
    lineWidth: 1,
    lineCap: 'butt',
    beginPath() {
      this.path = [];
    },
    moveTo(x, y) {
      this.path.push([x, y]);
    },
    lineTo(x, y) {
      this.path.push([x, y]);
    },
    stroke() {
      this.strokes.push({ style: this.strokeStyle, width: this.lineWidth, alpha: this.globalAlpha, path: this.path });
    },
  };
  return ctx;
}

test('the hit marker is an X around the crosshair, larger and gold for a kill', () => {
  const hit = recordingContext();
  drawHitMarker(hit, 100, 50, 1, false);
  assert.equal(hit.strokes.length, 1);
  const h = hit.strokes[0];
  assert.equal(h.path.length, 8, 'four strokes');
  // Symmetric around the crosshair, none of it on it.
  const cx = h.path.reduce((a, p) => a + p[0], 0) / 8;
  const cy = h.path.reduce((a, p) => a + p[1], 0) / 8;
  assert.ok(Math.abs(cx - 100) < 1e-9 && Math.abs(cy - 50) < 1e-9);
  assert.ok(h.path.every(([x, y]) => Math.hypot(x - 100, y - 50) >= 5 - 1e-9));
  const kill = recordingContext();
  drawHitMarker(kill, 100, 50, 1, true);
  const k = kill.strokes[0];
  assert.notEqual(k.style, h.style, 'a kill has its own colour');
  assert.ok(k.width > h.width);
  const reach = (s) => Math.max(...s.path.map(([x, y]) => Math.hypot(x - 100, y - 50)));
  assert.ok(reach(k) > reach(h));
  // Fading: drawn fainter; nothing at strength 0.
  const faded = recordingContext();
  drawHitMarker(faded, 0, 0, 0.25, false);
  assert.equal(faded.strokes[0].alpha, 0.25);
  assert.equal(hit.globalAlpha, 1, 'the context is left opaque');
  const none = recordingContext();
  drawHitMarker(none, 0, 0, 0, true);
  assert.equal(none.strokes.length, 0);
});

test('the renderer puts the marker at the mouse, else ahead of the own player along its aim', () => {
  const renderer = new Renderer({ getContext: () => ({}) });
  const scene = new Scene();
  assert.equal(renderer.placeCrosshair(scene, null), false, 'no mouse, no own player');
  assert.equal(renderer.placeCrosshair(scene, { x: 320, y: 200 }), true);
  assert.deepEqual([renderer.crosshairX, renderer.crosshairY], [320, 200]);
  sceneOf(scene, [[7, 'me', 100, 0, 0, true]]);
  scene.own.aim = Math.PI / 2;
  renderer.ownOnScreen = true;
  renderer.ownScreenX = 400;
  renderer.ownScreenY = 300;
  assert.equal(renderer.placeCrosshair(scene, null), true);
  assert.ok(Math.abs(renderer.crosshairX - 400) < 1e-9);
  assert.ok(renderer.crosshairY > 300, 'aiming down the screen');
});

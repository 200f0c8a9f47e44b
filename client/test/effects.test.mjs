// Hit and death effects (effects.js), the scoreboard order (hud.js) and the frame-rate meter (stats.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEATH, DEATH_MS, Effects, HIT } from '../effects.js';
import { SORT_NAME, SORT_SCORE, sortPlayers } from '../hud.js';
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

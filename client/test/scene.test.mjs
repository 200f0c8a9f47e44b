// scene.js (what the renderer draws) and feed.js (kill feed lines), both pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scene, buildScene, cameraAxis, placeOwn } from '../scene.js';
import { KillFeed } from '../feed.js';
import { TickState } from '../state.js';

const state = (tick, list) => new TickState(tick, 0, new Map(list.map((e) => [e.id, e])));
const player = (id, x, y, name, hp = 100, respawn = 0) => ({
  id,
  kind: 0,
  fields: [x, y, 0, 0, 64, hp, 2, respawn],
  name,
});

test('builds world-unit views, bullets from origin + velocity * (tick - spawn_tick) * dt', () => {
  const scene = new Scene();
  const s = state(40, [
    player(7, 19200, 12800, 'ana'),
    player(8, 160, 320, 'bob', 0, 45),
    { id: 65536, kind: 1, fields: [160, 320, 14400, -1600, 8, 37], name: null },
  ]);
  buildScene(scene, s, 7, 1 / 30);
  assert.equal(scene.tick, 40);
  assert.equal(scene.playerCount, 2);
  assert.equal(scene.own.name, 'ana');
  assert.equal(scene.own.x, 1200);
  assert.equal(scene.own.y, 800);
  assert.equal(scene.own.aim, Math.PI / 2);
  const bob = scene.players.find((p) => p.id === 8);
  assert.equal(bob.own, false);
  assert.equal(bob.respawn, 45);
  assert.equal(scene.bulletCount, 1);
  // 3 ticks old at 900 units/s to the right and 100 up: (10 + 90, 20 - 10)
  assert.ok(Math.abs(scene.bullets[0].x - 100) < 1e-9);
  assert.ok(Math.abs(scene.bullets[0].y - 10) < 1e-9);
});

test('reuses its views from frame to frame', () => {
  const scene = new Scene();
  const s = state(1, [player(1, 0, 0, 'a'), player(2, 0, 0, 'b')]);
  buildScene(scene, s, 1, 1 / 30);
  const views = scene.players.slice();
  buildScene(scene, s, 1, 1 / 30);
  assert.deepEqual(scene.players, views);
  assert.equal(scene.players[0], views[0]);
  buildScene(scene, state(2, [player(2, 0, 0, 'b')]), 1, 1 / 30);
  assert.equal(scene.playerCount, 1);
  assert.equal(scene.own, null);
  buildScene(scene, null, 1, 1 / 30);
  assert.equal(scene.playerCount, 0);
  assert.equal(scene.tick, 0);
});

test('the kill feed names players from the newest state, the previous one, or join events', () => {
  const feed = new KillFeed(3, 1000);
  const prev = state(1, [player(1, 0, 0, 'ana'), player(2, 0, 0, 'bob')]);
  const now = state(2, [player(1, 0, 0, 'ana')]);
  feed.handle(
    [
      { tick: 2, kind: 2, playerId: 3, name: 'cy' },
      { tick: 2, kind: 1, killer: 1, victim: 2 },
      { tick: 2, kind: 3, playerId: 2 },
      { tick: 2, kind: 3, playerId: 3 },
      { tick: 2, kind: 42 },
    ],
    now,
    prev,
    2,
    100,
  );
  assert.deepEqual(
    feed.entries.map((e) => [e.text, e.own]),
    [
      ['ana killed bob', true],
      ['bob left', false],
      ['cy left', false],
    ],
  );
  feed.handle([{ tick: 3, kind: 1, killer: 9, victim: 9 }], now, prev, 2, 600);
  assert.equal(feed.entries.at(-1).text, '#9 died');
  feed.prune(1150);
  assert.deepEqual(
    feed.entries.map((e) => e.text),
    ['#9 died'],
  );
});

test('a player whose flags hold FLAG_DISCONNECTED is marked disconnected in its view, own or not', () => {
  const scene = new Scene();
  const flagged = (id, name, flags) => ({ id, kind: 0, fields: [0, 0, 0, 0, 0, 100, 0, 0, flags], name });
  buildScene(scene, state(3, [flagged(1, 'ana', 0), flagged(2, 'bob', 1), flagged(3, 'cy', 0b11)]), 1, 1 / 30);
  const byId = (id) => scene.players.slice(0, scene.playerCount).find((p) => p.id === id);
  assert.deepEqual([byId(1).disconnected, byId(2).disconnected, byId(3).disconnected], [false, true, true]);
  // A pooled view loses the mark when its player is back.
  buildScene(scene, state(4, [flagged(2, 'bob', 0)]), 1, 1 / 30);
  assert.equal(scene.players[0].disconnected, false);
  scene.playerCount = 0;
  assert.equal(placeOwn(scene, flagged(1, 'ana', 1), 5, 6, 0).disconnected, true);
});

test('camera: in an arena larger than the view it follows the player but stops half a view from each edge', () => {
  // 2400 units of arena, 1280 on screen: the centre ranges over 640..1760.
  assert.equal(cameraAxis(1200, 1280, 2400), 1200, 'in the middle: on the player');
  assert.equal(cameraAxis(640, 1280, 2400), 640, 'exactly at the bound');
  assert.equal(cameraAxis(30, 1280, 2400), 640, 'near the left edge: the arena fills the screen');
  assert.equal(cameraAxis(0, 1280, 2400), 640);
  assert.equal(cameraAxis(2370, 1280, 2400), 1760, 'near the right edge');
  assert.equal(cameraAxis(2400, 1280, 2400), 1760);
  // Both axes at once, near a corner: the view's box stays inside the arena.
  for (const [x, y] of [[20, 20], [2380, 1580], [20, 1580], [1200, 800]]) {
    const cx = cameraAxis(x, 1280, 2400);
    const cy = cameraAxis(y, 720, 1600);
    assert.ok(cx - 640 >= 0 && cx + 640 <= 2400 && cy - 360 >= 0 && cy + 360 <= 1600, `(${x}, ${y}) -> (${cx}, ${cy})`);
  }
});

test('camera: along an axis where the arena is smaller than (or as large as) the view, it stays centred', () => {
  for (const x of [0, 16, 300, 584, 600]) assert.equal(cameraAxis(x, 1280, 600), 300, `player at ${x}`);
  assert.equal(cameraAxis(100, 600, 600), 300, 'exactly as large: centred too');
  // A wide, shallow arena: follows along x, centred along y.
  assert.equal(cameraAxis(100, 1280, 3000), 640);
  assert.equal(cameraAxis(250, 720, 500), 250);
  assert.equal(cameraAxis(10, 720, 500), 250);
});

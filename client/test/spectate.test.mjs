// The spectator's camera (spectate.js): whom it follows, how Q/E cycle, the free camera, and when views go out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FREE_CAMERA_SPEED, SpectatorCamera, VIEW_INTERVAL_MS, ViewThrottle, nextFollow } from '../spectate.js';

const players = (...list) => list.map(([id, x, y, name]) => ({ id, x, y, name: name ?? `p${id}` }));

test('nextFollow cycles through ids in order both ways and wraps', () => {
  const ids = [3, 7, 12];
  assert.equal(nextFollow(ids, 3, 1), 7);
  assert.equal(nextFollow(ids, 12, 1), 3);
  assert.equal(nextFollow(ids, 3, -1), 12);
  assert.equal(nextFollow(ids, 7, -1), 3);
  // A player who left: the next one after its id in that direction.
  assert.equal(nextFollow(ids, 8, 1), 12);
  assert.equal(nextFollow(ids, 8, -1), 7);
  assert.equal(nextFollow(ids, 13, 1), 3);
  assert.equal(nextFollow(ids, 1, -1), 12);
  // Nobody followed yet: the first (or, backwards, the last).
  assert.equal(nextFollow(ids, 0, 1), 3);
  assert.equal(nextFollow(ids, 0, -1), 12);
  assert.equal(nextFollow([], 5, 1), 0);
  assert.equal(nextFollow([9], 9, 1), 9);
});

test('the camera starts at the map centre and follows the first player to appear', () => {
  const c = new SpectatorCamera(2400, 1600);
  assert.deepEqual([c.x, c.y, c.follow, c.viewFollow, c.free], [1200, 800, 0, 0, false]);
  c.update([], 0, 0.016, 0, 0);
  assert.deepEqual([c.x, c.y, c.follow], [1200, 800, 0], 'nobody to follow: the camera stays');
  // Pool order is not id order: the lowest id is followed.
  const list = players([9, 100, 200, 'nine'], [4, 300, 400, 'four']);
  c.update(list, 2, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.followName, c.x, c.y], [4, 'four', 300, 400]);
  // It sits on the followed player wherever the player is drawn.
  list[1].x = 310;
  c.update(list, 2, 0.016, 1, 1);
  assert.deepEqual([c.x, c.y], [310, 400], 'movement keys do not move a following camera');
  // Only the first `count` views are live (the scene's pool).
  c.update(list, 1, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.x, c.y], [9, 100, 200], 'the followed player left: the next one is followed');
  c.update(list, 0, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.followName, c.x, c.y], [0, '', 100, 200], 'everyone left: the camera stays');
});

test('Q/E cycle the followed player, F toggles the free camera moved by the keys within the map', () => {
  const c = new SpectatorCamera(1000, 500);
  const list = players([2, 10, 10], [5, 50, 50], [8, 80, 80]);
  c.update(list, 3, 0, 0, 0);
  assert.equal(c.follow, 2);
  c.cycle(list, 3, 1);
  assert.deepEqual([c.follow, c.x, c.y, c.followName], [5, 50, 50, 'p5']);
  c.cycle(list, 3, 1);
  c.cycle(list, 3, 1);
  assert.equal(c.follow, 2, 'wraps around');
  c.cycle(list, 3, -1);
  assert.equal(c.follow, 8);

  c.toggleFree(list, 3);
  assert.equal(c.free, true);
  assert.equal(c.viewFollow, 0, 'a free camera follows nobody on the wire');
  assert.deepEqual([c.x, c.y], [80, 80], 'the free camera starts where the camera was');
  c.update(list, 3, 0.5, 1, 0);
  assert.deepEqual([c.x, c.y], [80 + FREE_CAMERA_SPEED * 0.5, 80]);
  c.update(list, 3, 10, 1, 1);
  assert.deepEqual([c.x, c.y], [1000, 500], 'held inside the map');
  c.update(list, 3, 10, -1, -1);
  assert.deepEqual([c.x, c.y], [0, 0]);
  c.toggleFree(list, 3);
  assert.deepEqual([c.free, c.viewFollow, c.x, c.y], [false, 8, 80, 80], 'back to the player followed before');

  // From the free camera, E follows the next player.
  c.toggleFree(list, 3);
  c.cycle(list, 3, 1);
  assert.deepEqual([c.free, c.follow], [false, 2]);
  // With nobody to follow, cycling changes nothing.
  c.cycle(list, 0, 1);
  assert.equal(c.follow, 2);
});

test('views go out at once, then on every change, at most one per interval, none lost', () => {
  const v = new ViewThrottle();
  assert.equal(VIEW_INTERVAL_MS, 100, 'at most 10 views a second');
  assert.equal(v.due(1000, 0, 1200, 800), true, 'the first one right after the welcome');
  assert.equal(v.due(1016, 0, 1200, 800), false, 'nothing changed');
  assert.equal(v.due(1032, 7, 300, 400), false, 'changed, but too soon');
  assert.equal(v.due(1099, 7, 300, 400), false);
  assert.equal(v.due(1100, 7, 300, 400), true, 'the change goes once the interval is over');
  // Following, the camera moving with the player is not a change (the server centres on the player itself).
  assert.equal(v.due(1300, 7, 350, 420), false);
  assert.equal(v.due(1400, 9, 350, 420), true, 'another player');
  // A free camera: moving a world unit or more is a change; less is not.
  assert.equal(v.due(1500, 0, 350, 420), true);
  assert.equal(v.due(1600, 0, 350.4, 420.3), false);
  assert.equal(v.due(1700, 0, 351, 420), true);
  // Moving continuously: one view per interval.
  let sent = 0;
  for (let t = 2000; t < 3000; t += 16) if (v.due(t, 0, t, 420)) sent++;
  assert.ok(sent >= 9 && sent <= 10, `${sent} views in one second of moving`);
  assert.equal(v.sent, 5 + sent);
});

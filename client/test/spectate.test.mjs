// The spectator's camera (spectate.js): whom it follows, how Q/E cycle, the free camera, and when views go out; the
// roster (the whole room, in view or not), what Q/E cycle through with it, and the scoreboard built from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SORT_NAME, SORT_SCORE, scoreboardRows } from '../hud.js';
import { EVENT_JOIN, EVENT_KILL, EVENT_LEAVE } from '../protocol.js';
import { nameSortKey } from '../scene.js';
import {
  FREE_CAMERA_SPEED,
  Roster,
  RosterBoard,
  SpectatorCamera,
  VIEW_INTERVAL_MS,
  ViewThrottle,
  knownIds,
  nextFollow,
} from '../spectate.js';

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

/** A parsed roster message (protocol.js's form) of `[id, name, score, hp]` entries. */
const rosterMsg = (tick, ...list) => ({
  type: 'roster',
  tick,
  players: list.map(([id, name, score, hp]) => ({ id, name, score, hp })),
});
const plain = (roster) => roster.players.map((p) => [p.id, p.name, p.score, p.hp]);
/** Player views as the scene holds them (with sort keys and scores), for the scoreboard. */
const views = (...list) =>
  list.map(([id, name, score, hp, x = 0, y = 0]) => ({ id, name, sortKey: nameSortKey(name), score, hp, x, y }));

test('the roster keeps the newest list by id, amended by joins and leaves after its tick', () => {
  const r = new Roster();
  assert.deepEqual([r.tick, r.received, r.players], [0, 0, []]);
  // Out of order on the wire is sorted (the lookups need it).
  assert.equal(r.apply(rosterMsg(300, [9, 'Zoë', 0, 0], [4, 'bot10', -2, 100], [7, 'ana', 3, 55])), true);
  assert.deepEqual(plain(r), [
    [4, 'bot10', -2, 100],
    [7, 'ana', 3, 55],
    [9, 'Zoë', 0, 0],
  ]);
  assert.deepEqual([r.tick, r.received, r.indexOf(7), r.indexOf(8)], [300, 1, 1, -1]);
  assert.deepEqual([r.find(9).name, r.find(1)], ['Zoë', null]);
  assert.equal(r.find(4).sortKey, nameSortKey('bot10'));
  // Events of the roster's tick or before are in it already; later ones amend it.
  r.noteEvents(
    [
      { tick: 299, kind: EVENT_LEAVE, playerId: 7 },
      { tick: 300, kind: EVENT_JOIN, playerId: 12, name: 'old news' },
      { tick: 301, kind: EVENT_KILL, killer: 4, victim: 9 },
      { tick: 301, kind: EVENT_JOIN, playerId: 5, name: 'new' },
      { tick: 302, kind: EVENT_LEAVE, playerId: 9 },
      { tick: 302, kind: EVENT_JOIN, playerId: 4, name: 'bot10' }, // already listed
      { tick: 303, kind: EVENT_LEAVE, playerId: 99 }, // never listed
    ],
    100,
  );
  assert.deepEqual(plain(r), [
    [4, 'bot10', -2, 100],
    [5, 'new', 0, 100],
    [7, 'ana', 3, 55],
  ]);
  assert.equal(r.find(5).sortKey, 'new');
  assert.equal(r.tick, 300, 'events do not move the roster tick');
  // The next roster replaces the list; an older one than that is ignored.
  assert.equal(r.apply(rosterMsg(330, [5, 'new', 1, 80])), true);
  assert.deepEqual(plain(r), [[5, 'new', 1, 80]]);
  assert.equal(r.apply(rosterMsg(320, [4, 'bot10', 0, 100])), false);
  assert.deepEqual([r.tick, r.received, plain(r)], [330, 2, [[5, 'new', 1, 80]]]);
  assert.equal(r.apply(rosterMsg(360)), true);
  assert.deepEqual([r.tick, r.players], [360, []], 'an empty room');
});

test('the players known are those drawn and those the roster lists, each once, by id', () => {
  const r = new Roster();
  const drawn = players([9, 0, 0], [2, 0, 0], [30, 0, 0]);
  assert.deepEqual(knownIds(drawn, 3, null), [2, 9, 30]);
  assert.deepEqual(knownIds(drawn, 2, r), [2, 9], 'an empty roster adds none; only the first `count` are drawn');
  r.apply(rosterMsg(1, [2, 'b', 0, 100], [5, 'e', 0, 100], [9, 'i', 0, 100], [40, 'x', 0, 100]));
  const out = [77];
  assert.equal(knownIds(drawn, 3, r, out), out, 'into the array given');
  assert.deepEqual(out, [2, 5, 9, 30, 40]);
  assert.deepEqual(knownIds([], 0, r), [2, 5, 9, 40]);
});

test('Q/E cycle through the roster: a player out of view is followed, named from the roster, until drawn', () => {
  const r = new Roster();
  const c = new SpectatorCamera(2000, 1000, r);
  // Nobody drawn, nobody followed; the roster alone does not carry the camera off.
  r.apply(rosterMsg(30, [3, 'ana', 2, 100], [8, 'bob', 0, 0]));
  c.update([], 0, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.followName, c.x, c.y], [0, '', 1000, 500], 'still on the map centre');
  // E follows the first player of the roster, out of view: the camera waits where it is.
  c.cycle([], 0, 1);
  assert.deepEqual([c.follow, c.viewFollow, c.followName, c.x, c.y], [3, 3, 'ana', 1000, 500]);
  c.update([], 0, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.followName, c.x, c.y], [3, 'ana', 1000, 500], 'kept while not drawn');
  // Another player is drawn meanwhile (near the camera): the one followed stays followed.
  const near = players([8, 990, 510, 'bob']);
  c.update(near, 1, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.followName, c.x, c.y], [3, 'ana', 1000, 500]);
  // The server centred the view on it: it comes into the snapshots and is drawn; the camera goes to it.
  const both = players([8, 990, 510, 'bob'], [3, 150, 120, 'ana']);
  c.update(both, 2, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.followName, c.x, c.y], [3, 'ana', 150, 120]);
  // Q/E go through drawn and listed players alike, wrapping.
  c.cycle(both, 2, 1);
  assert.deepEqual([c.follow, c.x, c.y], [8, 990, 510]);
  c.cycle(both, 2, 1);
  assert.equal(c.follow, 3);
  // A player drawn that no roster lists yet is cycled through too.
  const three = players([8, 990, 510, 'bob'], [3, 150, 120, 'ana'], [11, 40, 40, 'late']);
  c.cycle(three, 3, -1);
  assert.deepEqual([c.follow, c.followName], [11, 'late']);
  // From the free camera, E follows the next player even when nobody is drawn.
  c.toggleFree(three, 3);
  c.cycle([], 0, 1);
  assert.deepEqual([c.free, c.follow, c.followName, c.x, c.y], [false, 3, 'ana', 40, 40]);
});

test('a followed player who left the room is replaced by the next one, drawn or only listed', () => {
  const r = new Roster();
  r.apply(rosterMsg(30, [3, 'ana', 0, 100], [8, 'bob', 0, 100], [12, 'cy', 0, 100]));
  const c = new SpectatorCamera(2000, 1000, r);
  const drawn = players([8, 400, 300, 'bob']);
  c.update(drawn, 1, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.followName], [8, 'bob'], 'the first drawn is followed');
  // Bob leaves: gone from the snapshots and, by the leave event, from the roster.
  r.noteEvents([{ tick: 31, kind: EVENT_LEAVE, playerId: 8 }], 100);
  c.update([], 0, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.followName, c.x, c.y], [12, 'cy', 400, 300], 'the next id, out of view');
  // Without a roster the old rule holds: nobody drawn, nobody followed.
  const alone = new SpectatorCamera(2000, 1000);
  alone.update(drawn, 1, 0.016, 0, 0);
  alone.update([], 0, 0.016, 0, 0);
  assert.deepEqual([alone.follow, alone.followName], [0, '']);
  alone.cycle([], 0, 1);
  assert.equal(alone.follow, 0, 'nothing to cycle through');
  // Everyone left: nobody is followed.
  r.apply(rosterMsg(60));
  c.update([], 0, 0.016, 0, 0);
  assert.deepEqual([c.follow, c.followName], [0, '']);
});

test('the scoreboard lists the whole room from the roster, players in view as drawn', () => {
  const r = new Roster();
  r.apply(
    rosterMsg(90, [2, 'ana', 4, 100], [5, 'Zoë', 0, 0], [7, 'bot10', -1, 60], [9, 'bot2', 7, 100], [12, '東京', 2, 20]),
  );
  const board = new RosterBoard();
  // Nobody in view: the roster as it is.
  assert.equal(board.fill(r, [], 0), board);
  assert.deepEqual(
    scoreboardRows(board, SORT_SCORE).map((p) => [p.id, p.name, p.score, p.hp > 0]),
    [
      [9, 'bot2', 7, true],
      [2, 'ana', 4, true],
      [12, '東京', 2, true],
      [5, 'Zoë', 0, false],
      [7, 'bot10', -1, true],
    ],
  );
  // Bot2 in view with a newer score (a kill since the roster), and a player who just joined.
  const drawn = views([9, 'bot2', 8, 0], [14, 'new', 0, 100]);
  board.fill(r, drawn, 2);
  assert.equal(board.playerCount, 6);
  assert.deepEqual(
    scoreboardRows(board, SORT_SCORE).map((p) => [p.id, p.score, p.hp]),
    [
      [9, 8, 0],
      [2, 4, 100],
      [12, 2, 20],
      [14, 0, 100],
      [5, 0, 0],
      [7, -1, 60],
    ],
  );
  assert.deepEqual(
    scoreboardRows(board, SORT_NAME).map((p) => p.name),
    ['ana', 'bot2', 'bot10', 'new', 'Zoë', '東京'],
  );
  // Fewer rows than players: the followed player is listed below them even when it ranks last.
  const rows = [];
  assert.equal(scoreboardRows(board, SORT_SCORE, 7, 3, rows), rows);
  assert.deepEqual(
    rows.map((p) => p.id),
    [9, 2, 12, 7],
  );
  assert.deepEqual(
    scoreboardRows(board, SORT_SCORE, 2, 3).map((p) => p.id),
    [9, 2, 12],
    'listed once when it ranks among them',
  );
  // Refilled each frame: a player out of view again is listed from the roster.
  board.fill(r, drawn, 0);
  assert.equal(board.playerCount, 5);
  assert.equal(board.players[r.indexOf(9)].score, 7);
});

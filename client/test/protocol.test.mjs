// Message builders and server message parsing (protocol.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from '../msgpack.js';
import {
  PROTOCOL_VERSION,
  ProtocolError,
  ROLE_PLAYER,
  ROLE_SPECTATOR,
  ackMessage,
  aimToRadians,
  createRoom,
  helloMessage,
  inputMessage,
  joinArray,
  joinRoom,
  normalizeName,
  normalizeRoomName,
  parseServerMessage,
  pingMessage,
  quickPlay,
  radiansToAim,
  roomOptionsArray,
  spectate,
  toMoveAxis,
  toWorld,
  viewMessage,
} from '../protocol.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');

test('builds client messages', () => {
  assert.equal(PROTOCOL_VERSION, 3);
  // [1, 3, "ana", [1]]: quick play when no join is given.
  assert.equal(hex(helloMessage('ana')), '940103a3616e619101');
  assert.equal(hex(helloMessage('ab', createRoom({ maxPlayers: 8 }))), '940103a26162920393c0c008');
  assert.equal(hex(viewMessage(7, 1200, 800)), '940507cd04b0cd0320');
  assert.equal(hex(inputMessage(1, 127, 0, 0, 0, 1235)), '970201' + '7f000000' + 'cd04d3');
  assert.equal(hex(ackMessage(1235)), '9203cd04d3');
  assert.equal(hex(pingMessage(99)), '920463');
});

test('converts units', () => {
  assert.equal(toWorld(19200), 1200);
  assert.equal(toWorld(19213), 1200.8125);
  assert.equal(aimToRadians(16384), Math.PI / 2);
  assert.equal(radiansToAim(0), 0);
  assert.equal(radiansToAim(Math.PI / 2), 16384);
  assert.equal(radiansToAim(-Math.PI / 2), 49152);
  assert.equal(radiansToAim(Math.PI), 32768);
  assert.equal(radiansToAim(-Math.PI), 32768);
  assert.equal(radiansToAim(2 * Math.PI - 1e-9), 0);
  for (let aim = 0; aim < 65536; aim += 1111) assert.equal(radiansToAim(aimToRadians(aim)), aim);
  assert.equal(toMoveAxis(1), 127);
  assert.equal(toMoveAxis(-1), -127);
  assert.equal(toMoveAxis(0), 0);
  assert.equal(toMoveAxis(2), 127);
});

test('builds every kind of join, leaving out what is absent', () => {
  assert.deepEqual(joinArray(quickPlay()), [1]);
  assert.deepEqual(joinArray(quickPlay(null)), [1]);
  assert.deepEqual(joinArray(quickPlay('duel')), [1, 'duel']);
  assert.deepEqual(joinArray(joinRoom('k3j9x2m4q8rt')), [2, 'k3j9x2m4q8rt']);
  assert.deepEqual(joinArray(spectate()), [4]);
  assert.deepEqual(joinArray(spectate('k3j9x2m4q8rt')), [4, 'k3j9x2m4q8rt']);
  assert.deepEqual(joinArray(createRoom()), [3, []]);
  assert.deepEqual(joinArray(createRoom({ name: 'x', map: undefined, maxPlayers: null })), [3, ['x']]);
  // A gap in the middle is nil; the array stops after the last option given.
  assert.deepEqual(roomOptionsArray({ tickRate: 60 }), [null, null, null, 60]);
  assert.deepEqual(roomOptionsArray({ private: false }), [null, null, null, null, null, false]);
  assert.throws(() => joinArray({ kind: 'lobby' }), TypeError);
  assert.throws(() => joinArray(joinRoom(undefined)), TypeError);
  assert.throws(() => roomOptionsArray({ maxPlayers: 2.5 }), TypeError);
  assert.throws(() => roomOptionsArray({ private: 'yes' }), TypeError);
});

test('writes the view radius as a float32, whole or not, like rmp-serde writes an f32', () => {
  // [null, null, null, null, 500.0]: ca 43fa0000 is 500 as a float32 (not the integer 500, cd 01f4).
  assert.equal(hex(encode(roomOptionsArray({ viewRadius: 500 }))), '95c0c0c0c0ca43fa0000');
  assert.equal(hex(encode(roomOptionsArray({ viewRadius: 0 }))), '95c0c0c0c0ca00000000');
  // 0.1 is not an f32: it travels as the nearest one.
  const wire = decode(encode(roomOptionsArray({ viewRadius: 0.1 })));
  assert.equal(wire[4], Math.fround(0.1));
});

test('view rounds the camera to whole world units', () => {
  assert.deepEqual(decode(viewMessage(0, 99.6, -0.4)), [5, 0, 100, 0]);
  assert.equal(hex(viewMessage(0, 99.6, -0.4)), '94050064' + '00');
});

test('checks names like the server', () => {
  assert.equal(normalizeName('  ana '), 'ana');
  assert.equal(normalizeName('a'.repeat(16)), 'a'.repeat(16));
  assert.equal(normalizeName('😀'.repeat(16)), '😀'.repeat(16));
  assert.equal(normalizeName('a'.repeat(17)), null);
  assert.equal(normalizeName('   '), null);
  assert.equal(normalizeName('a\tb'), null);
  assert.equal(normalizeRoomName(' friday night 東京 '), 'friday night 東京');
  assert.equal(normalizeRoomName('r'.repeat(24)), 'r'.repeat(24));
  assert.equal(normalizeRoomName('r'.repeat(25)), null);
  assert.equal(normalizeRoomName(''), null);
  assert.equal(normalizeRoomName('a\nb'), null);
});

test('parses welcome', () => {
  const rules = [16.0, 1800, 8, 300, 4, 900, 45, 6, 100, 90];
  const map = ['arena', 2400, 1600, [[100, 200, 50, 60]], [[10, 20]]];
  const msg = parseServerMessage(encode([1, 3, 7, 30, 1234, map, rules, ['k3j9x2m4q8rt', 'arena 1', 0]]));
  assert.deepEqual(msg.room, { id: 'k3j9x2m4q8rt', name: 'arena 1', role: ROLE_PLAYER });
  assert.equal(msg.type, 'welcome');
  assert.equal(msg.playerId, 7);
  assert.equal(msg.tickRate, 30);
  assert.equal(msg.tick, 1234);
  assert.deepEqual(msg.map, {
    name: 'arena',
    width: 2400,
    height: 1600,
    walls: [{ x: 100, y: 200, w: 50, h: 60 }],
    spawns: [{ x: 10, y: 20 }],
  });
  assert.equal(msg.rules.playerRadius, 16);
  assert.equal(msg.rules.bulletSpeed, 900);
  assert.equal(msg.rules.respawnTicks, 90);
  const watcher = parseServerMessage(encode([1, 3, 0, 30, 1234, map, rules, ['k3j9x2m4q8rt', 'arena 1', 1]]));
  assert.equal(watcher.playerId, 0);
  assert.equal(watcher.room.role, ROLE_SPECTATOR);
});

test('parses snapshots of the PROTOCOL.md session', () => {
  const full = parseServerMessage(
    encode([2, 1235, 0, 0, [[7, 0, 19200, 12800, 0, 0, 0, 100, 0, 0, 'ana']], [], [], [[1235, 2, 7, 'ana']]]),
  );
  assert.deepEqual(full, {
    type: 'snapshot',
    tick: 1235,
    baseline: 0,
    lastInputSeq: 0,
    created: [{ id: 7, kind: 0, fields: [19200, 12800, 0, 0, 0, 100, 0, 0], name: 'ana' }],
    changed: [],
    removed: [],
    events: [{ tick: 1235, kind: 2, playerId: 7, name: 'ana' }],
  });
  const delta = parseServerMessage(encode([2, 1237, 1235, 1, [], [[7, 5, 19213, 427]], [], []]));
  assert.deepEqual(delta.changed, [{ id: 7, mask: 5, values: [19213, 427] }]);
  const bullets = parseServerMessage(
    encode([
      2,
      9,
      8,
      3,
      [[65536, 1, 160, 320, -14400, 0, 7, 9]],
      [],
      [65537],
      [
        [9, 1, 7, 8],
        [9, 3, 8],
        [9, 99, 1],
      ],
    ]),
  );
  assert.deepEqual(bullets.created[0], { id: 65536, kind: 1, fields: [160, 320, -14400, 0, 7, 9], name: null });
  assert.deepEqual(bullets.removed, [65537]);
  assert.deepEqual(bullets.events, [
    { tick: 9, kind: 1, killer: 7, victim: 8 },
    { tick: 9, kind: 3, playerId: 8 },
    { tick: 9, kind: 99 },
  ]);
});

test('parses pong and close', () => {
  assert.deepEqual(parseServerMessage(encode([3, 99])), { type: 'pong', nonce: 99 });
  assert.deepEqual(parseServerMessage(encode([4, 1013, 'server full'])), {
    type: 'close',
    code: 1013,
    reason: 'server full',
  });
});

test('parses rosters: every player of the room, with score and hp', () => {
  const msg = parseServerMessage(
    encode([
      5,
      70000,
      [
        [7, 'ana', 12, 100],
        [8, 'Zoë', -3, 0],
        [65535, '日本語の名前', 0, -1],
      ],
    ]),
  );
  assert.deepEqual(msg, {
    type: 'roster',
    tick: 70000,
    players: [
      { id: 7, name: 'ana', score: 12, hp: 100 },
      { id: 8, name: 'Zoë', score: -3, hp: 0 },
      { id: 65535, name: '日本語の名前', score: 0, hp: -1 },
    ],
  });
  assert.deepEqual(parseServerMessage(encode([5, 4000000000, []])), { type: 'roster', tick: 4000000000, players: [] });
  const bad = [
    [5, 1], // no players
    [5, 1, [], 0], // an element too many
    [5, -1, []], // negative tick
    [5, 1, {}], // players not an array
    [5, 1, [[7, 'ana', 1]]], // short entry
    [5, 1, [[7, 'ana', 1, 100, 0]]], // long entry
    [5, 1, [[-7, 'ana', 1, 100]]], // negative id
    [5, 1, [[7, 7, 1, 100]]], // numeric name
    [5, 1, [[7, 'ana', 1.5, 100]]], // fractional score
    [5, 1, [[7, 'ana', 1, null]]], // no hp
    [5, 1, [7, 'ana', 1, 100]], // an entry that is not an array
  ];
  for (const m of bad) assert.throws(() => parseServerMessage(encode(m)), ProtocolError, JSON.stringify(m));
});

test('rejects malformed server messages', () => {
  const bad = [
    5,
    [],
    [9, 1],
    [3],
    [4, 1000],
    [2, 1, 0, 0, [[7, 0, 1, 2]], [], [], []], // short player
    [2, 1, 0, 0, [[7, 2, 1, 2]], [], [], []], // unknown kind
    [2, 2, 1, 0, [], [[7, 3, 1]], [], []], // mask says two values, one given
    [2, 2, 1, 0, [], [], [-1], []],
    [2, 2, 1, 0, [], [], [], [[2, 1, 7]]], // short kill event
    [1, 3, 7, 0, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ['r', 'r', 0]], // tick_rate 0
    [1, 3, 7, 30, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], // a v2 welcome: no room
    [1, 3, 7, 30, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ['r', 'r', 2]], // unknown role
    [1, 3, 7, 30, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ['r', 'r']], // short room
    [1, 3, 7, 30, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 'r', 0]], // numeric room id
  ];
  for (const m of bad) assert.throws(() => parseServerMessage(encode(m)), ProtocolError, JSON.stringify(m));
});

// Message builders and server message parsing (protocol.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, float32 } from '../msgpack.js';
import {
  CHAT_MAX_CHARS,
  MAX_VIEW_DELAY_MS,
  FLAG_DISCONNECTED,
  P_FLAGS,
  PLAYER_FIELD_COUNT,
  PROTOCOL_VERSION,
  ProtocolError,
  SNAPSHOT_AIM_STEPS,
  ROLE_PLAYER,
  ROLE_SPECTATOR,
  ackMessage,
  aimToRadians,
  chatMessage,
  checkChat,
  createRoom,
  helloMessage,
  inputMessage,
  joinArray,
  joinRoom,
  normalizeName,
  normalizeRoomName,
  parseJoin,
  parseServerMessage,
  pingMessage,
  quickPlay,
  radiansToAim,
  resume,
  roomOptionsArray,
  seat,
  snapshotAimToRadians,
  spectate,
  toMoveAxis,
  toWorld,
  trimLikeRust,
  viewMessage,
} from '../protocol.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
/** An empty `changed` (a bin of no bytes) and a bin of the given bytes. */
const NO_CHANGES = new Uint8Array(0);
const bin = (...bytes) => new Uint8Array(bytes);

test('builds client messages', () => {
  assert.equal(PROTOCOL_VERSION, 7);
  // [1, 7, "ana", [1]]: quick play when no join is given, and no auth element when there is no token.
  assert.equal(hex(helloMessage('ana')), '940107a3616e619101');
  assert.equal(hex(helloMessage('ab', createRoom({ maxPlayers: 8 }))), '940107a26162920393c0c008');
  assert.equal(hex(viewMessage(7, 1200, 800)), '940507cd04b0cd0320');
  // Version 5: always 8 elements, view_delay_ms last (0 when not given).
  assert.equal(hex(inputMessage(1, 127, 0, 0, 0, 1235)), '980201' + '7f000000' + 'cd04d3' + '00');
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
  // Version 6: a snapshot's aim has 256 steps per turn (inputs keep 65536).
  assert.equal(SNAPSHOT_AIM_STEPS, 256);
  assert.equal(snapshotAimToRadians(0), 0);
  assert.equal(snapshotAimToRadians(64), Math.PI / 2);
  assert.equal(snapshotAimToRadians(128), Math.PI);
  assert.equal(snapshotAimToRadians(192), (3 * Math.PI) / 2);
  assert.equal(snapshotAimToRadians(66), (66 / 256) * 2 * Math.PI);
  // The server rounds an input aim to the snapshot's: ((aim + 128) >> 8) & 255, the same direction.
  for (let aim = 0; aim < 65536; aim += 777) {
    const steps = ((aim + 128) >> 8) & 255;
    let d = Math.abs(snapshotAimToRadians(steps) - aimToRadians(aim));
    if (d > Math.PI) d = 2 * Math.PI - d;
    assert.ok(d <= Math.PI / 256 + 1e-12, `input aim ${aim} and snapshot aim ${steps}`);
  }
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
  const session = ['k3j9x2m4q8rt.AAAAAAAAAAAAAAAAAAAAAAAA', 20000, 0];
  const msg = parseServerMessage(encode([1, 4, 7, 30, 1234, map, rules, ['k3j9x2m4q8rt', 'arena 1', 0], session]));
  assert.deepEqual(msg.room, { id: 'k3j9x2m4q8rt', name: 'arena 1', role: ROLE_PLAYER });
  assert.equal(msg.version, 4);
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
  const watcher = parseServerMessage(
    encode([1, 4, 0, 30, 1234, map, rules, ['k3j9x2m4q8rt', 'arena 1', 1], null]),
  );
  assert.equal(watcher.playerId, 0);
  assert.equal(watcher.room.role, ROLE_SPECTATOR);
  assert.equal(watcher.session, null);
});

test('parses snapshots of the PROTOCOL.md session', () => {
  const full = parseServerMessage(
    encode([
      2,
      1235,
      0,
      0,
      [[7, 0, 19200, 12800, 0, 0, 0, 100, 0, 0, 0, 'ana']],
      NO_CHANGES,
      [],
      [[1235, 2, 7, 'ana']],
      [],
      [-3, 5],
    ]),
  );
  assert.deepEqual(full, {
    type: 'snapshot',
    tick: 1235,
    baseline: 0,
    lastInputSeq: 0,
    created: [{ id: 7, kind: 0, fields: [19200, 12800, 0, 0, 0, 100, 0, 0, 0], name: 'ana' }],
    changed: new Uint8Array(0),
    removed: [],
    events: [{ tick: 1235, kind: 2, playerId: 7, name: 'ana' }],
    hits: [],
    own: { dvx: -3, dvy: 5 },
  });
  // `changed` is kept as its raw bytes, for the store to decode against the baseline.
  const delta = parseServerMessage(encode([2, 1237, 1235, 1, [], bin(0x12, 0x08, 0, 0xc0, 0x80, 0, 0, 0), [], [], [], []]));
  assert.ok(delta.changed instanceof Uint8Array);
  assert.deepEqual([...delta.changed], [0x12, 0x08, 0, 0xc0, 0x80, 0, 0, 0]);
  assert.equal(delta.own, null, "a spectator's own is []");
  const bullets = parseServerMessage(
    encode([
      2,
      9,
      8,
      3,
      [[65536, 1, 160, 320, -14400, 0, 7, 9]],
      NO_CHANGES,
      [65537],
      [
        [9, 1, 7, 8],
        [9, 3, 8],
        [9, 99, 1],
      ],
      [],
      [0, 0],
    ]),
  );
  assert.deepEqual(bullets.created[0], { id: 65536, kind: 1, fields: [160, 320, -14400, 0, 7, 9], name: null });
  assert.deepEqual(bullets.removed, [65537]);
  assert.deepEqual(bullets.events, [
    { tick: 9, kind: 1, killer: 7, victim: 8 },
    { tick: 9, kind: 3, playerId: 8 },
    { tick: 9, kind: 99 },
  ]);
  assert.deepEqual(bullets.own, { dvx: 0, dvy: 0 });
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
    [2, 1, 0, 0, [[7, 0, 1, 2]], NO_CHANGES, [], [], [], []], // short player
    [2, 1, 0, 0, [[7, 2, 1, 2]], NO_CHANGES, [], [], [], []], // unknown kind
    [2, 2, 1, 0, [], NO_CHANGES, [-1], [], [], []],
    [2, 2, 1, 0, [], NO_CHANGES, [], [[2, 1, 7]], [], []], // short kill event
    [1, 4, 7, 0, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ['r', 'r', 0], null], // tick_rate 0
    [1, 3, 7, 30, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], // a v2 welcome: no room
    [1, 4, 7, 30, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ['r', 'r', 2], null], // unknown role
    [1, 4, 7, 30, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ['r', 'r'], null], // short room
    [1, 4, 7, 30, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 'r', 0], null], // numeric room id
  ];
  for (const m of bad) assert.throws(() => parseServerMessage(encode(m)), ProtocolError, JSON.stringify(m));
});

// ---------------------------------------------------------------------------------------------------------------
// Version 4: sessions, resume, join tokens, chat, player flags

const MAP = ['m', 10, 10, [], []];
const RULES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const ROOM = ['k3j9x2m4q8rt', 'arena 1', 0];

test('hello carries the join token as a 5th element, and leaves it out when there is none', () => {
  const token = 'eyJhbGciOiJIUzI1NiJ9.eyJuYW1lIjoiYW5hIn0.c2ln';
  assert.deepEqual(decode(helloMessage('ana', quickPlay(), token)), [1, 7, 'ana', [1], token]);
  const room = decode(helloMessage('ana', joinRoom('k3j9x2m4q8rt'), 'jwt'));
  assert.deepEqual(room, [1, 7, 'ana', [2, 'k3j9x2m4q8rt'], 'jwt']);
  // [1, 7, "ana", [1], "jwt"]: 95 = array of 5, a3 "jwt" last.
  assert.equal(hex(helloMessage('ana', quickPlay(), 'jwt')), '950107a3616e619101a36a7774');
  // null and undefined both mean "no token": a 4-element hello, not a nil 5th element.
  assert.equal(hex(helloMessage('ana', quickPlay(), null)), '940107a3616e619101');
  assert.equal(hex(helloMessage('ana', quickPlay(), undefined)), '940107a3616e619101');
  assert.throws(() => helloMessage('ana', quickPlay(), 42), TypeError);
});

test('a resume join: [5, token, last_tick], last_tick 0 when nothing is held', () => {
  const token = 'k3j9x2m4q8rt.AbCdEfGhIjKlMnOpQrStUvWx';
  assert.deepEqual(joinArray(resume(token, 1234)), [5, token, 1234]);
  assert.deepEqual(joinArray(resume(token)), [5, token, 0]);
  assert.deepEqual(joinArray(resume(token, 4294967295)), [5, token, 4294967295]);
  // The whole hello: the name is ignored by the server for a resume but must still be a string (may be empty).
  assert.deepEqual(decode(helloMessage('', resume(token, 77))), [1, 7, '', [5, token, 77]]);
  const bytes = hex(helloMessage('ana', resume('t', 300)));
  // 94 01 07 a3"ana" 93 05 a1"t" cd012c: the tick as a uint16.
  assert.equal(bytes, '940107a3616e61' + '9305a174cd012c');
  assert.throws(() => joinArray(resume(undefined, 1)), TypeError);
  assert.throws(() => joinArray(resume('t', -1)), TypeError);
  assert.throws(() => joinArray(resume('t', 1.5)), TypeError);
});

test('the welcome session: [resume_token, grace_ms, input_seq] for a player, nil for a spectator', () => {
  const token = 'k3j9x2m4q8rt.AbCdEfGhIjKlMnOpQrStUvWx';
  const player = parseServerMessage(encode([1, 4, 7, 30, 1234, MAP, RULES, ROOM, [token, 20000, 4321]]));
  assert.deepEqual(player.session, { resumeToken: token, graceMs: 20000, inputSeq: 4321 });
  const fresh = parseServerMessage(encode([1, 4, 7, 30, 1234, MAP, RULES, ROOM, [token, 20000, 0]]));
  assert.equal(fresh.session.inputSeq, 0);
  const spectator = parseServerMessage(encode([1, 4, 0, 30, 1234, MAP, RULES, ['r', 'r', 1], null]));
  assert.equal(spectator.session, null);
  const bad = [
    [1, 4, 7, 30, 1, MAP, RULES, ROOM], // a v4 welcome must have its session element
    [1, 4, 7, 30, 1, MAP, RULES, ROOM, null, 0], // one too many
    [1, 4, 7, 30, 1, MAP, RULES, ROOM, [token, 20000]], // short session
    [1, 4, 7, 30, 1, MAP, RULES, ROOM, [token, 20000, 1, 2]], // long session
    [1, 4, 7, 30, 1, MAP, RULES, ROOM, [7, 20000, 1]], // numeric token
    [1, 4, 7, 30, 1, MAP, RULES, ROOM, [token, -1, 1]], // negative grace
    [1, 4, 7, 30, 1, MAP, RULES, ROOM, [token, 20000, 1.5]], // fractional seq
    [1, 4, 7, 30, 1, MAP, RULES, ROOM, 'token'], // not an array
  ];
  for (const m of bad) assert.throws(() => parseServerMessage(encode(m)), ProtocolError, JSON.stringify(m));
});

test('a version 3 welcome still parses (no session), so the version check can name the server', () => {
  const v3 = parseServerMessage(encode([1, 3, 7, 30, 1234, MAP, RULES, ROOM]));
  assert.equal(v3.version, 3);
  assert.notEqual(v3.version, PROTOCOL_VERSION);
  assert.equal(v3.session, null);
});

test('chat: [6, text] up, [6, tick, from, name, text] down', () => {
  assert.deepEqual(decode(chatMessage('gg')), [6, 'gg']);
  assert.equal(hex(chatMessage('gg')), '9206a26767');
  // The longest line of 4-byte characters: 480 bytes of text (a str16: da 01e0), 485 in all, under the 512 limit.
  const longest = chatMessage('😀'.repeat(CHAT_MAX_CHARS));
  assert.equal(longest.byteLength, 485);
  assert.equal(hex(longest.subarray(0, 5)), '9206da01e0');
  // The builder refuses what the server would close the connection for.
  assert.throws(() => chatMessage(''), TypeError);
  assert.throws(() => chatMessage(' gg'), TypeError, 'untrimmed');
  assert.throws(() => chatMessage('a'.repeat(121)), TypeError);
  assert.throws(() => chatMessage('a\nb'), TypeError);

  assert.deepEqual(parseServerMessage(encode([6, 1500, 7, 'ana', 'gg all'])), {
    type: 'chat',
    tick: 1500,
    from: 7,
    name: 'ana',
    text: 'gg all',
  });
  // A spectator's line: from 0; names and text beyond ASCII.
  assert.deepEqual(parseServerMessage(encode([6, 70000, 0, 'Zoë', '東京 😀'])), {
    type: 'chat',
    tick: 70000,
    from: 0,
    name: 'Zoë',
    text: '東京 😀',
  });
  const bad = [
    [6, 1, 7, 'ana'], // no text
    [6, 1, 7, 'ana', 'x', 0], // one too many
    [6, -1, 7, 'ana', 'x'], // negative tick
    [6, 1, -7, 'ana', 'x'], // negative sender
    [6, 1, 7, null, 'x'], // no name
    [6, 1, 7, 'ana', 5], // numeric text
  ];
  for (const m of bad) assert.throws(() => parseServerMessage(encode(m)), ProtocolError, JSON.stringify(m));
});

test('chat lines are checked like the server checks them: trimmed, 1 to 120 characters, no control', () => {
  assert.deepEqual(checkChat('  gg  '), { ok: true, text: 'gg' });
  assert.deepEqual(checkChat('a'.repeat(120)), { ok: true, text: 'a'.repeat(120) });
  // Characters are code points, not UTF-16 units: 120 emoji are 240 units and still fit.
  assert.equal(checkChat('😀'.repeat(120)).ok, true);
  assert.deepEqual(checkChat('😀'.repeat(121)), { ok: false, reason: 'chat line over 120 characters' });
  assert.deepEqual(checkChat('a'.repeat(121)), { ok: false, reason: 'chat line over 120 characters' });
  // Whitespace around does not count.
  assert.equal(checkChat(`   ${'a'.repeat(120)}\u3000`).ok, true);
  assert.deepEqual(checkChat(''), { ok: false, reason: 'chat line is empty' });
  assert.deepEqual(checkChat(' \t\n '), { ok: false, reason: 'chat line is empty' });
  for (const c of ['\t', '\n', '\u0000', '\u001b', '\u007f', '\u0085', '\u009f']) {
    assert.deepEqual(checkChat(`a${c}b`), { ok: false, reason: 'chat line holds a control character' }, c);
  }
  // Not control characters (Rust's is_control is the Cc category only).
  assert.equal(checkChat('a\u200bb').ok, true);
  assert.equal(checkChat('a\u00a0b').ok, true);
});

test('trims whitespace as Rust does, not as String.prototype.trim does', () => {
  // U+0085 is whitespace to Rust (stripped), not to JavaScript; U+FEFF the other way round.
  assert.equal(trimLikeRust('\u0085 gg \u0085'), 'gg');
  assert.equal(trimLikeRust('\ufeffgg'), '\ufeffgg');
  assert.equal(trimLikeRust('\u2000\u200a\u2028\u2029\u202f\u205f\u3000\u1680\u00a0gg\t\r\n\v\f'), 'gg');
  assert.equal(trimLikeRust(' a  b '), 'a  b');
  assert.equal(checkChat('\u0085gg').ok, true, 'the server strips it first, so it is no control character');
  assert.equal(normalizeName('\u0085ana'), 'ana');
});

test('players have nine fields: flags at index 8, FLAG_DISCONNECTED its bit 0', () => {
  assert.equal(PLAYER_FIELD_COUNT, 9);
  assert.equal(P_FLAGS, 8);
  assert.equal(FLAG_DISCONNECTED, 1);
  const snap = parseServerMessage(
    encode([2, 20, 0, 0, [[2, 0, 9600, 11200, 0, 0, 0, 100, 3, 0, 1, 'ana']], NO_CHANGES, [], [], [], []]),
  );
  assert.deepEqual(snap.created[0], {
    id: 2,
    kind: 0,
    fields: [9600, 11200, 0, 0, 0, 100, 3, 0, 1],
    name: 'ana',
  });
  // The v3 shape (8 fields and the name) is short by one now; 9 fields without a name too.
  const v3 = [2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 'ana'];
  assert.throws(() => parseServerMessage(encode([2, 1, 0, 0, [v3], NO_CHANGES, [], [], [], []])));
  const nameless = [2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  assert.throws(() => parseServerMessage(encode([2, 1, 0, 0, [nameless], NO_CHANGES, [], [], [], []])));
  // Bullets keep six fields.
  const b = parseServerMessage(encode([2, 1, 0, 0, [[65536, 1, 1, 2, 3, 4, 5, 6]], NO_CHANGES, [], [], [], []]));
  assert.equal(b.created[0].fields.length, 6);
});

// ---------------------------------------------------------------------------------------------------------------
// Version 6: `changed` a bin, `own` the 10th element

test('a v6 snapshot: 10 elements, changed a bin (bin8 or bin16) kept as bytes, own [] or [dvx, dvy]', () => {
  // [2, 21, 20, 7, [], bin(0x12, 0x08), [], [], [], [16, -15]]: c4 02 is a bin8 of 2 bytes.
  const bytes = encode([2, 21, 20, 7, [], bin(0x12, 0x08), [], [], [], [16, -15]]);
  assert.equal(hex(bytes), '9a02151407' + '90' + 'c4021208' + '909090' + '9210f1');
  const msg = parseServerMessage(bytes);
  assert.deepEqual(msg.changed, bin(0x12, 0x08));
  assert.deepEqual(msg.own, { dvx: 16, dvy: -15 });
  // A bin of 300 bytes (bin16, c5) as well.
  const long = new Uint8Array(300).fill(7);
  const wide = parseServerMessage(encode([2, 2, 1, 0, [], long, [], [], [], []]));
  assert.equal(wide.changed.length, 300);
  assert.equal(wide.changed[299], 7);
  assert.equal(wide.own, null);
  // Wide corrections are integers too.
  const big = parseServerMessage(encode([2, 2, 1, 0, [], NO_CHANGES, [], [], [], [-2147483648, 2147483647]]));
  assert.deepEqual(big.own, { dvx: -2147483648, dvy: 2147483647 });
});

test('a snapshot whose changed is not a bin, or whose own is not 0 or 2 integers, is unreadable', () => {
  const bad = [
    [2, 2, 1, 0, [], [], [], [], [], []], // changed an array (the v5 form)
    [2, 2, 1, 0, [], [[7, 1, 16]], [], [], [], []], // a v5 changed entry
    [2, 2, 1, 0, [], null, [], [], [], []], // nil
    [2, 2, 1, 0, [], '\x12', [], [], [], []], // a string is no bin
    [2, 2, 1, 0, [], 0, [], [], [], []],
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [], null], // own nil
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [], [1]], // one correction
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [], [1, 2, 3]], // three
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [], [1.5, 2]], // fractional
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [], ['1', 2]], // a string
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [], [2 ** 31, 0]], // beyond int32
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [], {}], // not an array
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [], [], []], // 11 elements
    [2, 2, 1, 0, [], NO_CHANGES, [], [], []], // 9 elements (a v5 snapshot)
    [2, 2, 1, 0, [], [], [], []], // 8 elements (a v4 snapshot)
  ];
  for (const m of bad) assert.throws(() => parseServerMessage(encode(m)), ProtocolError, String(m));
});

// ---------------------------------------------------------------------------------------------------------------
// Version 5: view_delay_ms in inputs, max_rewind_ticks in the rules, hits in snapshots

test('input carries view_delay_ms as its 8th element, 0..1000, and refuses anything else', () => {
  assert.equal(MAX_VIEW_DELAY_MS, 1000);
  assert.deepEqual(decode(inputMessage(9, -127, 5, 16384, 1, 1300, 67)), [2, 9, -127, 5, 16384, 1, 1300, 67]);
  // [2, 1, 0, 0, 0, 0, 1235, 1000]: 1000 travels as a uint16 (cd 03e8), 100 as a positive fixint (64).
  assert.equal(hex(inputMessage(1, 0, 0, 0, 0, 1235, 1000)), '98020100000000cd04d3' + 'cd03e8');
  assert.equal(hex(inputMessage(1, 0, 0, 0, 0, 1235, 100)), '98020100000000cd04d3' + '64');
  assert.equal(decode(inputMessage(1, 0, 0, 0, 0, 0)).length, 8, 'the browser always sends 8 elements');
  for (const bad of [-1, 1001, 1.5, NaN, null, '5']) {
    assert.throws(() => inputMessage(1, 0, 0, 0, 0, 1, bad), TypeError, String(bad));
  }
});

test('welcome rules: an 11th number is max_rewind_ticks; 10 rules leave it out', () => {
  const rules11 = [16, 2400, 8, 260, 4, 900, 36, 5, 100, 90, 6];
  const v5 = parseServerMessage(encode([1, 5, 7, 30, 1234, MAP, rules11, ROOM, null]));
  assert.equal(v5.version, 5);
  assert.equal(v5.rules.maxRewindTicks, 6);
  assert.equal(v5.rules.respawnTicks, 90);
  const off = parseServerMessage(encode([1, 5, 7, 30, 1234, MAP, [...RULES, 0], ROOM, null]));
  assert.equal(off.rules.maxRewindTicks, 0, '0: lag compensation off');
  const v4 = parseServerMessage(encode([1, 4, 7, 30, 1234, MAP, RULES, ROOM, null]));
  assert.equal('maxRewindTicks' in v4.rules, false);
  assert.equal(v4.version, 4, 'parsed, so that net.js refuses it by its version');
  for (const bad of [-1, 1.5, 2 ** 32, 'six', null]) {
    const m = [1, 5, 7, 30, 1, MAP, [...RULES, bad], ROOM, null];
    assert.throws(() => parseServerMessage(encode(m)), ProtocolError, String(bad));
  }
  // 8 elements claiming version 4 or 5 are malformed (only a version 3 welcome lacks the session).
  assert.throws(() => parseServerMessage(encode([1, 5, 7, 30, 1, MAP, rules11, ROOM])), ProtocolError);
});

test('snapshots carry hits as a 9th element: [tick, victim] uint32 pairs', () => {
  const msg = parseServerMessage(
    encode([2, 40, 38, 12, [], NO_CHANGES, [], [[40, 1, 7, 9]], [[39, 8], [40, 9], [40, 4294967295]], []]),
  );
  assert.deepEqual(msg.hits, [
    { tick: 39, victim: 8 },
    { tick: 40, victim: 9 },
    { tick: 40, victim: 4294967295 },
  ]);
  assert.deepEqual(msg.events, [{ tick: 40, kind: 1, killer: 7, victim: 9 }]);
  // Nobody hit (and every spectator's snapshot): an empty array, 0x90, before own; nothing changed: an empty bin.
  const none = encode([2, 41, 40, 12, [], NO_CHANGES, [], [], [], []]);
  assert.equal(hex(none), '9a02' + '29280c' + '90' + 'c400' + '909090' + '90');
  assert.deepEqual(parseServerMessage(none).hits, []);
});

test('a malformed hits element makes the snapshot unreadable, like a malformed event', () => {
  const bad = [
    [2, 2, 1, 0, [], NO_CHANGES, [], [], {}, []], // hits not an array
    [2, 2, 1, 0, [], NO_CHANGES, [], [], null, []], // nil
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [[2]], []], // short hit
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [[2, 7, 1]], []], // long hit
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [2, 7], []], // a hit that is not an array
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [[-2, 7]], []], // negative tick
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [[2, -7]], []], // negative victim
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [[2.5, 7]], []], // fractional tick
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [[2, 2 ** 32]], []], // victim beyond uint32
    [2, 2, 1, 0, [], NO_CHANGES, [], [], [[2, '7']], []], // a string
    [2, 2, 1, 0, [], NO_CHANGES, []], // 7 elements
  ];
  for (const m of bad) assert.throws(() => parseServerMessage(encode(m)), ProtocolError, String(m));
});

// ---------------------------------------------------------------------------------------------------------------
// Redirects between server processes: [7, url, join] down, the seat join [6, seat_token] up

const SEAT_TOKEN = 'k3j9x2m4q8rt.9002.AbCdEfGhIjKlMnOp';
/** A create join's options as a redirect's decode them: every option named, null when absent. */
const NO_OPTIONS = { name: null, map: null, maxPlayers: null, tickRate: null, viewRadius: null, private: null };

test('a seat join: [6, seat_token], a string and nothing else', () => {
  assert.deepEqual(seat(SEAT_TOKEN), { kind: 'seat', token: SEAT_TOKEN });
  assert.deepEqual(joinArray(seat(SEAT_TOKEN)), [6, SEAT_TOKEN]);
  // [1, 6, "ana", [6, "t"], "jwt"]: the hello after a redirect keeps the name and the join token.
  assert.equal(hex(helloMessage('ana', seat('t'), 'jwt')), '950107a3616e61' + '9206a174' + 'a36a7774');
  assert.deepEqual(decode(helloMessage('', seat(SEAT_TOKEN))), [1, 7, '', [6, SEAT_TOKEN]]);
  assert.throws(() => joinArray(seat(undefined)), TypeError);
  assert.throws(() => joinArray(seat(42)), TypeError);
});

test('parses a redirect: the url as sent, the join as the builders make it', () => {
  const url = 'ws://127.0.0.1:9002/ws';
  assert.deepEqual(parseServerMessage(encode([7, url, [6, SEAT_TOKEN]])), {
    type: 'redirect',
    url,
    join: { kind: 'seat', token: SEAT_TOKEN },
  });
  // A resume sent to the wrong process comes back as the same resume, for the right one.
  const back = parseServerMessage(encode([7, 'wss://game.example:443/ws', [5, 'r.tok', 4294967295]]));
  assert.equal(back.url, 'wss://game.example:443/ws');
  assert.deepEqual(back.join, resume('r.tok', 4294967295));
});

test('a redirect join decodes every kind, 1 to 6, and joinArray gives the same array back', () => {
  const cases = [
    [[1], quickPlay()],
    [[1, null], quickPlay()],
    [[1, 'duel'], quickPlay('duel')],
    [[2, 'k3j9x2m4q8rt'], joinRoom('k3j9x2m4q8rt')],
    [[3, []], createRoom(NO_OPTIONS)],
    [
      [3, ['mine', 'duel', 8, 60, 500, true]],
      createRoom({ name: 'mine', map: 'duel', maxPlayers: 8, tickRate: 60, viewRadius: 500, private: true }),
    ],
    [[3, [null, null, null, 20]], createRoom({ ...NO_OPTIONS, tickRate: 20 })],
    [[4], spectate()],
    [[4, null], spectate()],
    [[4, 'k3j9x2m4q8rt'], spectate('k3j9x2m4q8rt')],
    [[5, 'r.tok', 0], resume('r.tok', 0)],
    [[5, 'r.tok', 1234], resume('r.tok', 1234)],
    [[6, SEAT_TOKEN], seat(SEAT_TOKEN)],
  ];
  for (const [wire, join] of cases) {
    assert.deepEqual(parseJoin(wire), join, JSON.stringify(wire));
    assert.deepEqual(parseServerMessage(encode([7, 'ws://h:1/ws', wire])).join, join, JSON.stringify(wire));
    // Nil parts are left out again (the server reads [1] and [1, nil] alike); everything else is the same array.
    const trimmed = wire.length === 2 && wire[1] === null ? [wire[0]] : wire;
    const again = joinArray(parseJoin(wire));
    assert.deepEqual(wire[0] === 3 ? decode(encode(again)) : again, trimmed, JSON.stringify(wire));
  }
  // The view radius goes out again as the float32 it came as (ca 43fa0000 is 500.0).
  const radius = encode([7, 'ws://h:1/ws', [3, [null, null, null, null, float32(500)]]]);
  assert.equal(hex(encode(joinArray(parseServerMessage(radius).join))), '9203' + '95c0c0c0c0ca43fa0000');
});

test('a malformed redirect is unreadable: its url, its join, its length', () => {
  const bad = [
    [7],
    [7, 'ws://h:1/ws'],
    [7, 'ws://h:1/ws', [6, 't'], 'extra'],
    [7, 9002, [6, 't']],
    [7, '/ws', [6, 't']], // relative: a redirect names the process absolutely
    [7, '127.0.0.1:9002', [6, 't']],
    [7, 'http://127.0.0.1:9002/ws', [6, 't']],
    [7, 'ws://', [6, 't']],
    [7, 'ws://h:1/ws#seat', [6, 't']], // a fragment: new WebSocket refuses it
    [7, 'ws://h:1/ws', null],
    [7, 'ws://h:1/ws', []],
    [7, 'ws://h:1/ws', [0]],
    [7, 'ws://h:1/ws', [7, 't']], // unknown join kind
    [7, 'ws://h:1/ws', [6]],
    [7, 'ws://h:1/ws', [6, 5]],
    [7, 'ws://h:1/ws', [6, 't', 1]],
    [7, 'ws://h:1/ws', [5, 't']],
    [7, 'ws://h:1/ws', [5, 't', -1]],
    [7, 'ws://h:1/ws', [5, 't', 4294967296]],
    [7, 'ws://h:1/ws', [2]],
    [7, 'ws://h:1/ws', [2, 7]],
    [7, 'ws://h:1/ws', [1, 7]],
    [7, 'ws://h:1/ws', [1, 'duel', 'arena']],
    [7, 'ws://h:1/ws', [4, 'a', 'b']],
    [7, 'ws://h:1/ws', [3]],
    [7, 'ws://h:1/ws', [3, [null, null, 1.5]]],
    [7, 'ws://h:1/ws', [3, [null, null, null, null, null, 'yes']]],
    [7, 'ws://h:1/ws', [3, [null, null, null, null, null, null, null]]],
  ];
  for (const m of bad) assert.throws(() => parseServerMessage(encode(m)), ProtocolError, JSON.stringify(m));
});

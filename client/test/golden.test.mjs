// Golden vectors: the bytes the server's codec produced for every message (client/test/golden.json, written by
// `cargo test --test golden`), held against this client's decoder, encoder, builders and parser. Each vector carries
// the message itself as Rust built it (`message`, in the names protocol.js uses): every field the parser returns
// must equal it, and the builders must turn it back into the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Float32, decode, encode, float32 } from '../msgpack.js';
import {
  C2S,
  PROTOCOL_VERSION,
  ackMessage,
  createRoom,
  helloMessage,
  inputMessage,
  joinRoom,
  parseServerMessage,
  pingMessage,
  quickPlay,
  spectate,
  viewMessage,
} from '../protocol.js';

const GOLDEN = fileURLToPath(new URL('./golden.json', import.meta.url));

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));

/**
 * Deep equality of a decoded MessagePack value with its JSON mirror. Numbers must be equal, except that a float32
 * on the wire (decoded exactly) may be written in JSON as its shortest f32 spelling, so it also matches the value
 * that spelling rounds to in f32.
 */
function sameValue(actual, expected, path) {
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', `${path}: expected a number, got ${typeof actual}`);
    if (actual === expected) return;
    const f32 = Number.isInteger(actual) === false && Math.fround(actual) === actual;
    assert.ok(f32 && Math.fround(expected) === actual, `${path}: ${actual} !== ${expected}`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected an array`);
    assert.equal(actual.length, expected.length, `${path}: array length`);
    for (let i = 0; i < expected.length; i++) sameValue(actual[i], expected[i], `${path}[${i}]`);
    return;
  }
  assert.equal(actual, expected, path);
}

/**
 * `json` (a vector's value) with its numbers turned into Float32 where `typed` (the wire decoded with float32 kept)
 * has a float32: JSON cannot say which numbers travel as f32, the bytes can.
 */
function withFloat32(json, typed) {
  if (typed instanceof Float32) return float32(json);
  if (Array.isArray(json)) return json.map((v, i) => withFloat32(v, typed[i]));
  return json;
}

/** The join as the client's join builders make it, from the vector's join with its every optional part. */
function buildJoin(join) {
  switch (join.kind) {
    case 'quickPlay':
      return quickPlay(join.map);
    case 'room':
      return joinRoom(join.id);
    case 'create':
      return createRoom(join.options);
    case 'spectate':
      return spectate(join.room);
    default:
      return assert.fail(`no builder for join kind ${JSON.stringify(join.kind)}`);
  }
}

/** The client's builder for a client message, called with the message's own fields. */
function build(message) {
  switch (message.type) {
    case 'hello':
      // The builder always says the current version.
      assert.equal(message.version, PROTOCOL_VERSION, 'hello vectors speak the current version');
      return helloMessage(message.name, buildJoin(message.join));
    case 'view':
      return viewMessage(message.follow, message.x, message.y);
    case 'input':
      return inputMessage(message.seq, message.moveX, message.moveY, message.aim, message.buttons, message.ackTick);
    case 'ack':
      return ackMessage(message.tick);
    case 'ping':
      return pingMessage(message.nonce);
    default:
      return assert.fail(`no builder for client message type ${JSON.stringify(message.type)}`);
  }
}

if (!existsSync(GOLDEN)) {
  test('golden vectors', () => {
    assert.fail('client/test/golden.json missing: run cargo test --test golden');
  });
} else {
  const vectors = JSON.parse(readFileSync(GOLDEN, 'utf8'));

  test('golden.json covers every message type in both directions', () => {
    assert.ok(Array.isArray(vectors) && vectors.length > 0, 'golden.json is a non-empty array');
    for (const v of vectors) {
      assert.equal(typeof v.name, 'string');
      assert.ok(v.direction === 'server' || v.direction === 'client', `${v.name}: direction ${v.direction}`);
      assert.match(v.hex, /^([0-9a-f]{2})+$/, `${v.name}: lowercase hex`);
    }
    const tags = (dir) => new Set(vectors.filter((v) => v.direction === dir).map((v) => v.value[0]));
    assert.deepEqual([...tags('server')].sort(), [1, 2, 3, 4, 5], 'welcome, snapshot, pong, close, roster');
    assert.deepEqual([...tags('client')].sort(), [1, 2, 3, 4, 5], 'hello, input, ack, ping, view');
    const types = (dir) => new Set(vectors.filter((v) => v.direction === dir).map((v) => v.message.type));
    assert.deepEqual([...types('server')].sort(), ['close', 'pong', 'roster', 'snapshot', 'welcome']);
    assert.deepEqual([...types('client')].sort(), ['ack', 'hello', 'input', 'ping', 'view']);
    // Every kind of join, each with and without its optional part; welcomes of both roles.
    const joins = vectors.filter((v) => v.message.type === 'hello').map((v) => v.message.join);
    const kinds = new Set(joins.map((j) => j.kind));
    assert.deepEqual([...kinds].sort(), ['create', 'quickPlay', 'room', 'spectate']);
    assert.ok(joins.some((j) => j.kind === 'quickPlay' && j.map === null));
    assert.ok(joins.some((j) => j.kind === 'quickPlay' && j.map !== null));
    assert.ok(joins.some((j) => j.kind === 'spectate' && j.room === null));
    assert.ok(joins.some((j) => j.kind === 'spectate' && j.room !== null));
    const options = joins.filter((j) => j.kind === 'create').map((j) => Object.values(j.options));
    assert.ok(options.some((o) => o.every((v) => v !== null)), 'a create with every option');
    assert.ok(options.some((o) => o.every((v) => v === null)), 'a create with none');
    const roles = vectors.filter((v) => v.message.type === 'welcome').map((v) => v.message.room.role);
    assert.deepEqual([...new Set(roles)].sort(), ['player', 'spectator']);
    // Rosters: an empty one, and one of several players with a name beyond ASCII, a score of 0 or less, a dead one.
    const rosters = vectors.filter((v) => v.message.type === 'roster').map((v) => v.message.players);
    assert.ok(rosters.some((players) => players.length === 0), 'an empty roster');
    const full = rosters.filter((players) => players.length > 1);
    const unicode = (name) => [...name].some((c) => c.codePointAt(0) > 0x7f);
    assert.ok(full.some((players) => players.some((p) => unicode(p.name))), 'a unicode name');
    assert.ok(full.some((players) => players.some((p) => p.score < 0)), 'a negative score');
    assert.ok(full.some((players) => players.some((p) => p.score === 0)), 'a zero score');
    assert.ok(full.some((players) => players.some((p) => p.hp <= 0)), 'a dead player');
    assert.ok(full.some((players) => players.length > 15), 'more than 15 players (array16)');
  });

  for (const v of vectors) {
    test(`golden ${v.direction} ${v.name}`, () => {
      const wire = bytes(v.hex);
      sameValue(decode(wire), v.value, v.name);
      if (v.direction === 'client') {
        assert.equal(hex(encode(withFloat32(v.value, decode(wire, { float32: true })))), v.hex, `${v.name}: encoder`);
        assert.equal(hex(build(v.message)), v.hex, `${v.name}: builder`);
      } else {
        // Every field: masks, values, names, map, rules, entities, events.
        assert.deepEqual(parseServerMessage(wire), v.message, `${v.name}: parsed message`);
      }
    });
  }
}

// Golden vectors: the bytes the server's codec produced for every message (client/test/golden.json, written by
// `cargo test --test golden`), held against this client's decoder, encoder, builders and parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decode, encode } from '../msgpack.js';
import {
  C2S,
  PROTOCOL_VERSION,
  ackMessage,
  helloMessage,
  inputMessage,
  parseServerMessage,
  pingMessage,
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

/** The client's builder for a client message, from the message's own fields; null if there is none. */
function build(value) {
  switch (value[0]) {
    case C2S.HELLO:
      return value[1] === PROTOCOL_VERSION ? helloMessage(value[2]) : null; // the builder says the current version
    case C2S.INPUT:
      return inputMessage(value[1], value[2], value[3], value[4], value[5], value[6]);
    case C2S.ACK:
      return ackMessage(value[1]);
    case C2S.PING:
      return pingMessage(value[1]);
    default:
      return null;
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
    assert.deepEqual([...tags('server')].sort(), [1, 2, 3, 4], 'welcome, snapshot, pong, close');
    assert.deepEqual([...tags('client')].sort(), [1, 2, 3, 4], 'hello, input, ack, ping');
  });

  for (const v of vectors) {
    test(`golden ${v.direction} ${v.name}`, () => {
      const wire = bytes(v.hex);
      sameValue(decode(wire), v.value, v.name);
      if (v.direction === 'client') {
        assert.equal(hex(encode(v.value)), v.hex, `${v.name}: encoder`);
        const built = build(v.value);
        if (built !== null) assert.equal(hex(built), v.hex, `${v.name}: builder`);
      } else {
        const msg = parseServerMessage(wire);
        assert.equal(msg.type, ['welcome', 'snapshot', 'pong', 'close'][v.value[0] - 1], `${v.name}: type`);
        if (msg.type === 'snapshot') {
          assert.equal(msg.tick, v.value[1]);
          assert.equal(msg.created.length, v.value[4].length);
          assert.equal(msg.changed.length, v.value[5].length);
          assert.deepEqual(msg.removed, v.value[6]);
          assert.equal(msg.events.length, v.value[7].length);
          for (const e of msg.events) assert.ok([1, 2, 3].includes(e.kind), `${v.name}: known event kind`);
        }
      }
    });
  }
}

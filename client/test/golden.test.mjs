// Golden vectors: the bytes the server's codec produced for every message (client/test/golden.json, written by
// `cargo test --test golden`), held against this client's decoder, encoder, builders and parser. Each vector carries
// the message itself as Rust built it (`message`, in the names protocol.js uses): every field the parser returns
// must equal it, and the builders must turn it back into the same bytes.
//
// Version 4 names, as tests/golden.rs must write them: a hello's `auth` (null or the token string), a join
// `{kind: 'resume', token, lastTick}`, a client chat `{type: 'chat', text}`, a welcome's `session` (null or
// `{resumeToken, graceMs, inputSeq}`), a server chat `{type: 'chat', tick, from, name, text}`; players' `fields`
// have nine entries (flags last).
//
// Version 5 names: an input's `viewDelayMs` (its 8th element; the browser always sends it, so a vector without it,
// null or absent, is checked as bytes only, not against the builder), a snapshot's `hits` (`[{tick, victim}]`, `[]`
// for none), and a welcome's `rules.maxRewindTicks` (present when the rules array has 11 numbers).
//
// Redirects (version 5, several server processes): a server `{type: 'redirect', url, join}` (tag 7; `join` in the
// hello's names, a create join's `options` naming all six options, null when absent) and a hello's join `{kind:
// 'seat', token}` (kind 6). A golden.json written before them has neither; once it has a redirect it must have
// one whose join is a seat, one whose join is a resume, and a hello with a seat join.
//
// Version 6 (compact deltas): a snapshot's `changed` is a MessagePack bin, written in `message` (and in `value`, the
// JSON mirror of the decoded wire) as an array of byte numbers (0..255); its `own` is `[]` or `[dvx, dvy]` in
// `message`. The parser returns `changed` as a Uint8Array and `own` as null or `{dvx, dvy}`, so both are turned
// into those JSON forms before the comparison. Players' `fields` carry aim 0..255 and vx, vy in multiples of the tick
// rate, which the comparison does not need to know.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Float32, decode, encode, float32 } from '../msgpack.js';
import {
  C2S,
  PROTOCOL_VERSION,
  ackMessage,
  chatMessage,
  createRoom,
  helloMessage,
  inputMessage,
  joinRoom,
  parseServerMessage,
  pingMessage,
  quickPlay,
  resume,
  seat,
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
  if (actual instanceof Uint8Array) {
    // A bin (version 6's `changed`): its JSON mirror is the array of its bytes.
    assert.ok(Array.isArray(expected), `${path}: a bin, expected an array of bytes in the vector`);
    assert.deepEqual([...actual], expected, `${path}: bin bytes`);
    return;
  }
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

/**
 * A parsed server message in the JSON form of golden.json's `message`: a snapshot's `changed` (a Uint8Array) as the
 * array of its bytes, its `own` (null or `{dvx, dvy}`) as `[]` or `[dvx, dvy]`. Other messages as they are.
 */
function asVectorMessage(parsed) {
  if (parsed.type !== 'snapshot') return parsed;
  return {
    ...parsed,
    changed: [...parsed.changed],
    own: parsed.own === null ? [] : [parsed.own.dvx, parsed.own.dvy],
  };
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
    case 'resume':
      return resume(join.token, join.lastTick);
    case 'seat':
      return seat(join.token);
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
      return helloMessage(message.name, buildJoin(message.join), message.auth ?? null);
    case 'view':
      return viewMessage(message.follow, message.x, message.y);
    case 'input':
      return inputMessage(
        message.seq,
        message.moveX,
        message.moveY,
        message.aim,
        message.buttons,
        message.ackTick,
        message.viewDelayMs,
      );
    case 'ack':
      return ackMessage(message.tick);
    case 'ping':
      return pingMessage(message.nonce);
    case 'chat':
      return chatMessage(message.text);
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
    // Redirects (tag 7) are checked once golden.json has them (see the file comment).
    const redirects = tags('server').has(7);
    const serverTags = redirects ? [1, 2, 3, 4, 5, 6, 7] : [1, 2, 3, 4, 5, 6];
    assert.deepEqual([...tags('server')].sort(), serverTags, 'welcome, snapshot, pong, close, roster, chat');
    assert.deepEqual([...tags('client')].sort(), [1, 2, 3, 4, 5, 6], 'hello, input, ack, ping, view, chat');
    const types = (dir) => new Set(vectors.filter((v) => v.direction === dir).map((v) => v.message.type));
    const serverTypes = ['chat', 'close', 'pong', ...(redirects ? ['redirect'] : []), 'roster', 'snapshot', 'welcome'];
    assert.deepEqual([...types('server')].sort(), serverTypes);
    assert.deepEqual([...types('client')].sort(), ['ack', 'chat', 'hello', 'input', 'ping', 'view']);
    // Every kind of join, each with and without its optional part; welcomes of both roles.
    const hellos = vectors.filter((v) => v.message.type === 'hello').map((v) => v.message);
    const joins = hellos.map((h) => h.join);
    const kinds = new Set(joins.map((j) => j.kind));
    const joinKinds = ['create', 'quickPlay', 'resume', 'room', ...(redirects ? ['seat'] : []), 'spectate'];
    assert.deepEqual([...kinds].sort(), joinKinds);
    if (redirects) {
      const moved = vectors.filter((v) => v.message.type === 'redirect').map((v) => v.message);
      assert.ok(moved.some((m) => m.join.kind === 'seat'), 'a redirect with a seat join');
      assert.ok(moved.some((m) => m.join.kind === 'resume'), 'a redirect repeating a resume');
    }
    assert.ok(hellos.some((h) => typeof h.auth === 'string'), 'a hello with a join token');
    assert.ok(hellos.some((h) => (h.auth ?? null) === null), 'a hello without one');
    const welcomes = vectors.filter((v) => v.message.type === 'welcome').map((v) => v.message);
    assert.ok(welcomes.some((w) => w.session !== null), 'a player: a session');
    assert.ok(welcomes.some((w) => w.session === null), 'a spectator: no session');
    const snapshots = vectors.filter((v) => v.message.type === 'snapshot').map((v) => v.message);
    const players = snapshots.flatMap((m) => m.created.filter((e) => e.kind === 0));
    assert.ok(players.length > 0 && players.every((e) => e.fields.length === 9), 'players have nine fields');
    assert.ok(players.some((e) => (e.fields[8] & 1) === 1), 'a disconnected player');
    // Version 5: hits in snapshots, view delays in inputs, max_rewind_ticks in the rules.
    assert.ok(snapshots.every((m) => Array.isArray(m.hits)), 'every snapshot has hits');
    assert.ok(snapshots.some((m) => m.hits.length > 0), 'a snapshot with hits');
    assert.ok(snapshots.some((m) => m.hits.length === 0), 'a snapshot without');
    const inputs = vectors.filter((v) => v.message.type === 'input').map((v) => v.message);
    assert.ok(inputs.some((m) => m.viewDelayMs > 0), 'an input with a view delay');
    assert.ok(welcomes.some((w) => Number.isInteger(w.rules.maxRewindTicks)), 'a welcome with max_rewind_ticks');
    // Version 6: `changed` bytes (empty in a full snapshot; a bit stream in some delta), `own` for both roles.
    const isBytes = (a) => Array.isArray(a) && a.every((b) => Number.isInteger(b) && b >= 0 && b <= 255);
    assert.ok(snapshots.every((m) => isBytes(m.changed)), 'every snapshot has changed as an array of bytes');
    assert.ok(snapshots.every((m) => m.baseline !== 0 || m.changed.length === 0), 'a full snapshot changes nothing');
    assert.ok(snapshots.some((m) => m.baseline !== 0 && m.changed.length > 0), 'a delta with residuals');
    assert.ok(snapshots.some((m) => m.baseline !== 0 && m.changed.length === 0), 'a delta of prediction alone');
    const owns = snapshots.map((m) => m.own);
    assert.ok(owns.every((o) => Array.isArray(o) && (o.length === 0 || o.length === 2)), 'own is [] or [dvx, dvy]');
    assert.ok(owns.some((o) => o.length === 2), "a player's own velocity correction");
    assert.ok(owns.some((o) => o.length === 0), "a spectator's []");
    const chats = vectors.filter((v) => v.message.type === 'chat' && v.direction === 'server').map((v) => v.message);
    assert.ok(chats.some((c) => c.from === 0), "a spectator's chat line");
    assert.ok(chats.some((c) => [...c.text].some((ch) => ch.codePointAt(0) > 0xffff)), 'a chat line beyond the BMP');
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
        // A 7-element input (no view_delay_ms: the server reads it as 0) is valid on the wire, but this client
        // always sends the 8-element form, so no builder makes it.
        const sevenElementInput = v.message.type === 'input' && (v.message.viewDelayMs ?? null) === null;
        if (!sevenElementInput) assert.equal(hex(build(v.message)), v.hex, `${v.name}: builder`);
      } else {
        // Every field: changed bytes, own, names, map, rules, entities, events.
        assert.deepEqual(asVectorMessage(parseServerMessage(wire)), v.message, `${v.name}: parsed message`);
      }
    });
  }
}

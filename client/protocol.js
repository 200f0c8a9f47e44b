// protocol.js: the wire contract of docs/PROTOCOL.md (version 7) in one place.
//
// Type tags, field indexes, the 1/16 position scale and the aim conversion live here; builders turn client messages
// into bytes and parseServerMessage turns server bytes into plain objects, checking their shape. Entity fields stay
// in wire units (integers) so the snapshot store can rebuild the server's state exactly; convert with toWorld().
// Version 3 adds rooms: the hello says which room to join and how (quick play, by id, create, spectate), the welcome
// names the room and the client's role in it, and spectators steer their view with `view` and get a `roster` of the
// whole room once a second. Version 4 (docs/PROTOCOL.md plus the v4 delta) lets a seat outlive its socket: the
// welcome carries a `session` (resume token, grace, input seq), a hello may resume a seat (`[5, token, last_tick]`)
// and carry a signed join token (`auth`), players get a `flags` field (FLAG_DISCONNECTED while their seat is held),
// and everyone in a room may chat (`[6, text]` up, `[6, tick, from, name, text]` down). Version 5 adds lag
// compensation and hit confirmations: every input carries `view_delay_ms` (how far behind its ack_tick the remote
// players it was aimed at were drawn), the welcome's rules gain `max_rewind_ticks` (index 10), and every snapshot
// gains `hits` (`[tick, victim_id]` of the receiving player's bullets that hit someone, repeated like events).
// Version 5's redirects (several server processes sharing one room directory): a hello may be answered, instead of a
// welcome, by `[7, url, join]` (then a close 4014): say hello again on `url` with that join, often the new join kind
// 6, seat (`[6, seat_token]`, a single-use token only servers issue). net.js follows them.
// Version 6 (compact deltas): a snapshot has 10 elements. `changed` is a MessagePack bin, a bit stream of residuals
// over the baseline's entities as the server *predicts* them (players moved by their velocity, respawn counted
// down), which state.js decodes; the new 10th element `own` is `[dvx, dvy]`, the own player's velocity correction
// (its true velocity is its entity's vx + dvx, vy + dvy), or `[]` for a spectator. Players' aim in snapshots is now
// 0..255 (snapshotAimToRadians); inputs still send 0..65535 (aimToRadians, radiansToAim). Players' vx, vy in
// snapshots are multiples of the tick rate.

import { decode, encode, float32 } from './msgpack.js';

export const PROTOCOL_VERSION = 7;

/** Client-to-server type tags. */
export const C2S = Object.freeze({ HELLO: 1, INPUT: 2, ACK: 3, PING: 4, VIEW: 5, CHAT: 6 });
/** Kinds of a hello's `join` (its first element). */
export const JOIN = Object.freeze({ QUICK_PLAY: 1, ROOM: 2, CREATE: 3, SPECTATE: 4, RESUME: 5, SEAT: 6 });
/** A client's part in a room, as parseServerMessage names the welcome's role (wire values 0 and 1). */
export const ROLE_PLAYER = 'player';
export const ROLE_SPECTATOR = 'spectator';
const ROLES = Object.freeze([ROLE_PLAYER, ROLE_SPECTATOR]);
/** Server-to-client type tags. */
export const S2C = Object.freeze({ WELCOME: 1, SNAPSHOT: 2, PONG: 3, CLOSE: 4, ROSTER: 5, CHAT: 6, REDIRECT: 7 });

/** Wire units per world unit, for positions and velocities. */
export const POS_SCALE = 16;
/** Aim steps per full turn of an input's aim (what the client sends: 0..65535). */
export const AIM_STEPS = 65536;
/**
 * Aim steps per full turn of a snapshot's player aim (version 6: 0..255, the input's aim rounded to 256 steps,
 * `((aim + 128) >> 8) & 255`). Convert with snapshotAimToRadians, never aimToRadians.
 */
export const SNAPSHOT_AIM_STEPS = 256;
/** Largest movement value per axis (the value for a fully pressed direction). */
export const MOVE_MAX = 127;
/** `buttons` bit for fire. */
export const BUTTON_FIRE = 1;

export const KIND_PLAYER = 0;
export const KIND_BULLET = 1;

/** Player field indexes (also the column order of a snapshot's `changed` bit stream). */
export const P_X = 0;
export const P_Y = 1;
export const P_VX = 2;
export const P_VY = 3;
export const P_AIM = 4;
export const P_HP = 5;
export const P_SCORE = 6;
export const P_RESPAWN = 7;
/** Bit set of FLAG_* values (new in version 4). */
export const P_FLAGS = 8;
export const PLAYER_FIELD_COUNT = 9;

/** `flags` bit: the player's socket is gone and its seat is held for the resume grace. */
export const FLAG_DISCONNECTED = 1;

/** Bullet field indexes. */
export const B_X = 0;
export const B_Y = 1;
export const B_VX = 2;
export const B_VY = 3;
export const B_OWNER = 4;
export const B_SPAWN_TICK = 5;
export const BULLET_FIELD_COUNT = 6;

/** Number of fields of each entity kind, indexed by kind. */
export const FIELD_COUNT = Object.freeze([PLAYER_FIELD_COUNT, BULLET_FIELD_COUNT]);

export const EVENT_KILL = 1;
export const EVENT_JOIN = 2;
export const EVENT_LEAVE = 3;

/** Names of the `rules` array entries of `welcome`, in wire order. */
export const RULE_NAMES = Object.freeze([
  'playerRadius',
  'accel',
  'friction',
  'maxSpeed',
  'bulletRadius',
  'bulletSpeed',
  'bulletLifetimeTicks',
  'fireIntervalTicks',
  'maxHp',
  'respawnTicks',
]);
/**
 * The welcome's optional 11th rule (index 10, new in version 5): how many ticks back the server rewinds the other
 * players for a shot (0 = lag compensation off). Only shown; nothing here depends on it.
 */
export const RULE_MAX_REWIND_TICKS = 'maxRewindTicks';
/** Largest `view_delay_ms` an input may carry (the server closes the connection, 1007, above it). */
export const MAX_VIEW_DELAY_MS = 1000;
/** Largest uint32, the wire type of ticks and ids. */
const UINT32_MAX = 0xffffffff;
/** The int32 range (own velocity corrections). */
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** Longest player name, in characters (Unicode scalar values) after trimming. */
export const NAME_MAX_CHARS = 16;
/** Longest room name, in characters after trimming. */
export const ROOM_NAME_MAX_CHARS = 24;
/** Longest chat line, in characters (Unicode scalar values) after trimming. */
export const CHAT_MAX_CHARS = 120;
/** Room option names of a create join, in wire order (`[name, map, max_players, tick_rate, view_radius, private]`). */
export const ROOM_OPTION_NAMES = Object.freeze(['name', 'map', 'maxPlayers', 'tickRate', 'viewRadius', 'private']);

/** Thrown when a server message has the wrong shape. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Units

/** Wire units (1/16) to world units. */
export function toWorld(wire) {
  return wire / POS_SCALE;
}

/** An input's wire aim (0..65535, what the client sends) to radians, clockwise on screen from +x. */
export function aimToRadians(aim) {
  return (aim * 2 * Math.PI) / AIM_STEPS;
}

/**
 * A snapshot's player aim (version 6: 0..255, 256 steps per turn; fractional values from interpolation too) to
 * radians, clockwise on screen from +x: `aim / 256 * 2π`.
 */
export function snapshotAimToRadians(aim) {
  return (aim * 2 * Math.PI) / SNAPSHOT_AIM_STEPS;
}

/** Radians (any range) to the nearest wire aim in 0..65535. */
export function radiansToAim(rad) {
  const steps = Math.round((rad * AIM_STEPS) / (2 * Math.PI)) % AIM_STEPS;
  return steps < 0 ? steps + AIM_STEPS : steps;
}

/** Axis value in -1..1 to a wire movement value in -127..127. */
export function toMoveAxis(axis) {
  const v = Math.round(axis * MOVE_MAX);
  return v > MOVE_MAX ? MOVE_MAX : v < -MOVE_MAX ? -MOVE_MAX : v;
}

/**
 * Trims spaces and checks a name against the hello rules. Returns the trimmed name, or null if it is not valid.
 */
export function normalizeName(raw) {
  return normalizeText(raw, NAME_MAX_CHARS);
}

/** Trims a room name and checks it against the room rules (1 to 24 characters, no control characters), or null. */
export function normalizeRoomName(raw) {
  return normalizeText(raw, ROOM_NAME_MAX_CHARS);
}

function normalizeText(raw, maxChars) {
  const text = trimLikeRust(raw);
  const chars = [...text].length;
  if (chars < 1 || chars > maxChars) return null;
  if (CONTROL.test(text)) return null;
  return text;
}

/**
 * Checks a chat line against the server's rules (trimmed, 1 to 120 characters, no control character), with the
 * server's own wording for what is wrong. Returns `{ok: true, text}` (the trimmed line, what goes on the wire) or
 * `{ok: false, reason}`. The server closes the connection (1008) on a line it refuses, so nothing it would refuse
 * may be sent.
 */
export function checkChat(raw) {
  const text = trimLikeRust(raw);
  const chars = [...text].length;
  if (chars === 0) return { ok: false, reason: 'chat line is empty' };
  if (chars > CHAT_MAX_CHARS) return { ok: false, reason: `chat line over ${CHAT_MAX_CHARS} characters` };
  if (CONTROL.test(text)) return { ok: false, reason: 'chat line holds a control character' };
  return { ok: true, text };
}

// Rust's `char::is_control` (general category Cc): what the server refuses in names and chat lines.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Rust's `char::is_whitespace` (the White_Space property), which `str::trim` strips. JavaScript's trim() differs in
// two characters: it keeps U+0085 (which the server strips) and strips U+FEFF (which the server keeps and counts).
const RUST_WHITESPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const TRIM = new RegExp(`^${RUST_WHITESPACE}+|${RUST_WHITESPACE}+$`, 'g');

/** `str::trim` of the server: whitespace as Rust's `char::is_whitespace` defines it, at both ends. */
export function trimLikeRust(raw) {
  return String(raw).replace(TRIM, '');
}

// ---------------------------------------------------------------------------------------------------------------
// Client to server

/** Joins, as helloMessage takes them. Absent optional parts are null (or undefined). */
export function quickPlay(map = null) {
  return { kind: 'quickPlay', map };
}

export function joinRoom(id) {
  return { kind: 'room', id };
}

/** `options`: any of `{name, map, maxPlayers, tickRate, viewRadius, private}`; absent ones get the server's default. */
export function createRoom(options = {}) {
  return { kind: 'create', options };
}

/** Spectate room `room`, or (null) the public room with the most players. */
export function spectate(room = null) {
  return { kind: 'spectate', room };
}

/**
 * Take back the seat `token` names (the newest welcome's `session.resumeToken`), holding snapshots up to
 * `lastTick` (the newest applied tick, 0 for none: the first snapshot is then full).
 */
export function resume(token, lastTick = 0) {
  return { kind: 'resume', token, lastTick };
}

/**
 * The seat a server reserved for this client on another process (`token`: the seat token of a redirect's join). Only
 * servers issue seat tokens, inside redirects; each is single-use and lives a few seconds, so it is sent at once.
 */
export function seat(token) {
  return { kind: 'seat', token };
}

const absent = (v) => v === null || v === undefined;

/** A join (see quickPlay, joinRoom, createRoom, spectate, resume, seat) as the wire array. */
export function joinArray(join) {
  switch (join.kind) {
    case 'quickPlay':
      return absent(join.map) ? [JOIN.QUICK_PLAY] : [JOIN.QUICK_PLAY, String(join.map)];
    case 'room':
      if (typeof join.id !== 'string') throw new TypeError('a room join needs a room id');
      return [JOIN.ROOM, join.id];
    case 'create':
      return [JOIN.CREATE, roomOptionsArray(join.options ?? {})];
    case 'spectate':
      return absent(join.room) ? [JOIN.SPECTATE] : [JOIN.SPECTATE, String(join.room)];
    case 'resume':
      if (typeof join.token !== 'string') throw new TypeError('a resume join needs a resume token');
      if (!Number.isInteger(join.lastTick) || join.lastTick < 0) throw new TypeError('lastTick must be a tick');
      return [JOIN.RESUME, join.token, join.lastTick];
    case 'seat':
      if (typeof join.token !== 'string') throw new TypeError('a seat join needs a seat token');
      return [JOIN.SEAT, join.token];
    default:
      throw new TypeError(`unknown join kind ${JSON.stringify(join.kind)}`);
  }
}

/**
 * Room options as the positional wire array: nil for an absent option, the array cut after the last one given.
 * Integers go as integers, `viewRadius` as a float32 (the server's f32, which rmp-serde always writes as float32),
 * `private` as a boolean.
 */
export function roomOptionsArray(options) {
  const o = options;
  const integer = (v, what) => {
    if (absent(v)) return null;
    if (!Number.isInteger(v) || v < 0) throw new TypeError(`${what} must be a non-negative integer`);
    return v;
  };
  const text = (v) => (absent(v) ? null : String(v));
  const boolean = (v, what) => {
    if (typeof v !== 'boolean') throw new TypeError(`${what} must be a boolean`);
    return v;
  };
  const values = [
    text(o.name),
    text(o.map),
    integer(o.maxPlayers, 'maxPlayers'),
    integer(o.tickRate, 'tickRate'),
    absent(o.viewRadius) ? null : float32(Number(o.viewRadius)),
    absent(o.private) ? null : boolean(o.private, 'private'),
  ];
  let len = values.length;
  while (len > 0 && values[len - 1] === null) len--;
  values.length = len;
  return values;
}

/**
 * `hello`: the name, how to join (quick play on any map when not given) and the signed join token `auth` (a
 * string), left out when null: a 4-element hello means no token, and a server without authentication needs none.
 * A resume's name is ignored by the server (the seat keeps its own) but must still be a string.
 */
export function helloMessage(name, join = quickPlay(), auth = null) {
  const hello = [C2S.HELLO, PROTOCOL_VERSION, name, joinArray(join)];
  if (!absent(auth)) {
    if (typeof auth !== 'string') throw new TypeError('auth must be a string (a join token) or null');
    hello.push(auth);
  }
  return encode(hello);
}

/**
 * `input`: movement values -127..127, aim 0..65535, buttons bit 0 = fire, ack_tick 0 for none, and view_delay_ms
 * (version 5: an integer 0..1000, see delay.js's viewDelayMs; 0 = no lag compensation). Always the 8-element form;
 * a view delay the server would refuse is refused here instead of sent.
 */
export function inputMessage(seq, moveX, moveY, aim, buttons, ackTick, viewDelayMs = 0) {
  if (!Number.isInteger(viewDelayMs) || viewDelayMs < 0 || viewDelayMs > MAX_VIEW_DELAY_MS) {
    throw new TypeError(`view_delay_ms must be an integer 0..${MAX_VIEW_DELAY_MS}, not ${viewDelayMs}`);
  }
  return encode([C2S.INPUT, seq, moveX, moveY, aim, buttons, ackTick, viewDelayMs]);
}

export function ackMessage(ackTick) {
  return encode([C2S.ACK, ackTick]);
}

export function pingMessage(nonce) {
  return encode([C2S.PING, nonce]);
}

/**
 * `view` (spectators only): follow player `follow` (0 = a free camera), with the camera centred on `x`, `y` world
 * units (rounded to integers), which the server uses when follow is 0 or that player is not in the room.
 */
export function viewMessage(follow, x, y) {
  return encode([C2S.VIEW, follow, Math.round(x), Math.round(y)]);
}

/**
 * `chat`: one line for everyone in the room. Only a line checkChat() accepts may go (the server closes the
 * connection on any other), so this refuses the rest rather than send it; `text` goes as given (trim it first).
 */
export function chatMessage(text) {
  const check = checkChat(text);
  if (!check.ok) throw new TypeError(check.reason);
  if (check.text !== text) throw new TypeError('a chat line must be sent trimmed');
  return encode([C2S.CHAT, text]);
}

// ---------------------------------------------------------------------------------------------------------------
// Server to client

/**
 * Decodes and checks one server message. Returns one of
 * `{type: 'welcome', version, playerId, tickRate, tick, map, rules, room: {id, name, role}, session}` (role
 * ROLE_PLAYER or ROLE_SPECTATOR; a spectator's playerId is 0; session `{resumeToken, graceMs, inputSeq}` for a
 * player whose seat can be resumed, else null),
 * `{type: 'snapshot', tick, baseline, lastInputSeq, created, changed, removed, events, hits, own}` (see
 * parseSnapshot: `changed` a Uint8Array, `own` null or `{dvx, dvy}`),
 * `{type: 'pong', nonce}`, `{type: 'close', code, reason}`,
 * `{type: 'roster', tick, players: [{id, name, score, hp}]}` (spectators only; players in the order sent, by id),
 * `{type: 'chat', tick, from, name, text}` (`from` the sender's player id, 0 for a spectator),
 * `{type: 'redirect', url, join}` (say hello on `url`, an absolute ws:// or wss:// URL, with `join`, a join as the
 * builders make it: quickPlay, joinRoom, createRoom, spectate, resume or seat).
 * Throws MsgpackError or ProtocolError.
 */
export function parseServerMessage(bytes) {
  const msg = decode(bytes);
  if (!Array.isArray(msg) || msg.length === 0) throw new ProtocolError('message is not a non-empty array');
  switch (msg[0]) {
    case S2C.WELCOME:
      return parseWelcome(msg);
    case S2C.SNAPSHOT:
      return parseSnapshot(msg);
    case S2C.PONG:
      expectLength(msg, 2, 'pong');
      return { type: 'pong', nonce: uint(msg[1], 'pong nonce') };
    case S2C.CLOSE:
      expectLength(msg, 3, 'close');
      return { type: 'close', code: uint(msg[1], 'close code'), reason: str(msg[2], 'close reason') };
    case S2C.ROSTER:
      return parseRoster(msg);
    case S2C.CHAT:
      expectLength(msg, 5, 'chat');
      return {
        type: 'chat',
        tick: uint(msg[1], 'chat tick'),
        from: uint(msg[2], 'chat from'),
        name: str(msg[3], 'chat name'),
        text: str(msg[4], 'chat text'),
      };
    case S2C.REDIRECT:
      expectLength(msg, 3, 'redirect');
      return { type: 'redirect', url: wsUrl(msg[1], 'redirect url'), join: parseJoin(msg[2]) };
    default:
      throw new ProtocolError(`unknown message tag ${JSON.stringify(msg[0])}`);
  }
}

/** Elements of a version 3 welcome (no session): still read, so that net.js can name a version 3 server. */
const V3_WELCOME_LENGTH = 8;

function parseWelcome(msg) {
  // A welcome of another version is refused by its version (net.js, 4000), which needs it parsed: a version 3
  // welcome is the later one without `session` (a version 4 one is the version 5 one with 10 rules). Any other
  // length, or 8 elements claiming version 4 or later, is malformed.
  const v3 = msg.length === V3_WELCOME_LENGTH && Number.isInteger(msg[1]) && msg[1] < 4;
  if (!v3) expectLength(msg, 9, 'welcome');
  const mapArr = arr(msg[5], 'map');
  expectLength(mapArr, 5, 'map');
  const walls = arr(mapArr[3], 'walls').map((w) => {
    expectLength(arr(w, 'wall'), 4, 'wall');
    return { x: num(w[0], 'wall x'), y: num(w[1], 'wall y'), w: num(w[2], 'wall w'), h: num(w[3], 'wall h') };
  });
  const spawns = arr(mapArr[4], 'spawns').map((s) => {
    expectLength(arr(s, 'spawn'), 2, 'spawn');
    return { x: num(s[0], 'spawn x'), y: num(s[1], 'spawn y') };
  });
  const rulesArr = arr(msg[6], 'rules');
  if (rulesArr.length < RULE_NAMES.length) throw new ProtocolError(`rules has ${rulesArr.length} entries`);
  const rules = {};
  for (let i = 0; i < RULE_NAMES.length; i++) rules[RULE_NAMES[i]] = num(rulesArr[i], RULE_NAMES[i]);
  // Version 5's 11th rule; a 10-rule welcome (version 4) leaves it out of `rules` altogether.
  if (rulesArr.length > RULE_NAMES.length) {
    rules[RULE_MAX_REWIND_TICKS] = uint32(rulesArr[RULE_NAMES.length], 'max_rewind_ticks');
  }
  const tickRate = uint(msg[3], 'tick_rate');
  if (tickRate === 0) throw new ProtocolError('tick_rate is 0');
  const roomArr = arr(msg[7], 'room');
  expectLength(roomArr, 3, 'room');
  const role = ROLES[uint(roomArr[2], 'role')];
  if (role === undefined) throw new ProtocolError(`unknown role ${roomArr[2]}`);
  return {
    type: 'welcome',
    version: uint(msg[1], 'version'),
    playerId: uint(msg[2], 'player_id'),
    tickRate,
    tick: uint(msg[4], 'tick'),
    map: {
      name: str(mapArr[0], 'map name'),
      width: num(mapArr[1], 'map width'),
      height: num(mapArr[2], 'map height'),
      walls,
      spawns,
    },
    rules,
    room: { id: str(roomArr[0], 'room id'), name: str(roomArr[1], 'room name'), role },
    session: v3 ? null : parseSession(msg[8]),
  };
}

/** The welcome's `session`: nil (a spectator, or resuming is off) or `[resume_token, grace_ms, input_seq]`. */
function parseSession(v) {
  if (v === null) return null;
  const a = arr(v, 'session');
  expectLength(a, 3, 'session');
  return {
    resumeToken: str(a[0], 'resume token'),
    graceMs: uint(a[1], 'grace_ms'),
    inputSeq: uint(a[2], 'session input_seq'),
  };
}

/** Elements of a version 6 or 7 snapshot (the same message; version 7 changed only the columns of `changed`). */
const SNAPSHOT_LENGTH = 10;

/**
 * Snapshot as plain data: `created` entries are `{id, kind, fields, name}` (fields in wire units, name null for
 * bullets), `changed` the raw bytes of the version 7 bit stream (a Uint8Array, possibly empty; state.js decodes it
 * against the baseline, as only the baseline says how many entities it covers), `removed` a list of ids, events
 * `{tick, kind, killer, victim}` / `{tick, kind, playerId, name}` / `{tick, kind, playerId}` (unknown kinds keep
 * `{tick, kind}` only, so a newer server's extra events are skipped rather than fatal), hits `{tick, victim}` (the
 * receiving player's bullets that hit a player), and `own` the own player's velocity correction: null for the wire's
 * `[]` (a spectator), else `{dvx, dvy}` (integers, 1/16 units per second: the own player's true velocity is its
 * entity's `vx + dvx`, `vy + dvy`). Only the 10-element (version 6 and 7) form is read: a `changed` that is not a bin, or
 * an `own` that is not an array of 0 or 2 integers, makes the snapshot unreadable.
 */
function parseSnapshot(msg) {
  expectLength(msg, SNAPSHOT_LENGTH, 'snapshot');
  const created = arr(msg[4], 'created').map(parseCreated);
  if (!(msg[5] instanceof Uint8Array)) throw new ProtocolError('changed is not a bin');
  const changed = msg[5];
  const removed = arr(msg[6], 'removed').map((id) => uint(id, 'removed id'));
  const events = arr(msg[7], 'events').map(parseEvent);
  const hits = arr(msg[8], 'hits').map(parseHit);
  return {
    type: 'snapshot',
    tick: uint(msg[1], 'tick'),
    baseline: uint(msg[2], 'baseline'),
    lastInputSeq: uint(msg[3], 'last_input_seq'),
    created,
    changed,
    removed,
    events,
    hits,
    own: parseOwn(msg[9]),
  };
}

/** `own`: `[]` (a spectator) as null, `[dvx, dvy]` (int32 each) as `{dvx, dvy}`. */
function parseOwn(v) {
  const a = arr(v, 'own');
  if (a.length === 0) return null;
  if (a.length !== 2) throw new ProtocolError(`own has ${a.length} elements, expected 0 or 2`);
  return { dvx: int32(a[0], 'own dvx'), dvy: int32(a[1], 'own dvy') };
}

/**
 * `[5, tick, players]`, players `[id, name, score, hp]` (uint32, str, int32, int32): every player of the room at
 * `tick`, whether in the spectator's view or not.
 */
function parseRoster(msg) {
  expectLength(msg, 3, 'roster');
  const tick = uint(msg[1], 'roster tick');
  const players = arr(msg[2], 'roster players').map((p) => {
    expectLength(arr(p, 'roster entry'), 4, 'roster entry');
    return {
      id: uint(p[0], 'roster id'),
      name: str(p[1], 'roster name'),
      score: int(p[2], 'roster score'),
      hp: int(p[3], 'roster hp'),
    };
  });
  return { type: 'roster', tick, players };
}

function parseCreated(e) {
  arr(e, 'created entry');
  if (e.length < 2) throw new ProtocolError('created entry too short');
  const id = uint(e[0], 'entity id');
  const kind = uint(e[1], 'entity kind');
  if (kind === KIND_PLAYER) {
    expectLength(e, 2 + PLAYER_FIELD_COUNT + 1, 'created player');
    const fields = new Array(PLAYER_FIELD_COUNT);
    for (let i = 0; i < PLAYER_FIELD_COUNT; i++) fields[i] = int(e[2 + i], 'player field');
    return { id, kind, fields, name: str(e[2 + PLAYER_FIELD_COUNT], 'player name') };
  }
  if (kind === KIND_BULLET) {
    expectLength(e, 2 + BULLET_FIELD_COUNT, 'created bullet');
    const fields = new Array(BULLET_FIELD_COUNT);
    for (let i = 0; i < BULLET_FIELD_COUNT; i++) fields[i] = int(e[2 + i], 'bullet field');
    return { id, kind, fields, name: null };
  }
  throw new ProtocolError(`unknown entity kind ${kind}`);
}

function parseEvent(e) {
  arr(e, 'event');
  if (e.length < 2) throw new ProtocolError('event too short');
  const tick = uint(e[0], 'event tick');
  const kind = uint(e[1], 'event kind');
  switch (kind) {
    case EVENT_KILL:
      expectLength(e, 4, 'kill event');
      return { tick, kind, killer: uint(e[2], 'killer'), victim: uint(e[3], 'victim') };
    case EVENT_JOIN:
      expectLength(e, 4, 'join event');
      return { tick, kind, playerId: uint(e[2], 'player_id'), name: str(e[3], 'name') };
    case EVENT_LEAVE:
      expectLength(e, 3, 'leave event');
      return { tick, kind, playerId: uint(e[2], 'player_id') };
    default:
      return { tick, kind };
  }
}

/** A hit `[tick, victim_id]`, both uint32; anything else makes the snapshot unreadable, as a bad event does. */
function parseHit(h) {
  arr(h, 'hit');
  expectLength(h, 2, 'hit');
  return { tick: uint32(h[0], 'hit tick'), victim: uint32(h[1], 'hit victim') };
}

/**
 * A join array (a redirect's, in the hello's encoding) as the join builders make it, so that joinArray gives the
 * array back: `[1]`/`[1, nil]`/`[1, map]` quickPlay, `[2, id]` joinRoom, `[3, options]` createRoom (every option
 * named, null when absent), `[4]`/`[4, nil]`/`[4, id]` spectate, `[5, token, last_tick]` resume, `[6, token]` seat.
 */
export function parseJoin(v) {
  const a = arr(v, 'join');
  if (a.length === 0) throw new ProtocolError('join is empty');
  const kind = uint(a[0], 'join kind');
  const optional = (what, element) => {
    if (a.length > 2) throw new ProtocolError(`${what} join has ${a.length} elements, expected 1 or 2`);
    return a.length < 2 || a[1] === null ? null : str(a[1], element);
  };
  switch (kind) {
    case JOIN.QUICK_PLAY:
      return quickPlay(optional('quick play', 'quick play map'));
    case JOIN.ROOM:
      expectLength(a, 2, 'room join');
      return joinRoom(str(a[1], 'room id'));
    case JOIN.CREATE:
      expectLength(a, 2, 'create join');
      return createRoom(parseRoomOptions(a[1]));
    case JOIN.SPECTATE:
      return spectate(optional('spectate', 'spectated room id'));
    case JOIN.RESUME:
      expectLength(a, 3, 'resume join');
      return resume(str(a[1], 'resume token'), uint32(a[2], 'resume last tick'));
    case JOIN.SEAT:
      expectLength(a, 2, 'seat join');
      return seat(str(a[1], 'seat token'));
    default:
      throw new ProtocolError(`unknown join kind ${kind}`);
  }
}

/** Room options `[name, map, max_players, tick_rate, view_radius, private]` (cut short, nil for absent) by name. */
function parseRoomOptions(v) {
  const a = arr(v, 'room options');
  if (a.length > ROOM_OPTION_NAMES.length) throw new ProtocolError(`room options has ${a.length} elements`);
  const checks = [str, str, uint32, uint32, num, bool];
  const options = {};
  ROOM_OPTION_NAMES.forEach((name, i) => {
    options[name] = a[i] === null || a[i] === undefined ? null : checks[i](a[i], `room option ${name}`);
  });
  return options;
}

// Shape checks ---------------------------------------------------------------------------------------------------

function expectLength(a, n, what) {
  if (a.length !== n) throw new ProtocolError(`${what} has ${a.length} elements, expected ${n}`);
}

function arr(v, what) {
  if (!Array.isArray(v)) throw new ProtocolError(`${what} is not an array`);
  return v;
}

function num(v, what) {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ProtocolError(`${what} is not a number`);
  return v;
}

function int(v, what) {
  if (!Number.isInteger(v)) throw new ProtocolError(`${what} is not an integer`);
  return v;
}

function uint(v, what) {
  if (!Number.isInteger(v) || v < 0) throw new ProtocolError(`${what} is not an unsigned integer`);
  return v;
}

function int32(v, what) {
  if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw new ProtocolError(`${what} is not an int32`);
  return v;
}

function uint32(v, what) {
  if (!Number.isInteger(v) || v < 0 || v > UINT32_MAX) throw new ProtocolError(`${what} is not a uint32`);
  return v;
}

function str(v, what) {
  if (typeof v !== 'string') throw new ProtocolError(`${what} is not a string`);
  return v;
}

function bool(v, what) {
  if (typeof v !== 'boolean') throw new ProtocolError(`${what} is not a boolean`);
  return v;
}

/** An absolute WebSocket URL (ws:// or wss://, with a host, no fragment: what `new WebSocket` takes), as a string. */
function wsUrl(v, what) {
  const text = str(v, what);
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new ProtocolError(`${what} ${JSON.stringify(text)} is not an absolute URL`);
  }
  if ((url.protocol !== 'ws:' && url.protocol !== 'wss:') || url.host === '' || url.hash !== '') {
    throw new ProtocolError(`${what} ${JSON.stringify(text)} is not a ws:// or wss:// URL`);
  }
  return text;
}

// Reconnection (reconnect.js): the backoff schedule, the rule of which ends are resumed, the seat kept for reloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BACKOFF_MAX_MS,
  CLOSED_BY_CLIENT,
  CLOSED_BY_SERVER,
  CLOSED_LOST,
  LAST_ATTEMPT_MARGIN_MS,
  RESUME_KEY,
  ReconnectPlan,
  ResumeRecord,
  backoffDelay,
  connectTarget,
  shouldResume,
} from '../reconnect.js';
import { joinRoom, quickPlay, resume, seat as seatJoin, spectate } from '../protocol.js';

/** A random source that always returns `v` (0: the shortest jitter, 0.5: none, just under 1: the longest). */
const fixed = (v) => () => v;
const MAX_RANDOM = 1 - Number.EPSILON;

test('backoff: 100 ms doubling up to 5 s', () => {
  const none = fixed(0.5);
  const delays = [];
  for (let attempt = 0; attempt < 10; attempt++) delays.push(backoffDelay(attempt, none));
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
  assert.equal(backoffDelay(1000, none), BACKOFF_MAX_MS, 'no overflow however long it goes on');
});

test('backoff jitter stays within ±25% of each step', () => {
  const bases = [100, 200, 400, 800, 1600, 3200, 5000, 5000];
  for (let attempt = 0; attempt < bases.length; attempt++) {
    const base = bases[attempt];
    assert.equal(backoffDelay(attempt, fixed(0)), base * 0.75);
    // The top of random()'s range rounds to exactly +25% in floating point: the bounds are inclusive.
    assert.ok(backoffDelay(attempt, fixed(MAX_RANDOM)) <= base * 1.25);
    assert.ok(backoffDelay(attempt, fixed(MAX_RANDOM)) > base * 1.2499);
  }
  // With Math.random: every delay in [0.75, 1.25) of its step, and not all the same (it is jitter).
  const seen = new Set();
  for (let i = 0; i < 500; i++) {
    const d = backoffDelay(3);
    assert.ok(d >= 600 && d <= 1000, `${d}`);
    seen.add(d);
  }
  assert.ok(seen.size > 100);
});

test('a plan gives delays from the drop on, and gives up once the grace is over', () => {
  const plan = new ReconnectPlan(10000, 20000, fixed(0.5));
  assert.equal(plan.deadline, 30000);
  // Attempts follow each other as they fail: each one's delay counts from its failure.
  let now = 10000;
  const delays = [];
  for (;;) {
    const d = plan.next(now);
    if (d === null) break;
    delays.push(d);
    now += d + 20; // the attempt itself takes a moment to fail
  }
  // 100, 200, ..., 3200, 5000, 5000, then what is left before the end (not a full 5 s: the seat is still held).
  assert.deepEqual(delays.slice(0, 8), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  const last = delays.at(-1);
  assert.ok(last < 5000, `the last attempt is squeezed in: ${last}`);
  assert.ok(now - 20 <= plan.deadline - LAST_ATTEMPT_MARGIN_MS, 'no attempt after the grace');
  assert.equal(plan.attempts, delays.length);
  assert.equal(plan.next(now), null, 'and it stays given up');
  assert.equal(plan.expired(now), true);
  assert.equal(new ReconnectPlan(0, 20000).expired(100), false);
});

test('a plan whose grace is already over gives no attempt; a short grace gets what fits', () => {
  assert.equal(new ReconnectPlan(0, 20000, fixed(0.5)).next(20000), null);
  assert.equal(new ReconnectPlan(0, 0, fixed(0.5)).next(0), null, 'grace 0: resuming is off');
  const short = new ReconnectPlan(0, 400, fixed(0.5));
  assert.equal(short.next(0), 100);
  assert.equal(short.next(120), 30, 'only 30 ms are left before the margin');
  assert.equal(short.next(150), null);
});

test('which ends are resumed: lost links and the server letting go with the seat held', () => {
  // No close message: the link broke, whatever the code.
  assert.equal(shouldResume(CLOSED_LOST, 1006, ''), true);
  assert.equal(shouldResume(CLOSED_LOST, 1005, ''), true);
  assert.equal(shouldResume(CLOSED_LOST, 1000, ''), true);
  // Said by the server, with the seat held.
  assert.equal(shouldResume(CLOSED_BY_SERVER, 1001, 'idle timeout: nothing received for 15 s'), true);
  assert.equal(shouldResume(CLOSED_BY_SERVER, 1008, 'client too slow: not reading for 5.0 s'), true);
  assert.equal(shouldResume(CLOSED_BY_SERVER, 1011, 'the room stopped unexpectedly'), true);
  // Said by the server, seat gone: shutdown, refusals, misbehaviour, the seat taken elsewhere.
  assert.equal(shouldResume(CLOSED_BY_SERVER, 1001, 'server shutting down'), false);
  for (const [code, reason] of [
    [1000, ''],
    [1002, 'client frames must be masked'],
    [1003, 'text messages are not accepted; send binary MessagePack'],
    [1007, 'malformed message: unknown message type 9'],
    [1008, 'chat flood: more than 3 lines at once or 1 per second'],
    [1008, 'message flood: more than 180 messages per second'],
    [1008, 'input sequence must increase (5 after 5)'],
    [1009, 'frame exceeds the message size limit of 512 bytes'],
    [4000, 'protocol version mismatch: server speaks 5, client sent 4'],
    [4001, 'no room with id x'],
    [4002, 'room x is full (8 players)'],
    [4007, 'resume refused: unknown, expired or already used token'],
    [4007, 'resume refused: room k3j9x2m4q8rt is gone'],
    [4008, 'session resumed on another connection'],
    [4010, 'this server requires a signed join token'],
    [4011, 'join token signature does not match'],
    [4012, 'join token expired'],
    [4013, 'join token is for room x'],
    [4014, 'moved to ws://127.0.0.1:9002/ws'],
    [4015, 'seat token expired'],
    [4015, 'seat token is for another server'],
    [4015, 'seat token already used'],
  ]) {
    assert.equal(shouldResume(CLOSED_BY_SERVER, code, reason), false, `${code} ${reason}`);
  }
  // This page's own closes are never resumed (it left, or the server sent something unreadable).
  assert.equal(shouldResume(CLOSED_BY_CLIENT, 1000, 'left for the lobby'), false);
  assert.equal(shouldResume(CLOSED_BY_CLIENT, 1007, 'unreadable server message'), false);
  assert.equal(shouldResume(CLOSED_BY_SERVER, 1001, undefined), true, 'a 1001 without a reason is not a shutdown');
});

/** A Storage stand-in (sessionStorage's getItem, setItem, removeItem). */
class FakeStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(k) {
    return this.items.has(k) ? this.items.get(k) : null;
  }
  setItem(k, v) {
    this.items.set(k, String(v));
  }
  removeItem(k) {
    this.items.delete(k);
  }
}

const seat = (changes = {}) => ({
  url: 'ws://game/ws',
  server: 'ws://game/ws',
  room: 'k3j9x2m4q8rt',
  name: 'ana',
  playerId: 2,
  token: 'k3j9x2m4q8rt.AbCdEfGhIjKlMnOpQrStUvWx',
  graceMs: 20000,
  droppedAt: null,
  ...changes,
});

test('the stored seat: written at a welcome, stamped at a drop, usable by a reload within the grace', () => {
  const storage = new FakeStorage();
  const record = new ResumeRecord(storage);
  assert.equal(record.read(), null);
  record.save(seat());
  assert.deepEqual(record.read(), seat());
  // Still connected (a duplicated tab copies sessionStorage): not to be taken.
  assert.equal(record.usable('ws://game/ws', null, 1e12), null);
  assert.notEqual(record.read(), null, 'and left alone for the tab it belongs to');
  record.markDropped(1e12);
  assert.equal(record.read().droppedAt, 1e12);
  record.markDropped(2e12);
  assert.equal(record.read().droppedAt, 1e12, 'the first drop counts');
  assert.deepEqual(record.usable('ws://game/ws', null, 1e12 + 5000), seat({ droppedAt: 1e12 }));
  assert.deepEqual(record.usable('ws://game/ws', 'k3j9x2m4q8rt', 1e12 + 5000), seat({ droppedAt: 1e12 }));
  // Another room in the address, or another server: not this seat (and it is forgotten).
  assert.equal(record.usable('ws://game/ws', 'zzzzzzzzzzzz', 1e12 + 5000), null);
  assert.equal(storage.getItem(RESUME_KEY), null);
  record.save(seat({ droppedAt: 1e12 }));
  assert.equal(record.usable('ws://other/ws', null, 1e12 + 5000), null);
  // Past the grace: gone.
  record.save(seat({ droppedAt: 1e12 }));
  assert.equal(record.usable('ws://game/ws', null, 1e12 + 20000), null);
  assert.equal(storage.getItem(RESUME_KEY), null);
  record.save(seat());
  record.clear();
  assert.equal(record.read(), null);
});

test('the stored seat survives no storage, broken storage or a foreign value', () => {
  const none = new ResumeRecord(null);
  none.save(seat());
  none.markDropped(1);
  none.clear();
  assert.equal(none.read(), null);
  assert.equal(none.usable('ws://game/ws', null, 1), null);
  const throwing = new ResumeRecord({
    getItem() {
      throw new Error('SecurityError');
    },
    setItem() {
      throw new Error('QuotaExceededError');
    },
    removeItem() {
      throw new Error('SecurityError');
    },
  });
  throwing.save(seat());
  throwing.clear();
  assert.equal(throwing.read(), null);
  const storage = new FakeStorage();
  const record = new ResumeRecord(storage);
  for (const junk of ['{', '42', '"seat"', JSON.stringify({ ...seat(), token: 5 }), JSON.stringify({ url: 'x' })]) {
    storage.setItem(RESUME_KEY, junk);
    assert.equal(record.read(), null, junk);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Redirects: the seat lives on the process that welcomed it, which need not be the page's

const PAGE = 'ws://game:8080/ws';
const B = 'ws://127.0.0.1:9002/ws';

test('a resume goes to the server that welcomed the seat; every other join to the page\'s own', () => {
  // Redirected to B and welcomed there: the seat is on B, and so are its resumes.
  assert.equal(connectTarget(resume('r.tok', 1234), PAGE, B), B);
  // Never redirected: the page's server welcomed it.
  assert.equal(connectTarget(resume('r.tok', 1234), PAGE, PAGE), PAGE);
  // Before any welcome (a first join), and fresh joins (Reconnect on the panel): the page's, which redirects anew.
  for (const join of [quickPlay(), joinRoom('k3j9x2m4q8rt'), spectate(), seatJoin('s.tok')]) {
    assert.equal(connectTarget(join, PAGE, null), PAGE, join.kind);
    assert.equal(connectTarget(join, PAGE, B), PAGE, join.kind);
  }
  assert.equal(connectTarget(resume('r.tok'), PAGE, null), PAGE, 'no welcome yet: the page\'s');
});

test('the stored seat keeps its server: a reload at the page resumes on the process it was redirected to', () => {
  const storage = new FakeStorage();
  const record = new ResumeRecord(storage);
  record.save(seat({ url: PAGE, server: B }));
  record.markDropped(1e12);
  // The page's URL is what a reload matches (the redirect target is not the page's); the server is where to go.
  const r = record.usable(PAGE, 'k3j9x2m4q8rt', 1e12 + 5000);
  assert.equal(r.server, B);
  assert.equal(r.url, PAGE);
  assert.equal(record.read().server, B, 'the drop stamp keeps it');
  assert.equal(new ResumeRecord(storage).usable(B, null, 1e12 + 5000), null, 'the record is the page\'s, not B\'s');
  // A record written before redirects (no server): resumed where the page connects.
  const old = seat({ url: PAGE, droppedAt: 1e12 });
  delete old.server;
  storage.setItem(RESUME_KEY, JSON.stringify(old));
  assert.equal(record.read().server, PAGE);
  storage.setItem(RESUME_KEY, JSON.stringify({ ...old, server: 9002 }));
  assert.equal(record.read(), null, 'a server that is not a string: not ours');
});

// The dashboard's pure parts (dashboard.data.js, dashboard.chart.js): the ring buffer its samples live in, rates
// from counter deltas, what a server restart and a closing room do to them, the series and table rows taken from
// `/dashboard/data` replies, the bounded legends, the token, and the charts' scales and formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CAPACITY,
  DATA_PATH,
  History,
  POLL_MS,
  Ring,
  WINDOW_MS,
  counterDelta,
  counterRate,
  dataRequest,
  isRestart,
  pickTop,
  roomRows,
  roomSumDelta,
  sampleOf,
  spectateHref,
  tokenFrom,
} from '../dashboard.data.js';
import {
  MIN_SPAN_MS,
  agoLabel,
  formatValue,
  niceScale,
  segments,
  stack,
  timeSpan,
  timeStep,
} from '../dashboard.chart.js';

/** A `/dashboard/data` reply: totals summed from `rooms` as the server does, process counters from `process`. */
function reply(rooms, process = {}) {
  const sum = (key) => rooms.reduce((n, room) => n + (room[key] ?? 0), 0);
  return {
    status: 'ok',
    rooms_open: rooms.length,
    players: sum('players'),
    spectators: sum('spectators'),
    connections: sum('players') + sum('spectators'),
    websockets: sum('players') + sum('spectators'),
    bytes_sent: sum('bytes_sent'),
    frames_sent: sum('frames_sent'),
    frames_dropped: sum('frames_dropped'),
    tick_overruns: sum('tick_overruns'),
    violations: 0,
    messages_dropped: 0,
    disconnects: { peer_closed: 0, idle_timeout: 0 },
    ...process,
    rooms,
  };
}

function room(id, fields = {}) {
  return {
    id,
    name: `room ${id}`,
    players: 2,
    spectators: 0,
    tick_rate: 30,
    tick: 100,
    tick_micros_p50: 1500,
    tick_micros_p99: 4000,
    bytes_sent: 0,
    frames_sent: 0,
    frames_dropped: 0,
    tick_overruns: 0,
    ...fields,
  };
}

test('a ring keeps its items oldest first and overwrites the oldest once full', () => {
  const ring = new Ring(3);
  assert.equal(ring.length, 0);
  assert.equal(ring.newest(), undefined);
  for (const n of [1, 2, 3]) ring.push(n);
  assert.deepEqual(ring.toArray(), [1, 2, 3]);
  ring.push(4);
  ring.push(5);
  assert.deepEqual(ring.toArray(), [3, 4, 5]);
  assert.equal(ring.length, 3);
  assert.equal(ring.oldest(), 3);
  assert.equal(ring.newest(), 5);
  assert.equal(ring.at(1), 4);
  assert.equal(ring.at(3), undefined);
  assert.equal(ring.at(-1), undefined);
});

test('a ring shifts from the front, wraps around, and clears', () => {
  const ring = new Ring(3);
  for (const n of [1, 2, 3, 4]) ring.push(n);
  assert.equal(ring.shift(), 2);
  ring.push(5);
  ring.push(6); // full again: 6 overwrites 3
  assert.deepEqual(ring.toArray(), [4, 5, 6]);
  assert.equal(ring.shift(), 4);
  assert.equal(ring.shift(), 5);
  assert.equal(ring.shift(), 6);
  assert.equal(ring.shift(), undefined);
  assert.equal(ring.length, 0);
  ring.push(7);
  assert.deepEqual(ring.toArray(), [7]);
  ring.clear();
  assert.deepEqual(ring.toArray(), []);
  assert.throws(() => new Ring(0), RangeError);
  assert.throws(() => new Ring(2.5), RangeError);
});

test('a counter delta is the growth, and a counter that went down restarted from zero', () => {
  assert.equal(counterDelta(100, 250), 150);
  assert.equal(counterDelta(250, 250), 0);
  // Restarted: it counted 40 since it was zero again, never -210.
  assert.equal(counterDelta(250, 40), 40);
  assert.equal(counterDelta(undefined, 40), null);
  assert.equal(counterDelta(10, null), null);
  assert.equal(counterDelta(10, 'x'), null);
});

test('a counter rate is per second over the interval, and none without a positive interval', () => {
  assert.equal(counterRate(1000, 3000, 1000), 2000);
  assert.equal(counterRate(1000, 3000, 2000), 1000);
  assert.equal(counterRate(1000, 1500, 500), 1000);
  assert.equal(counterRate(5000, 300, 1000), 300, 'after a restart, the count since it');
  assert.equal(counterRate(1, 2, 0), null);
  assert.equal(counterRate(1, 2, -5), null);
  assert.equal(counterRate(undefined, 2, 1000), null);
});

test('a restart is a process counter going down, never a room closing', () => {
  const before = reply([room('a', { bytes_sent: 5000 }), room('b', { bytes_sent: 9000 })], {
    violations: 3,
    bytes_received: 7000,
    disconnects: { peer_closed: 4, idle_timeout: 1 },
  });
  assert.equal(isRestart(null, before), false, 'the first reply is no restart');
  // Room b closed: the room-summed totals fell, the process's counters did not.
  const closed = reply([room('a', { bytes_sent: 6000 })], {
    violations: 3,
    bytes_received: 7100,
    disconnects: { peer_closed: 6, idle_timeout: 1 },
  });
  assert.ok(closed.bytes_sent < before.bytes_sent);
  assert.equal(isRestart(before, closed), false);
  // The process started again: its counters are back near zero.
  const restarted = reply([room('c', { bytes_sent: 100 })], {
    violations: 0,
    bytes_received: 50,
    disconnects: { peer_closed: 0, idle_timeout: 0 },
  });
  assert.equal(isRestart(closed, restarted), true);
  // Any one of them tells, the disconnects' total included.
  assert.equal(isRestart({ bytes_received: 10 }, { bytes_received: 9 }), true);
  assert.equal(isRestart({ disconnects: { a: 2, b: 2 } }, { disconnects: { a: 3, b: 0 } }), true);
  assert.equal(isRestart({ disconnects: { a: 2, b: 2 } }, { disconnects: { a: 3, b: 2 } }), false);
  // A start time or uptime, should the server add one, tells too; fields it lacks are no evidence either way.
  assert.equal(isRestart({ started_at: 'x' }, { started_at: 'y' }), true);
  assert.equal(isRestart({ uptime_seconds: 50 }, { uptime_seconds: 2 }), true);
  assert.equal(isRestart({ uptime_seconds: 50 }, { uptime_seconds: 51 }), false);
  assert.equal(isRestart({}, {}), false);
});

test('room-summed rates come from each room: a closing room is no drop, a new room counts from zero', () => {
  const a = reply([room('a', { bytes_sent: 1000 }), room('b', { bytes_sent: 50000 })]);
  const b = reply([room('a', { bytes_sent: 1600 }), room('c', { bytes_sent: 300 })]);
  // The total fell from 51000 to 1900, yet 600 (room a) + 300 (new room c) bytes went out.
  assert.equal(roomSumDelta(a, b, 'bytes_sent'), 900);
  // A room whose counter went down (its id reused after a restart) restarted from zero.
  const c = reply([room('a', { bytes_sent: 200 }), room('c', { bytes_sent: 400 })]);
  assert.equal(roomSumDelta(b, c, 'bytes_sent'), 200 + 100);
  // Without room lists: the totals, with the same reset rule.
  assert.equal(roomSumDelta({ bytes_sent: 10 }, { bytes_sent: 25 }, 'bytes_sent'), 15);
  assert.equal(roomSumDelta({ bytes_sent: 10 }, { bytes_sent: 4 }, 'bytes_sent'), 4);
  // No room open: nothing went out.
  assert.equal(roomSumDelta(a, reply([]), 'bytes_sent'), 0);
});

test('the process-wide totals, when the reply has them, count closed rooms too and tell a restart', () => {
  const a = {
    ...reply([room('a', { bytes_sent: 1000 }), room('b', { bytes_sent: 50000 })]),
    totals: { bytes_sent: 90000, rooms_opened: 3 },
  };
  const b = { ...reply([room('a', { bytes_sent: 1600 })]), totals: { bytes_sent: 90800, rooms_opened: 3 } };
  // Room b sent 200 more bytes before it closed: the totals know, the open rooms do not.
  assert.equal(roomSumDelta(a, b, 'bytes_sent'), 800);
  assert.equal(sampleOf(b, 2000, a, 1000).bytes_out, 800);
  assert.equal(isRestart(a, b), false);
  const restarted = { ...reply([room('c', { bytes_sent: 70 })]), totals: { bytes_sent: 70, rooms_opened: 1 } };
  assert.equal(isRestart(b, restarted), true);
  assert.equal(roomSumDelta(b, restarted, 'bytes_sent'), 70);
  // One reply with totals and one without (a server upgraded in between): the rooms' own deltas.
  assert.equal(roomSumDelta(reply([room('a', { bytes_sent: 1000 })]), b, 'bytes_sent'), 600);
});

test('a sample has the gauges at once, and rates and per-room figures from the second reply on', () => {
  const first = reply([room('a', { bytes_sent: 1000, frames_sent: 30 })], {
    bytes_received: 400,
    frames_received: 20,
    disconnects: { peer_closed: 1, idle_timeout: 0 },
  });
  const s1 = sampleOf(first, 10_000);
  assert.equal(s1.players, 2);
  assert.equal(s1.rooms, 1);
  assert.equal(s1['tick_p50:a'], 1.5, 'microseconds become milliseconds');
  assert.equal(s1['tick_p99:a'], 4);
  assert.equal(s1.bytes_out, undefined, 'no rate from one reply');
  const second = reply([room('a', { bytes_sent: 3000, frames_sent: 90, frames_dropped: 2 })], {
    bytes_received: 1400,
    frames_received: 50,
    disconnects: { peer_closed: 4, idle_timeout: 1 },
  });
  const s2 = sampleOf(second, 12_000, first, 10_000);
  assert.equal(s2.bytes_out, 1000, '2000 bytes over 2 s');
  assert.equal(s2.frames_out, 30);
  assert.equal(s2.frames_dropped, 1);
  assert.equal(s2.bytes_in, 500);
  assert.equal(s2.frames_in, 15);
  assert.equal(s2['bytes_out:a'], 1000);
  assert.equal(s2['disconnects:peer_closed'], 1.5);
  assert.equal(s2['disconnects:idle_timeout'], 0.5);
});

test('fields the server does not send are left out of a sample, not plotted as zero', () => {
  const bare = { players: 3, rooms: [{ id: 'r', players: 3 }] };
  const s = sampleOf(bare, 2000, { players: 1, rooms: [{ id: 'r', players: 1 }] }, 1000);
  assert.equal(s.players, 3);
  for (const name of ['connections', 'bytes_in', 'frames_in', 'tick_p99:r', 'tick_p50:r', 'bytes_out:r']) {
    assert.equal(name in s, false, name);
  }
  // A reply without rooms or disconnects at all still gives its gauges.
  assert.deepEqual(sampleOf({ connections: 4, junk: 'x', rooms: 'no' }, 0), { connections: 4 });
});

test('the history keeps series over the window, bounded, and counts restarts', () => {
  const history = new History({ capacity: 8, windowMs: 5000 });
  let bytes = 0;
  for (let i = 0; i < 5; i++) {
    bytes += 1000;
    history.add(reply([room('a', { bytes_sent: bytes })], { bytes_received: bytes }), i * 1000);
  }
  assert.equal(history.series('players').length, 5);
  assert.deepEqual(
    history.series('bytes_out').map((p) => p.v),
    [1000, 1000, 1000, 1000],
  );
  const counts = history.counts();
  assert.equal(counts.players, 5);
  assert.equal(counts.bytes_out, 4);
  assert.equal(counts['tick_p99:a'], 5);
  assert.deepEqual(history.keys('tick_p99'), ['a']);
  assert.equal(history.restarts, 0);

  // The server restarts: new rooms, counters from zero. The rate is what was counted since, never negative.
  history.add(reply([room('z', { bytes_sent: 300 })], { bytes_received: 200 }), 5000);
  assert.equal(history.restarts, 1);
  assert.deepEqual(history.restartTimes(), [5000]);
  const newest = history.newest().values;
  assert.equal(newest.bytes_out, 300);
  assert.equal(newest.bytes_in, 200);
  assert.ok(history.series('bytes_out').every((p) => p.v >= 0));

  // Samples older than the window go; so does a room that has none left.
  for (let t = 6000; t <= 11_000; t += 1000) history.add(reply([room('z')]), t);
  assert.ok(history.samples.oldest().t >= 11_000 - 5000);
  assert.deepEqual(history.keys('tick_p99'), ['z']);
  assert.deepEqual(history.restartTimes(), [], 'the restart left the window');
  // And never more than its capacity, however fast it is fed.
  for (let t = 11_001; t < 11_100; t++) history.add(reply([room('z')]), t);
  assert.equal(history.samples.length, 8);
});

test('the default history covers five minutes of polls', () => {
  assert.equal(POLL_MS, 1000);
  assert.equal(WINDOW_MS, 300_000);
  assert.ok(CAPACITY * POLL_MS >= WINDOW_MS);
  const history = new History();
  for (let t = 0; t <= 400_000; t += 1000) history.add(reply([room('a')]), t);
  assert.equal(history.series('players').length, 301, 'every poll of the last five minutes, ends included');
  assert.equal(history.series('players')[0].t, 100_000);
});

test('max, total and sumOf read across a series for the legends', () => {
  const history = new History();
  history.add({ disconnects: { a: 0, b: 0, c: 0 } }, 0);
  history.add({ disconnects: { a: 2, b: 1, c: 0 } }, 1000);
  history.add({ disconnects: { a: 3, b: 4, c: 0 } }, 2000);
  assert.equal(history.max('disconnects:a'), 2);
  assert.equal(history.total('disconnects:b'), 4);
  assert.deepEqual(
    history.sumOf(['disconnects:a', 'disconnects:b']).map((p) => [p.t, p.v]),
    [
      [1000, 3],
      [2000, 4],
    ],
  );
  assert.deepEqual(history.keys('disconnects').sort(), ['a', 'b', 'c']);
});

test('a bounded legend shows the highest first, stably, and leaves out what never happened', () => {
  const scores = { a: 1, b: 5, c: 5, d: 0, e: 2 };
  const top = pickTop(Object.keys(scores), (k) => scores[k], 3, 0);
  assert.deepEqual(top.shown, ['b', 'c', 'e']);
  assert.deepEqual(top.rest, ['a']);
  assert.deepEqual(pickTop(['x', 'y'], () => 1, 5).shown, ['x', 'y']);
  assert.deepEqual(pickTop([], () => 1, 5), { shown: [], rest: [] });
});

test('room rows show each room with its figures and where to spectate it, most players first', () => {
  const data = reply([
    room('aaaa', { name: 'small', players: 1, max_players: 16 }),
    room('bb&b', { name: 'big', players: 9, spectators: 2, private: true, tick_micros_p99: 12_500 }),
    { id: 'cccc', players: 1 },
  ]);
  const rows = roomRows(data, { values: { 'bytes_out:aaaa': 2048 } });
  assert.deepEqual(
    rows.map((r) => r.id),
    ['bb&b', 'cccc', 'aaaa'],
  );
  const [big, bare, small] = rows;
  assert.equal(big.name, 'big');
  assert.equal(big.private, true);
  assert.equal(big.spectators, 2);
  assert.equal(big.p99Ms, 12.5);
  assert.equal(big.spectate, '/?room=bb%26b&spectate=1', 'the id is escaped in the link');
  assert.equal(small.bytesPerSec, 2048);
  assert.equal(small.maxPlayers, 16);
  assert.equal(big.bytesPerSec, null, 'no rate yet');
  assert.equal(bare.name, 'cccc', 'a room without a name shows its id');
  assert.equal(bare.tickRate, null);
  assert.equal(bare.p50Ms, null);
  assert.deepEqual(roomRows({}), []);
  assert.equal(spectateHref('abc234'), '/?room=abc234&spectate=1');
});

test('the metrics token comes from the page address and goes out as a bearer token', () => {
  assert.equal(tokenFrom('?token=s3cret'), 's3cret');
  assert.equal(tokenFrom('?x=1&token=a%20b'), 'a b');
  assert.equal(tokenFrom(''), null);
  assert.equal(tokenFrom('?token='), null);
  const withToken = dataRequest('http://host:8080/dashboard?token=s3cret', 's3cret');
  assert.equal(withToken.url, 'http://host:8080/dashboard/data');
  assert.equal(withToken.init.headers.Authorization, 'Bearer s3cret');
  assert.equal(withToken.init.cache, 'no-store');
  const without = dataRequest('http://host:8080/dashboard/', null);
  assert.equal(without.url, `http://host:8080${DATA_PATH}`, 'from the site root, whatever the page path');
  assert.equal('Authorization' in without.init.headers, false);
});

test('chart axes end on a round bound divided in round steps', () => {
  const scale = (v) => {
    const s = niceScale(v);
    return [s.max, s.step];
  };
  assert.deepEqual(scale(0), [1, 0.25]);
  assert.deepEqual(scale(0.7), [1, 0.2]);
  assert.deepEqual(scale(1), [1, 0.2]);
  assert.deepEqual(scale(1.2), [2, 0.5]);
  assert.deepEqual(scale(2.2), [2.5, 0.5]);
  assert.deepEqual(scale(37), [50, 10]);
  assert.deepEqual(scale(5000), [5000, 1000]);
  assert.deepEqual(scale(6000), [10_000, 2000]);
  assert.deepEqual(scale(NaN), [1, 0.25]);
});

test('chart values are formatted in their units', () => {
  assert.equal(formatValue(512, 'B/s'), '512 B/s');
  assert.equal(formatValue(2048, 'B/s'), '2 kB/s');
  assert.equal(formatValue(1_250_000, 'B/s'), '1.3 MB/s');
  assert.equal(formatValue(3.456, 'ms'), '3.46 ms');
  assert.equal(formatValue(0, '/s'), '0/s');
  assert.equal(formatValue(1234), '1234');
  assert.equal(formatValue(25_000, '/s'), '25k/s');
  assert.equal(formatValue(13_495, '/s'), '13.5k/s');
  assert.equal(formatValue(2_500_000), '2.5M');
  assert.equal(formatValue(12.34), '12.3');
  assert.equal(formatValue(null, 'ms'), '–');
  assert.equal(formatValue(undefined), '–');
});

test('lines break where samples are missing, and stacked layers add up', () => {
  const points = [0, 1000, 2000, 6000, 7000].map((t) => ({ t, v: 1 }));
  assert.deepEqual(
    segments(points, 2500).map((run) => run.map((p) => p.t)),
    [
      [0, 1000, 2000],
      [6000, 7000],
    ],
  );
  assert.deepEqual(segments([], 2500), []);
  const { times, tops } = stack([
    [
      { t: 0, v: 1 },
      { t: 1000, v: 2 },
    ],
    [
      { t: 1000, v: 3 },
      { t: 2000, v: 1 },
    ],
  ]);
  assert.deepEqual(times, [0, 1000, 2000]);
  assert.deepEqual(tops, [
    [1, 2, 0],
    [1, 5, 1],
  ]);
});

test('a chart spans its data, from half a minute up to the full window, with round time ticks', () => {
  const now = 1_000_000;
  assert.equal(MIN_SPAN_MS, 30_000);
  // Ten seconds of samples: the shortest span, so they fill a third of the width rather than a sliver.
  assert.deepEqual(timeSpan(now, WINDOW_MS, now - 10_000), { from: now - 30_000, span: 30_000 });
  assert.deepEqual(timeSpan(now, WINDOW_MS, now - 90_000), { from: now - 90_000, span: 90_000 });
  // Once the window is full it slides; with no sample yet it shows the window.
  assert.deepEqual(timeSpan(now, WINDOW_MS, now - 900_000), { from: now - WINDOW_MS, span: WINDOW_MS });
  assert.deepEqual(timeSpan(now, WINDOW_MS, null), { from: now - WINDOW_MS, span: WINDOW_MS });
  assert.equal(timeStep(30_000), 5000);
  assert.equal(timeStep(90_000), 15_000);
  assert.equal(timeStep(WINDOW_MS), 60_000);
  assert.ok(WINDOW_MS / timeStep(WINDOW_MS) <= 6);
  assert.equal(agoLabel(0), 'now');
  assert.equal(agoLabel(15_000), '−15 s');
  assert.equal(agoLabel(120_000), '−2 min');
});

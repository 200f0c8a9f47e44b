// The lobby's pure half (lobby.js): room rows from GET /rooms, create options, the join a URL asks for; and what
// the disconnected panel says for each close code (screens.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CUSTOM_MAP,
  SPECTATOR_NAME,
  createOptions,
  describeJoin,
  httpBase,
  joinFromQuery,
  lobbyRows,
  parseMapSize,
  parseSides,
  spectatorName,
} from '../lobby.js';
import { createRoom, joinRoom, quickPlay, spectate } from '../protocol.js';
import { describeClose } from '../screens.js';

/** A GET /rooms entry (docs/PROTOCOL.md) with `fields` changed. */
function room(fields) {
  return {
    id: 'k3j9x2m4q8rt',
    name: 'arena 1',
    map: 'arena',
    players: 3,
    spectators: 1,
    max_players: 1000,
    max_spectators: 32,
    tick_rate: 30,
    view_radius: 0,
    private: false,
    created_at: '2026-12-01T10:35:20Z',
    ...fields,
  };
}

test('room rows show name, map, players of capacity and spectators, most players first', () => {
  const rows = lobbyRows([
    room({ id: 'aaaaaaaaaaaa', name: 'quiet', players: 0, created_at: '2026-12-01T10:00:00Z' }),
    room({ id: 'bbbbbbbbbbbb', name: 'busy', map: '4000x3000', players: 12, max_players: 12, spectators: 32 }),
    room({ id: 'cccccccccccc', name: 'newer', players: 3, created_at: '2026-12-01T11:00:00Z' }),
    room({ id: 'dddddddddddd', name: 'older', players: 3, created_at: '2026-12-01T09:00:00Z' }),
  ]);
  assert.deepEqual(
    rows.map((r) => r.name),
    ['busy', 'older', 'newer', 'quiet'],
    'players, then the oldest first',
  );
  assert.deepEqual(rows[0], {
    id: 'bbbbbbbbbbbb',
    name: 'busy',
    map: '4000x3000',
    players: 12,
    maxPlayers: 12,
    spectators: 32,
    maxSpectators: 32,
    playersText: '12/12',
    spectatorsText: '32',
    full: true,
    spectatorsFull: true,
  });
  assert.equal(rows[1].playersText, '3/1000');
  assert.equal(rows[1].full, false);
  assert.equal(rows[3].spectatorsText, '1');
  // Ties on players and creation time: by id, so the order never flickers between refreshes.
  const tied = lobbyRows([room({ id: 'zzzzzzzzzzzz' }), room({ id: 'mmmmmmmmmmmm' })]);
  assert.deepEqual(
    tied.map((r) => r.id),
    ['mmmmmmmmmmmm', 'zzzzzzzzzzzz'],
  );
});

test('room rows leave out private rooms and anything malformed', () => {
  const rows = lobbyRows([
    room({ id: 'secret', private: true }),
    room({ id: 'public' }),
    room({ id: 7 }),
    room({ players: -1 }),
    room({ max_players: '8' }),
    null,
    'room',
  ]);
  assert.deepEqual(
    rows.map((r) => r.id),
    ['public'],
  );
  assert.deepEqual(lobbyRows({ error: 'no' }), []);
  assert.deepEqual(lobbyRows(null), []);
});

test('the HTTP origin comes from the WebSocket URL', () => {
  assert.equal(httpBase('ws://127.0.0.1:8080/ws'), 'http://127.0.0.1:8080');
  assert.equal(httpBase('wss://play.example.org/ws'), 'https://play.example.org');
  assert.throws(() => httpBase('not a url'));
});

test('map sizes are checked against the sides GET /maps gives', () => {
  const sides = parseSides('WIDTHxHEIGHT, each side 320 to 20000');
  assert.deepEqual(sides, { min: 320, max: 20000 });
  assert.deepEqual(parseSides('WIDTHxHEIGHT, each side 500 to 9000'), { min: 500, max: 9000 });
  assert.deepEqual(parseSides(undefined), { min: 320, max: 20000 });
  assert.deepEqual(parseMapSize(' 3000 x 2000 ', sides), { map: '3000x2000' });
  assert.deepEqual(parseMapSize('320X20000', sides), { map: '320x20000' });
  assert.match(parseMapSize('319x2000', sides).error, /320 to 20000/);
  assert.match(parseMapSize('3000x20001', sides).error, /320 to 20000/);
  assert.match(parseMapSize('big', sides).error, /WIDTHxHEIGHT/);
  assert.match(parseMapSize('3000x', sides).error, /WIDTHxHEIGHT/);
});

test('the create form gives only the options filled in', () => {
  assert.deepEqual(createOptions({ name: '', map: '', size: '', maxPlayers: '' }), { options: {} });
  assert.deepEqual(createOptions({ name: ' friday ', map: 'duel', size: 'ignored', maxPlayers: '8' }), {
    options: { name: 'friday', map: 'duel', maxPlayers: 8 },
  });
  assert.deepEqual(createOptions({ name: '', map: CUSTOM_MAP, size: '4000x3000', maxPlayers: '' }), {
    options: { map: '4000x3000' },
  });
  assert.match(createOptions({ name: 'x'.repeat(25), map: '' }).error, /1 to 24/);
  assert.match(createOptions({ name: '', map: CUSTOM_MAP, size: '10x10' }).error, /320/);
  assert.match(createOptions({ name: '', map: '', maxPlayers: '0' }).error, /Max players/);
  assert.match(createOptions({ name: '', map: '', maxPlayers: '2.5' }).error, /Max players/);
});

test('the URL names a room to join or watch', () => {
  assert.equal(joinFromQuery(''), null);
  assert.equal(joinFromQuery('?name=ana'), null);
  assert.deepEqual(joinFromQuery('?room=k3j9x2m4q8rt'), { join: joinRoom('k3j9x2m4q8rt'), spectating: false });
  assert.deepEqual(joinFromQuery('?name=ana&room=k3j9x2m4q8rt&spectate=1'), {
    join: spectate('k3j9x2m4q8rt'),
    spectating: true,
  });
  assert.deepEqual(joinFromQuery('?room=k3j9x2m4q8rt&spectate=0'), {
    join: joinRoom('k3j9x2m4q8rt'),
    spectating: false,
  });
  assert.deepEqual(joinFromQuery('?spectate=1'), { join: spectate(), spectating: true });
  assert.deepEqual(joinFromQuery('?room=&spectate'), { join: spectate(), spectating: true });
});

test('spectators need no name; pending joins say what they do', () => {
  assert.equal(spectatorName(''), SPECTATOR_NAME);
  assert.equal(spectatorName('  '), SPECTATOR_NAME);
  assert.equal(spectatorName(' ana '), 'ana');
  assert.equal(spectatorName('a'.repeat(17)), null);
  assert.equal(describeJoin(joinRoom('abc')), 'Join room abc');
  assert.equal(describeJoin(spectate('abc')), 'Watch room abc');
  assert.equal(describeJoin(spectate()), 'Watch the busiest room');
  assert.equal(describeJoin(createRoom({})), 'Create a room');
  assert.equal(describeJoin(quickPlay()), 'Quick play');
});

test('the disconnected panel explains the room close codes', () => {
  assert.match(describeClose(4001), /room does not exist/);
  assert.match(describeClose(4002), /room is full/);
  assert.match(describeClose(4003), /spectator slot/);
  assert.match(describeClose(4004), /more rooms/);
  assert.match(describeClose(4005), /room settings/);
  assert.match(describeClose(1011), /room stopped unexpectedly/);
  assert.match(describeClose(4000), /version mismatch/);
  assert.equal(describeClose(4999), 'The connection was closed.');
});

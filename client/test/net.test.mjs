// The connection (net.js) against a stand-in WebSocket: which callback each server message reaches.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '../msgpack.js';
import { decode } from '../msgpack.js';
import {
  CLIENT_BAD_MESSAGE,
  CLIENT_LINK_LOST,
  CLIENT_TOO_MANY_REDIRECTS,
  Connection,
  MAX_REDIRECTS,
  STALL_MS,
} from '../net.js';
import { joinRoom, quickPlay, resume, seat, spectate } from '../protocol.js';
import { CLOSED_BY_CLIENT, CLOSED_BY_SERVER, CLOSED_LOST, CLOSE_KEEP_SEAT } from '../reconnect.js';

/** Records what is sent; `receive` plays a server message. */
class FakeSocket {
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.listeners = new Map();
    FakeSocket.last = this;
  }
  addEventListener(type, fn) {
    this.listeners.set(type, fn);
  }
  removeEventListener(type) {
    this.listeners.delete(type);
  }
  send(bytes) {
    this.sent.push(bytes);
  }
  close(code) {
    this.closedWith = code ?? null;
  }
  open() {
    this.readyState = FakeSocket.OPEN;
    this.listeners.get('open')();
  }
  receive(value) {
    const bytes = encode(value);
    const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const fn = this.listeners.get('message');
    if (fn) fn({ data });
  }
  /** The socket ends (a close frame, or the link broke: 1006). */
  end(code, reason = '') {
    const fn = this.listeners.get('close');
    if (fn) fn({ code, reason });
  }
}

/** Every connection a test opened, closed after it so no watchdog timer outlives the file. */
const opened = [];
afterEach(() => {
  for (const c of opened.splice(0)) c.close();
});

function connect(handlers, join = spectate('k3j9x2m4q8rt'), auth = null) {
  globalThis.WebSocket = FakeSocket;
  const calls = [];
  const all = {
    onWelcome: (msg) => calls.push(['welcome', msg]),
    onSnapshot: (msg) => calls.push(['snapshot', msg]),
    onClose: (code, reason, closedBy) => calls.push(['close', code, reason, closedBy]),
    ...handlers(calls),
  };
  const conn = new Connection('ws://test/ws', 'watcher', join, all, auth);
  opened.push(conn);
  FakeSocket.last.open();
  return { conn, socket: FakeSocket.last, calls };
}

test('a roster reaches onRoster, parsed; a snapshot still reaches onSnapshot', () => {
  const { conn, socket, calls } = connect((calls) => ({ onRoster: (msg) => calls.push(['roster', msg]) }));
  assert.equal(socket.sent.length, 1, 'the hello');
  socket.receive([5, 1240, [[7, 'ana', 2, 100], [9, 'Zoë', 0, 0]]]);
  socket.receive([2, 1241, 0, 0, [], new Uint8Array(0), [], [], [], []]);
  assert.deepEqual(calls[0], [
    'roster',
    {
      type: 'roster',
      tick: 1240,
      players: [
        { id: 7, name: 'ana', score: 2, hp: 100 },
        { id: 9, name: 'Zoë', score: 0, hp: 0 },
      ],
    },
  ]);
  assert.equal(calls[1][0], 'snapshot');
  assert.equal(calls.length, 2);
  assert.equal(conn.state, 'open', 'a roster is no reason to close');
  assert.equal(conn.messagesIn, 2);
});

test('without an onRoster callback a roster is ignored; a malformed one closes with 1007', () => {
  const { conn, socket, calls } = connect(() => ({}));
  socket.receive([5, 1240, [[7, 'ana', 2, 100]]]);
  assert.deepEqual(calls, []);
  assert.equal(conn.state, 'open');
  socket.receive([5, 1241, [[7, 'ana', 2]]]);
  assert.equal(conn.state, 'closed');
  assert.equal(calls.length, 1);
  assert.equal(calls[0][0], 'close');
  assert.equal(calls[0][1], CLIENT_BAD_MESSAGE);
  assert.match(calls[0][2], /roster entry has 3 elements/);
});

test('the hello carries the join (a resume too) and the join token, left out when there is none', () => {
  const plain = connect(() => ({}), quickPlay());
  assert.deepEqual(decode(plain.socket.sent[0]), [1, 7, 'watcher', [1]]);
  const signed = connect(() => ({}), quickPlay(), 'a.b.c');
  assert.deepEqual(decode(signed.socket.sent[0]), [1, 7, 'watcher', [1], 'a.b.c']);
  const back = connect(() => ({}), resume('room.secret', 1234));
  assert.deepEqual(decode(back.socket.sent[0]), [1, 7, 'watcher', [5, 'room.secret', 1234]]);
});

test('a chat line reaches onChat, parsed; without onChat it is ignored', () => {
  const { conn, socket, calls } = connect((calls) => ({ onChat: (msg) => calls.push(['chat', msg]) }));
  socket.receive([6, 1500, 0, 'eve', 'hi']);
  assert.deepEqual(calls, [['chat', { type: 'chat', tick: 1500, from: 0, name: 'eve', text: 'hi' }]]);
  const quiet = connect(() => ({}));
  quiet.socket.receive([6, 1500, 7, 'ana', 'gg']);
  assert.deepEqual(quiet.calls, []);
  assert.equal(quiet.conn.state, 'open');
  assert.equal(conn.state, 'open');
});

test('who ended the connection: the server (its close message), a lost link, or this page', () => {
  // The server's close message, then its frame: the message's code and reason, closed by the server.
  const told = connect(() => ({}));
  told.socket.receive([4, 4008, 'session resumed on another connection']);
  told.socket.end(4008, 'session resumed on another connection');
  assert.deepEqual(told.calls, [['close', 4008, 'session resumed on another connection', CLOSED_BY_SERVER]]);
  assert.equal(told.conn.closedBy, CLOSED_BY_SERVER);
  // The message arrived but the frame never did (the link broke right after): still the server's reason.
  const half = connect(() => ({}));
  half.socket.receive([4, 1001, 'idle timeout: nothing received for 15 s']);
  half.socket.end(1006);
  assert.deepEqual(half.calls[0], ['close', 1001, 'idle timeout: nothing received for 15 s', CLOSED_BY_SERVER]);
  // No close message at all: the link is lost, whatever the frame says.
  const lost = connect(() => ({}));
  lost.socket.end(1006);
  assert.deepEqual(lost.calls, [['close', 1006, '', CLOSED_LOST]]);
  // This page closing: by the client, with a normal close frame (the server frees the seat).
  const left = connect(() => ({}));
  left.conn.close(1000, 'left for the lobby');
  assert.deepEqual(left.calls, [['close', 1000, 'left for the lobby', CLOSED_BY_CLIENT]]);
  assert.equal(left.socket.closedWith, 1000);
  // An unreadable message is this page's decision too.
  const garbled = connect(() => ({}));
  garbled.socket.receive([9, 1]);
  assert.equal(garbled.calls[0][3], CLOSED_BY_CLIENT);
  assert.equal(garbled.calls.length, 1, 'the connection ends exactly once');
  garbled.socket.end(1006);
  assert.equal(garbled.calls.length, 1);
});

test('a silent link is given up as lost, with a close that keeps the seat', () => {
  const { conn, socket, calls } = connect(() => ({}));
  conn.lastHeard = performance.now() - STALL_MS + 1000;
  conn.checkStall();
  assert.equal(conn.state, 'open', 'four seconds of silence are not yet a dead link');
  socket.receive([3, 1]); // anything from the server counts
  assert.ok(performance.now() - conn.lastHeard < 1000);
  conn.lastHeard = performance.now() - STALL_MS - 1;
  conn.checkStall();
  assert.equal(conn.state, 'closed');
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].slice(0, 2), ['close', CLIENT_LINK_LOST]);
  assert.match(calls[0][2], /nothing received from the server for 5 s/);
  assert.equal(calls[0][3], CLOSED_LOST);
  assert.equal(socket.closedWith, CLOSE_KEEP_SEAT, '4100: if the server still hears us, it holds the seat');
});

test('a version 3 welcome is refused as a version mismatch, not as an unreadable message', () => {
  const { conn, socket, calls } = connect(() => ({}));
  const map = ['m', 10, 10, [], []];
  socket.receive([1, 3, 7, 30, 1, map, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ['r', 'r', 0]]);
  assert.equal(conn.state, 'closed');
  assert.deepEqual(calls[0].slice(0, 2), ['close', 4000]);
  assert.match(calls[0][2], /server speaks protocol version 3, this client 7/);
});

test('a snapshot whose hits are malformed closes with 1007, as one with a malformed event does', () => {
  const { conn, socket, calls } = connect(() => ({}));
  socket.receive([2, 10, 0, 0, [], new Uint8Array(0), [], [], [[10, 7]], []]);
  assert.equal(calls[0][0], 'snapshot');
  assert.deepEqual(calls[0][1].hits, [{ tick: 10, victim: 7 }]);
  socket.receive([2, 11, 10, 0, [], new Uint8Array(0), [], [], [[11]], []]);
  assert.equal(conn.state, 'closed');
  assert.deepEqual(calls[1].slice(0, 2), ['close', CLIENT_BAD_MESSAGE]);
  assert.match(calls[1][2], /hit has 1 elements, expected 2/);
});

// ---------------------------------------------------------------------------------------------------------------
// Redirects: [7, url, join] before the welcome, then the server's 4014 close

const WELCOME = [1, 7, 7, 30, 1, ['m', 10, 10, [], []], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 6], ['r', 'r', 0], null];
const B = 'ws://127.0.0.1:9002/ws';
const C = 'ws://127.0.0.1:9003/ws';

/** What the server does to redirect: the redirect, then its close message and close frame 4014. */
function redirect(socket, url, join) {
  socket.receive([7, url, join]);
  socket.receive([4, 4014, `moved to ${url}`]);
  socket.end(4014, `moved to ${url}`);
}

test('a redirect is followed: the same name and token say hello on its url with its join, its 4014 unheard', () => {
  const redirects = [];
  const { conn, socket, calls } = connect(
    () => ({ onRedirect: (url, join, n) => redirects.push([url, join, n]) }),
    joinRoom('k3j9x2m4q8rt'),
    'a.b.c',
  );
  assert.equal(socket.url, 'ws://test/ws');
  assert.equal(conn.url, 'ws://test/ws');
  redirect(socket, B, [6, 'seat.tok']);
  assert.deepEqual(calls, [], 'no close reported: the 4014 after a redirect is no end of the connection');
  assert.equal(socket.closedWith, 1000, 'the old socket is let go (it holds no seat)');
  const next = FakeSocket.last;
  assert.notEqual(next, socket);
  assert.equal(next.url, B);
  assert.equal(conn.url, B, 'the socket now in use');
  assert.equal(conn.state, 'connecting');
  assert.equal(conn.send(new Uint8Array([0x90])), false, 'nothing goes out before the new socket opens');
  assert.deepEqual(redirects, [[B, seat('seat.tok'), 1]]);
  next.open();
  assert.deepEqual(decode(next.sent[0]), [1, 7, 'watcher', [6, 'seat.tok'], 'a.b.c']);
  assert.deepEqual(conn.join, joinRoom('k3j9x2m4q8rt'), 'the join asked for is kept');
  assert.deepEqual(conn.helloJoin, seat('seat.tok'));
  next.receive(WELCOME);
  assert.equal(calls.length, 1);
  assert.equal(calls[0][0], 'welcome');
  assert.equal(conn.redirects, 1);
  assert.equal(conn.messagesIn, 2, 'the redirect and the welcome: the old socket is not heard after its redirect');
  // The new socket is the connection now: its end is the connection's end.
  next.end(1006);
  assert.deepEqual(calls[1], ['close', 1006, '', CLOSED_LOST]);
});

test('a redirected resume keeps its resume join and no join token', () => {
  const { conn, socket } = connect(() => ({}), resume('r.tok', 500));
  redirect(socket, B, [5, 'r.tok', 500]);
  FakeSocket.last.open();
  assert.deepEqual(decode(FakeSocket.last.sent[0]), [1, 7, 'watcher', [5, 'r.tok', 500]]);
  assert.equal(conn.join.kind, 'resume');
});

test('at most 3 redirects in a row: a 4th ends the connection with an error, not resumed', () => {
  assert.equal(MAX_REDIRECTS, 3);
  const { conn, calls } = connect(() => ({}), quickPlay());
  const hops = [B, C, B];
  for (const url of hops) {
    redirect(FakeSocket.last, url, [6, `seat ${url}`]);
    FakeSocket.last.open();
    assert.deepEqual(decode(FakeSocket.last.sent[0])[3], [6, `seat ${url}`]);
  }
  assert.equal(conn.redirects, 3);
  assert.deepEqual(calls, []);
  const last = FakeSocket.last;
  last.receive([7, C, [6, 'seat 4']]);
  assert.equal(FakeSocket.last, last, 'no 4th hop');
  assert.equal(conn.state, 'closed');
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].slice(0, 2), ['close', CLIENT_TOO_MANY_REDIRECTS]);
  assert.equal(calls[0][2], `too many redirects: 4 in a row, the last to ${C}`);
  assert.equal(calls[0][3], CLOSED_BY_CLIENT, 'an error to show: shouldResume says no to the page\'s own close');
  assert.equal(last.closedWith, 1000);
  last.receive([4, 4014, `moved to ${C}`]);
  last.end(4014);
  assert.equal(calls.length, 1, 'the connection ends exactly once');
  // A new connection (the next resume attempt) counts from 0 again.
  const fresh = connect(() => ({}), quickPlay());
  redirect(fresh.socket, B, [6, 's']);
  assert.equal(fresh.conn.redirects, 1);
});

test('a redirect after the welcome is not followed: the connection ends as with an unreadable message', () => {
  const { conn, socket, calls } = connect(() => ({}), quickPlay());
  socket.receive(WELCOME);
  socket.receive([7, B, [6, 'seat.tok']]);
  assert.equal(FakeSocket.last, socket);
  assert.equal(conn.state, 'closed');
  assert.deepEqual(calls[1].slice(0, 2), ['close', CLIENT_BAD_MESSAGE]);
  assert.match(calls[1][2], /redirect after its welcome/);
  assert.equal(conn.url, 'ws://test/ws');
});

test('a redirect to a URL that is not absolute ws:// or wss:// is unreadable', () => {
  for (const url of ['/ws', 'http://127.0.0.1:9002/ws', 'ws://']) {
    const { conn, socket, calls } = connect(() => ({}), quickPlay());
    socket.receive([7, url, [6, 't']]);
    assert.equal(FakeSocket.last, socket, url);
    assert.equal(conn.state, 'closed', url);
    assert.deepEqual(calls[0].slice(0, 2), ['close', CLIENT_BAD_MESSAGE], url);
  }
});

test('a redirect the browser cannot open (an insecure ws:// from https) ends the connection, not resumed', () => {
  const { conn, socket, calls } = connect(() => ({}), quickPlay());
  const Real = globalThis.WebSocket;
  globalThis.WebSocket = class {
    constructor() {
      throw new Error('SecurityError: insecure WebSocket');
    }
  };
  try {
    socket.receive([7, B, [6, 't']]);
  } finally {
    globalThis.WebSocket = Real;
  }
  assert.equal(conn.state, 'closed');
  assert.equal(calls.length, 1);
  assert.equal(calls[0][1], CLIENT_LINK_LOST);
  assert.match(calls[0][2], /could not open ws:\/\/127\.0\.0\.1:9002\/ws: SecurityError/);
  assert.equal(calls[0][3], CLOSED_BY_CLIENT);
});

test('a silent redirected socket is a lost link like any other; the watchdog counts from the redirect', () => {
  const { conn, socket, calls } = connect(() => ({}), quickPlay());
  conn.lastHeard = performance.now() - STALL_MS + 100;
  redirect(socket, B, [6, 't']);
  conn.checkStall();
  assert.equal(conn.state, 'connecting', 'the new socket gets its own five seconds');
  conn.lastHeard = performance.now() - STALL_MS - 1;
  conn.checkStall();
  assert.deepEqual(calls[0].slice(0, 2), ['close', CLIENT_LINK_LOST]);
  assert.equal(calls[0][3], CLOSED_LOST);
  assert.equal(FakeSocket.last.closedWith, CLOSE_KEEP_SEAT);
});

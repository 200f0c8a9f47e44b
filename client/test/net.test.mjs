// The connection (net.js) against a stand-in WebSocket: which callback each server message reaches.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '../msgpack.js';
import { decode } from '../msgpack.js';
import { CLIENT_BAD_MESSAGE, CLIENT_LINK_LOST, Connection, STALL_MS } from '../net.js';
import { quickPlay, resume, spectate } from '../protocol.js';
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
  socket.receive([2, 1241, 0, 0, [], [], [], []]);
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
  assert.deepEqual(decode(plain.socket.sent[0]), [1, 5, 'watcher', [1]]);
  const signed = connect(() => ({}), quickPlay(), 'a.b.c');
  assert.deepEqual(decode(signed.socket.sent[0]), [1, 5, 'watcher', [1], 'a.b.c']);
  const back = connect(() => ({}), resume('room.secret', 1234));
  assert.deepEqual(decode(back.socket.sent[0]), [1, 5, 'watcher', [5, 'room.secret', 1234]]);
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
  assert.match(calls[0][2], /server speaks protocol version 3, this client 5/);
});

test('a snapshot whose hits are malformed closes with 1007, as one with a malformed event does', () => {
  const { conn, socket, calls } = connect(() => ({}));
  socket.receive([2, 10, 0, 0, [], [], [], [], [[10, 7]]]);
  assert.equal(calls[0][0], 'snapshot');
  assert.deepEqual(calls[0][1].hits, [{ tick: 10, victim: 7 }]);
  socket.receive([2, 11, 10, 0, [], [], [], [], [[11]]]);
  assert.equal(conn.state, 'closed');
  assert.deepEqual(calls[1].slice(0, 2), ['close', CLIENT_BAD_MESSAGE]);
  assert.match(calls[1][2], /hit has 1 elements, expected 2/);
});

// The connection (net.js) against a stand-in WebSocket: which callback each server message reaches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '../msgpack.js';
import { CLIENT_BAD_MESSAGE, Connection } from '../net.js';
import { spectate } from '../protocol.js';

/** Records what is sent; `receive` plays a server message. */
class FakeSocket {
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
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
  close() {}
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
}

function connect(handlers) {
  globalThis.WebSocket = FakeSocket;
  const calls = [];
  const all = {
    onWelcome: (msg) => calls.push(['welcome', msg]),
    onSnapshot: (msg) => calls.push(['snapshot', msg]),
    onClose: (code, reason) => calls.push(['close', code, reason]),
    ...handlers(calls),
  };
  const conn = new Connection('ws://test/ws', 'watcher', spectate('k3j9x2m4q8rt'), all);
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

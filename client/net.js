// net.js: one WebSocket connection to the server: hello (with the join: which room, as player or spectator),
// message dispatch, pings, byte counters, close reasons.
//
// It knows the wire (through protocol.js) but nothing of the game: welcome, snapshot and roster messages are handed
// to the callbacks, pong and close are handled here. The connection ends exactly once, with a code and a reason: the
// server's close message when it sent one, else the WebSocket close frame, else a reason of our own.

import { PROTOCOL_VERSION, S2C, helloMessage, parseServerMessage, pingMessage } from './protocol.js';

/** How often to ping for the round-trip time. */
export const PING_INTERVAL_MS = 1000;
/** Pings older than this are forgotten (their pong is not coming). */
const PING_FORGET_MS = 10000;

/** Close code we report ourselves when the server sent something we cannot read (the server uses it the same way). */
export const CLIENT_BAD_MESSAGE = 1007;
/** Close code we report for a protocol version mismatch (the server's own code for it). */
export const CLIENT_VERSION_MISMATCH = 4000;

/** The default WebSocket URL: same host as the page, `/ws`, wss on https. `?ws=URL` overrides it. */
export function defaultServerUrl(loc) {
  const override = new URLSearchParams(loc.search).get('ws');
  if (override) return override;
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}

export class Connection {
  /**
   * Opens the socket and sends hello (as `name`, joining as `join` says: see protocol.js's join builders) once it
   * is open. `handlers`: `{onWelcome(msg), onSnapshot(msg), onRoster(msg), onClose(code, reason)}` (onRoster may be
   * left out: only spectators get rosters).
   */
  constructor(url, name, join, handlers) {
    this.name = name;
    this.join = join;
    this.handlers = handlers;
    /** 'connecting' | 'open' | 'closed' */
    this.state = 'connecting';
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.messagesIn = 0;
    this.messagesOut = 0;
    /** Latest round-trip time in milliseconds, null before the first pong. */
    this.pingMs = null;
    this.closeCode = null;
    this.closeReason = null;

    this.nextNonce = 1;
    /** nonce -> send time (ms) of pings not answered yet. */
    this.pendingPings = new Map();
    this.pingTimer = null;

    this.onOpen = this.onOpen.bind(this);
    this.onMessage = this.onMessage.bind(this);
    this.onSocketClose = this.onSocketClose.bind(this);
    this.sendPing = this.sendPing.bind(this);

    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.ws.addEventListener('open', this.onOpen);
    this.ws.addEventListener('message', this.onMessage);
    this.ws.addEventListener('close', this.onSocketClose);
  }

  /** Sends one encoded message; returns false once the socket is not open. */
  send(bytes) {
    if (this.state !== 'open' || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(bytes);
    this.bytesOut += bytes.byteLength;
    this.messagesOut++;
    return true;
  }

  /** Closes from our side, reporting `code` and `reason` as the cause. */
  close(code = 1000, reason = 'closed by the client') {
    this.finish(code, reason);
    try {
      this.ws.close(1000);
    } catch {
      // already closing
    }
  }

  onOpen() {
    this.state = 'open';
    this.send(helloMessage(this.name, this.join));
  }

  onMessage(ev) {
    if (this.state === 'closed') return;
    if (!(ev.data instanceof ArrayBuffer)) {
      this.close(CLIENT_BAD_MESSAGE, 'the server sent a text message');
      return;
    }
    this.bytesIn += ev.data.byteLength;
    this.messagesIn++;
    let msg;
    try {
      msg = parseServerMessage(ev.data);
    } catch (err) {
      this.close(CLIENT_BAD_MESSAGE, `unreadable server message: ${err.message}`);
      return;
    }
    switch (msg.type) {
      case 'welcome':
        if (msg.version !== PROTOCOL_VERSION) {
          this.close(
            CLIENT_VERSION_MISMATCH,
            `server speaks protocol version ${msg.version}, this client ${PROTOCOL_VERSION}`,
          );
          return;
        }
        // Pings start only now: the protocol names input before hello a violation and says nothing of pings.
        if (this.pingTimer === null) {
          this.sendPing();
          this.pingTimer = setInterval(this.sendPing, PING_INTERVAL_MS);
        }
        this.handlers.onWelcome(msg);
        break;
      case 'snapshot':
        this.handlers.onSnapshot(msg);
        break;
      case 'roster':
        if (this.handlers.onRoster) this.handlers.onRoster(msg);
        break;
      case 'pong':
        this.onPong(msg.nonce);
        break;
      case 'close':
        // The close frame follows; remember the reason now in case it never arrives.
        this.closeCode = msg.code;
        this.closeReason = msg.reason;
        break;
    }
  }

  sendPing() {
    const now = performance.now();
    for (const [nonce, sent] of this.pendingPings) {
      if (now - sent > PING_FORGET_MS) this.pendingPings.delete(nonce);
    }
    const nonce = this.nextNonce;
    this.nextNonce = (this.nextNonce % 0xffffffff) + 1;
    if (this.send(pingMessage(nonce))) this.pendingPings.set(nonce, now);
  }

  onPong(nonce) {
    const sent = this.pendingPings.get(nonce);
    if (sent === undefined) return;
    this.pendingPings.delete(nonce);
    this.pingMs = performance.now() - sent;
  }

  onSocketClose(ev) {
    const code = this.closeCode ?? ev.code;
    const reason = this.closeCode !== null ? this.closeReason : ev.reason;
    this.finish(code, reason);
  }

  finish(code, reason) {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeCode = code;
    this.closeReason = reason;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.ws.removeEventListener('message', this.onMessage);
    this.handlers.onClose(code, reason);
  }
}

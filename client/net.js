// net.js: one WebSocket connection to the server: hello (with the join: which room, as player, spectator or a
// resumed seat, and the optional join token), message dispatch, pings, byte counters, close reasons.
//
// It knows the wire (through protocol.js) but nothing of the game: welcome, snapshot, roster and chat messages are
// handed to the callbacks, pong and close are handled here. The connection ends exactly once, with a code, a reason
// and who ended it (`closedBy`, reconnect.js's CLOSED_*): the server (its close message arrived), nobody (the socket
// ended without one, or went silent: the link is lost), or this page. A reconnection is a new Connection
// (main.js); this one only says whether the end looked like a lost link.
//
// Before its welcome a connection may be redirected (protocol v5, several server processes sharing a room
// directory): the server answers the hello with `[7, url, join]` and closes with 4014. The connection then leaves
// that socket without ending (the 4014 close is not heard), opens `url` and says hello there with the redirect's join
// and the same name and join token, up to MAX_REDIRECTS times in a row. `url` is always the socket now in use: after
// a redirect, another process than the page's.

import { CLOSED_BY_CLIENT, CLOSED_BY_SERVER, CLOSED_LOST, CLOSE_KEEP_SEAT } from './reconnect.js';
import { PROTOCOL_VERSION, helloMessage, parseServerMessage, pingMessage } from './protocol.js';

/** How often to ping for the round-trip time. */
export const PING_INTERVAL_MS = 1000;
/** Pings older than this are forgotten (their pong is not coming). */
const PING_FORGET_MS = 10000;

/** Close code we report ourselves when the server sent something we cannot read (the server uses it the same way). */
export const CLIENT_BAD_MESSAGE = 1007;
/** Close code we report for a protocol version mismatch (the server's own code for it). */
export const CLIENT_VERSION_MISMATCH = 4000;
/** Close code we report for a link that went silent (the browser's own code for a connection lost). */
export const CLIENT_LINK_LOST = 1006;
/**
 * Nothing at all from the server for this long means the link is dead even if the socket does not know yet (a
 * browser may take minutes to notice a network gone silently). The server sends a snapshot every tick (at least
 * once a second) and answers our pings every second, so five seconds of silence is never a live link.
 */
export const STALL_MS = 5000;
const STALL_CHECK_MS = 500;
/** Redirects a connection follows in a row; one more ends it with CLIENT_TOO_MANY_REDIRECTS. */
export const MAX_REDIRECTS = 3;
/** Close code we report for one redirect too many (the server's own code for a redirect). */
export const CLIENT_TOO_MANY_REDIRECTS = 4014;
/** What the page's side of a socket it leaves for a redirect says (no seat is taken before a welcome). */
const CLOSE_NORMAL = 1000;

/** The default WebSocket URL: same host as the page, `/ws`, wss on https. `?ws=URL` overrides it. */
export function defaultServerUrl(loc) {
  const override = new URLSearchParams(loc.search).get('ws');
  if (override) return override;
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}

export class Connection {
  /**
   * Opens the socket and sends hello (as `name`, joining as `join` says: see protocol.js's join builders, `auth`
   * the signed join token or null) once it is open. `handlers`: `{onWelcome(msg), onSnapshot(msg), onRoster(msg),
   * onChat(msg), onRedirect(url, join, redirects), onClose(code, reason, closedBy)}` (onRoster, onChat and
   * onRedirect may be left out: only spectators get rosters, a page without chat ignores it, and redirects are
   * followed here whether anyone hears of them or not).
   */
  constructor(url, name, join, handlers, auth = null) {
    this.name = name;
    /** The join asked for; a redirect's hello says `helloJoin` instead (often a seat), for the same visit. */
    this.join = join;
    this.helloJoin = join;
    this.auth = auth;
    /** The URL of the socket now in use (the redirect's after one), and the redirects followed so far. */
    this.url = url;
    this.redirects = 0;
    /** Whether the welcome arrived (no redirect may follow it). */
    this.welcomed = false;
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
    /** Who ended the connection (CLOSED_BY_SERVER, CLOSED_LOST, CLOSED_BY_CLIENT), null while it lasts. */
    this.closedBy = null;
    /** Whether the server's close message arrived (its code and reason are then the ones reported). */
    this.closeMessage = false;
    /** When anything last came from the server (or the socket was created), for the stall watchdog. */
    this.lastHeard = performance.now();

    this.nextNonce = 1;
    /** nonce -> send time (ms) of pings not answered yet. */
    this.pendingPings = new Map();
    this.pingTimer = null;

    this.onOpen = this.onOpen.bind(this);
    this.onMessage = this.onMessage.bind(this);
    this.onSocketClose = this.onSocketClose.bind(this);
    this.sendPing = this.sendPing.bind(this);
    this.checkStall = this.checkStall.bind(this);
    this.stallTimer = setInterval(this.checkStall, STALL_CHECK_MS);

    this.ws = null;
    this.openSocket(url);
  }

  openSocket(url) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.ws.addEventListener('open', this.onOpen);
    this.ws.addEventListener('message', this.onMessage);
    this.ws.addEventListener('close', this.onSocketClose);
  }

  /** Stops listening to the socket (whatever it still says, its close included, is not this connection's). */
  detachSocket() {
    this.ws.removeEventListener('open', this.onOpen);
    this.ws.removeEventListener('message', this.onMessage);
    this.ws.removeEventListener('close', this.onSocketClose);
  }

  /** Sends one encoded message; returns false once the socket is not open. */
  send(bytes) {
    if (this.state !== 'open' || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(bytes);
    this.bytesOut += bytes.byteLength;
    this.messagesOut++;
    return true;
  }

  /**
   * Closes from our side, reporting `code` and `reason` as the cause. The close frame says 1000 (leaving: the
   * server frees the seat at once) unless `wireCode` says otherwise (CLOSE_KEEP_SEAT: the seat is held for the
   * grace, as for a lost link).
   */
  close(code = 1000, reason = 'closed by the client', wireCode = 1000) {
    this.finish(code, reason, CLOSED_BY_CLIENT);
    this.closeSocket(wireCode);
  }

  closeSocket(wireCode) {
    try {
      this.ws.close(wireCode);
    } catch {
      // already closing
    }
  }

  /** The link went silent: give up on this socket, keeping the seat (the server may not have noticed yet). */
  checkStall() {
    if (this.state === 'closed' || performance.now() - this.lastHeard < STALL_MS) return;
    this.finish(CLIENT_LINK_LOST, `nothing received from the server for ${STALL_MS / 1000} s`, CLOSED_LOST);
    this.closeSocket(CLOSE_KEEP_SEAT);
  }

  onOpen() {
    if (this.state === 'closed') return;
    this.state = 'open';
    this.send(helloMessage(this.name, this.helloJoin, this.auth));
  }

  onMessage(ev) {
    if (this.state === 'closed') return;
    this.lastHeard = performance.now();
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
        this.welcomed = true;
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
      case 'chat':
        if (this.handlers.onChat) this.handlers.onChat(msg);
        break;
      case 'pong':
        this.onPong(msg.nonce);
        break;
      case 'close':
        // The close frame follows; remember the reason now in case it never arrives.
        this.closeCode = msg.code;
        this.closeReason = msg.reason;
        this.closeMessage = true;
        break;
      case 'redirect':
        this.followRedirect(msg);
        break;
    }
  }

  /**
   * A redirect: the room is held (or will be made) by the process at `msg.url`. This socket is left, unheard from
   * then on (the server closes it with 4014 right after: no end of this connection, nothing to resume), and a new
   * one says hello there with `msg.join` (a single-use seat token, or the same resume), the same name and join token.
   * A redirect after the welcome, or a 4th in a row, ends the connection instead.
   */
  followRedirect(msg) {
    if (this.welcomed) {
      this.close(CLIENT_BAD_MESSAGE, 'the server sent a redirect after its welcome');
      return;
    }
    if (this.redirects >= MAX_REDIRECTS) {
      const n = this.redirects + 1;
      this.close(CLIENT_TOO_MANY_REDIRECTS, `too many redirects: ${n} in a row, the last to ${msg.url}`);
      return;
    }
    this.redirects++;
    this.detachSocket();
    this.closeSocket(CLOSE_NORMAL);
    this.state = 'connecting';
    this.closeMessage = false;
    this.closeCode = null;
    this.closeReason = null;
    this.url = msg.url;
    this.helloJoin = msg.join;
    this.lastHeard = performance.now();
    if (this.handlers.onRedirect) this.handlers.onRedirect(msg.url, msg.join, this.redirects);
    if (this.state === 'closed') return; // the handler left
    try {
      this.openSocket(msg.url);
    } catch (err) {
      // The browser would not open it (an insecure ws:// from an https page, a blocked port): no way to the room.
      this.finish(CLIENT_LINK_LOST, `could not open ${msg.url}: ${err.message}`, CLOSED_BY_CLIENT);
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
    // The server says why in a close message before every close but the echo of ours; without one, nobody
    // closed on purpose: the link broke (1006), or something between us and the server dropped it.
    if (this.closeMessage) this.finish(this.closeCode, this.closeReason, CLOSED_BY_SERVER);
    else this.finish(ev.code, ev.reason, CLOSED_LOST);
  }

  finish(code, reason, closedBy) {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeCode = code;
    this.closeReason = reason;
    this.closedBy = closedBy;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    clearInterval(this.stallTimer);
    this.ws.removeEventListener('message', this.onMessage);
    this.handlers.onClose(code, reason, closedBy);
  }
}

// reconnect.js: when and how a dropped player gets its seat back (protocol v4 "Seats, detach, resume").
//
// Three pure parts, so they are tested under Node: the rule that says which ends of a connection are worth a resume
// (shouldResume), the retry schedule (exponential backoff with jitter, given up once the server's grace is over:
// backoffDelay, ReconnectPlan), and the record of the seat kept in sessionStorage so that a page reloaded during a
// drop resumes too (ResumeRecord, over any Storage-like object), and where a resume goes (connectTarget: after a
// redirect, the process that welcomed the seat, not the page's). main.js does the connecting.

/** First retry delay, and the ceiling the doubling stops at (ms). */
export const BACKOFF_START_MS = 100;
export const BACKOFF_MAX_MS = 5000;
/** Each delay is spread by up to this fraction either way, so clients dropped together do not retry together. */
export const BACKOFF_JITTER = 0.25;
/**
 * The last attempt is squeezed in this long before the grace ends rather than given up with seconds left: the
 * server counts its grace from when it noticed the drop, never earlier than we did, so the seat is still there.
 */
export const LAST_ATTEMPT_MARGIN_MS = 250;

/** How a connection ended (net.js's Connection.closedBy). */
export const CLOSED_BY_SERVER = 'server';
export const CLOSED_LOST = 'lost';
export const CLOSED_BY_CLIENT = 'client';

/** Close codes (docs/PROTOCOL.md section 13 and the v4 additions) the rule below names. */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY = 1008;
export const CLOSE_INTERNAL_ERROR = 1011;
export const CLOSE_RESUME_REFUSED = 4007;
export const CLOSE_RESUMED_ELSEWHERE = 4008;
/** What the browser sends to drop a dead socket but keep the seat (the server detaches it as for a lost link). */
export const CLOSE_KEEP_SEAT = 4100;

/**
 * Whether a connection that ended this way should be resumed: `closedBy` says who ended it (CLOSED_BY_SERVER: the
 * server's close message arrived, with `code` and `reason`; CLOSED_LOST: the socket ended, or went silent, without
 * one; CLOSED_BY_CLIENT: this page closed it, on purpose or because the server sent something unreadable).
 *
 * The rule follows what the server does with the seat. It holds the seat when the socket dies without a client close
 * frame (a lost link, an idle timeout, a slow client), so those are resumed; it frees the seat at once for a refusal
 * or misbehaviour (4000-4015, 1002, 1003, 1007, 1009, the other 1008s) and on shutdown, so a resume would only be
 * refused (a redirect's 4014 is not one of them: net.js follows the redirect and never reports that close). 4008
 * means another connection (another tab) took the seat: resuming would take it back from there. 1011 (the room
 * crashed) is tried, as asked by the v4 design: a room that is really gone answers 4007 at once.
 */
export function shouldResume(closedBy, code, reason = '') {
  if (closedBy === CLOSED_LOST) return true;
  if (closedBy !== CLOSED_BY_SERVER) return false;
  const text = String(reason ?? '');
  switch (code) {
    case CLOSE_GOING_AWAY:
      // The same code says "idle timeout" (seat held) and "server shutting down" (seat gone).
      return !text.startsWith('server shutting down');
    case CLOSE_POLICY:
      // Only one policy close is not the client's fault: it stopped reading for a while (the seat is held).
      return text.startsWith('client too slow');
    case CLOSE_INTERNAL_ERROR:
      return true;
    default:
      return false;
  }
}

/**
 * The delay before retry number `attempt` (0 for the first): 100 ms doubling up to 5 s, times a random factor in
 * [0.75, 1.25] (±25%). `random` returns values in [0, 1) (Math.random by default; tests pass their own).
 */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_START_MS * 2 ** Math.min(attempt, 30), BACKOFF_MAX_MS);
  return base * (1 + BACKOFF_JITTER * (2 * random() - 1));
}

/**
 * The retries after one drop: `next(now)` gives the delay (ms) before the next attempt, or null once the grace
 * (`graceMs` from `droppedAt`, both on the caller's clock) leaves no time for one. The attempt count is kept for
 * the overlay and the debug view.
 */
export class ReconnectPlan {
  constructor(droppedAt, graceMs, random = Math.random) {
    this.droppedAt = droppedAt;
    this.graceMs = graceMs;
    this.random = random;
    /** Attempts handed out so far. */
    this.attempts = 0;
  }

  /** When the seat is given up (caller's clock). */
  get deadline() {
    return this.droppedAt + this.graceMs;
  }

  /** Whether the grace is over at `now`. */
  expired(now) {
    return now >= this.deadline - LAST_ATTEMPT_MARGIN_MS;
  }

  next(now) {
    const room = this.deadline - LAST_ATTEMPT_MARGIN_MS - now;
    if (room <= 0) return null;
    const delay = backoffDelay(this.attempts, this.random);
    this.attempts++;
    return delay < room ? delay : room;
  }
}

/**
 * The server a session's next connection goes to: a resume to `seatServer`, the URL of the socket that welcomed the
 * seat (after a redirect, another process than the page's: the seat lives there), anything else (a first join, a
 * fresh join again) to the page's own `pageServer`, which redirects as the room directory says. Before any welcome
 * (`seatServer` null) everything goes to the page's.
 */
export function connectTarget(join, pageServer, seatServer) {
  return join.kind === 'resume' && typeof seatServer === 'string' ? seatServer : pageServer;
}

/** The sessionStorage key of the held seat. */
export const RESUME_KEY = 'skirmish.resume';

/**
 * The seat to resume after a reload, kept in `storage` (sessionStorage: per tab, gone with the tab): `{url, server,
 * room, name, playerId, token, graceMs, droppedAt}` (url: the page's server, which a reload must match; server: the
 * URL the seat was welcomed on, where its resume goes (url when not redirected; a record without one reads as url);
 * droppedAt: Date.now() of the drop, null while connected). Written at
 * every player welcome (the token changes at each resume), stamped at a drop, removed when the player leaves on
 * purpose (back to the lobby, another room, the page closed while connected) or the seat is lost. Storage failures
 * (private mode, file://) only lose the convenience.
 */
export class ResumeRecord {
  constructor(storage) {
    this.storage = storage;
  }

  save(record) {
    try {
      this.storage.setItem(RESUME_KEY, JSON.stringify(record));
    } catch {
      // see the class comment
    }
  }

  /** Marks the held seat as dropped at `wallNow` (ms since the epoch). */
  markDropped(wallNow) {
    const r = this.read();
    if (r !== null && r.droppedAt === null) this.save({ ...r, droppedAt: wallNow });
  }

  clear() {
    try {
      this.storage.removeItem(RESUME_KEY);
    } catch {
      // see the class comment
    }
  }

  /** The stored record, or null (none, or not one of ours). */
  read() {
    let r;
    try {
      r = JSON.parse(this.storage.getItem(RESUME_KEY) ?? 'null');
    } catch {
      return null;
    }
    const ok =
      r !== null &&
      typeof r === 'object' &&
      typeof r.url === 'string' &&
      (r.server === undefined || typeof r.server === 'string') &&
      typeof r.room === 'string' &&
      typeof r.token === 'string' &&
      typeof r.name === 'string' &&
      Number.isInteger(r.playerId) &&
      Number.isInteger(r.graceMs) &&
      (r.droppedAt === null || Number.isFinite(r.droppedAt));
    if (!ok) return null;
    return r.server === undefined ? { ...r, server: r.url } : r;
  }

  /**
   * The record a page starting at `wallNow` can resume: for the page's server `url` (whatever process the seat was
   * redirected to: `server` says which), for room `room` when the address names one (null: any), stamped dropped
   * and still within its grace. A record not stamped dropped belongs to a live connection: a duplicated tab copies
   * sessionStorage, and must not take the seat from the tab it copied (a page that closes while connected frees its
   * seat and clears the record, so nothing else leaves one behind but a crash). Anything else is cleared.
   */
  usable(url, room, wallNow) {
    const r = this.read();
    if (r === null) return null;
    if (r.droppedAt === null) return null;
    const fits = r.url === url && (room === null || r.room === room);
    const fresh = wallNow - r.droppedAt < r.graceMs - LAST_ATTEMPT_MARGIN_MS;
    if (fits && fresh) return r;
    this.clear();
    return null;
  }
}

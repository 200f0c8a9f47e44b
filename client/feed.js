// feed.js: the feed model: turns de-duplicated snapshot events, chat lines and the page's own notices ("slow down")
// into short lines that fade out.
//
// Pure (the caller passes the time), so it can be tested under Node. Names come from the newest state, then the
// state before it (a player who left in the same snapshot), then names remembered from join events; a chat line
// carries its sender's name. Lines are drawn on the canvas (hud.js), so chat text is never markup.

import { EVENT_JOIN, EVENT_KILL, EVENT_LEAVE, KIND_PLAYER } from './protocol.js';

/** Feed kinds besides the protocol's EVENT_* numbers: a chat line, and a notice of the page's own. */
export const FEED_CHAT = 'chat';
export const FEED_NOTICE = 'notice';

/** Chat lines stay longer than kill lines: there is more to read. */
const CHAT_TTL_MS = 12000;

/** One line of the feed. */
export class FeedEntry {
  constructor(text, kind, own, time, ttlMs) {
    this.text = text;
    /** Event kind (protocol EVENT_*), FEED_CHAT or FEED_NOTICE. */
    this.kind = kind;
    /** Whether the own player is involved (drawn highlighted). */
    this.own = own;
    /** When it was added, in the caller's milliseconds, and how long it is shown. */
    this.time = time;
    this.ttlMs = ttlMs;
    /** Measured text width, filled in by the first draw. */
    this.width = -1;
  }
}

export class KillFeed {
  constructor(maxEntries = 8, ttlMs = 6000) {
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
    /** Oldest first. */
    this.entries = [];
    /** id -> name from join events, for players no longer in any state. */
    this.names = new Map();
  }

  /**
   * Adds lines for `events` (already de-duplicated by the store). `state`/`prev` are the newest and previous
   * TickStates (either may be null), `ownId` the own player's id, `now` the time in milliseconds.
   */
  handle(events, state, prev, ownId, now) {
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      let text;
      let own = false;
      if (e.kind === EVENT_KILL) {
        own = e.killer === ownId || e.victim === ownId;
        text =
          e.killer === e.victim
            ? `${this.nameOf(e.victim, state, prev)} died`
            : `${this.nameOf(e.killer, state, prev)} killed ${this.nameOf(e.victim, state, prev)}`;
      } else if (e.kind === EVENT_JOIN) {
        this.names.set(e.playerId, e.name);
        own = e.playerId === ownId;
        text = `${e.name} joined`;
      } else if (e.kind === EVENT_LEAVE) {
        text = `${this.nameOf(e.playerId, state, prev)} left`;
      } else {
        continue; // an event kind this client does not know
      }
      this.add(new FeedEntry(text, e.kind, own, now, this.ttlMs));
    }
  }

  /**
   * Adds a chat line (a parsed chat message: `from`, `name`, `text`) as "name: text"; a spectator's (from 0) says
   * so. `ownId` (0 for a spectator) marks the own lines.
   */
  chat(msg, ownId, now) {
    const who = msg.from === 0 ? `${msg.name} (spectator)` : msg.name;
    const own = ownId !== 0 && msg.from === ownId;
    this.add(new FeedEntry(`${who}: ${msg.text}`, FEED_CHAT, own, now, Math.max(this.ttlMs, CHAT_TTL_MS)));
  }

  /** Adds a notice of the page's own (not from the server), such as "slow down". */
  notice(text, now) {
    this.add(new FeedEntry(text, FEED_NOTICE, true, now, this.ttlMs));
  }

  add(entry) {
    this.entries.push(entry);
    if (this.entries.length > this.maxEntries) this.entries.shift();
  }

  /** Drops lines past their time to live (lines live differently long, so any line may go). */
  prune(now) {
    let kept = 0;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (now - e.time <= e.ttlMs) this.entries[kept++] = e;
    }
    this.entries.length = kept;
  }

  nameOf(id, state, prev) {
    const a = lookup(state, id);
    if (a !== null) return a;
    const b = lookup(prev, id);
    if (b !== null) return b;
    return this.names.get(id) ?? `#${id}`;
  }
}

function lookup(state, id) {
  if (state === null || state === undefined) return null;
  const e = state.entities.get(id);
  return e !== undefined && e.kind === KIND_PLAYER ? e.name : null;
}

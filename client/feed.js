// feed.js: the kill feed model: turns de-duplicated snapshot events into short lines that fade out.
//
// Pure (the caller passes the time), so it can be tested under Node. Names come from the newest state, then the
// state before it (a player who left in the same snapshot), then names remembered from join events.

import { EVENT_JOIN, EVENT_KILL, EVENT_LEAVE, KIND_PLAYER } from './protocol.js';

/** One line of the feed. */
export class FeedEntry {
  constructor(text, kind, own, time) {
    this.text = text;
    /** Event kind (protocol EVENT_*). */
    this.kind = kind;
    /** Whether the own player is involved (drawn highlighted). */
    this.own = own;
    /** When it was added, in the caller's milliseconds. */
    this.time = time;
    /** Measured text width, filled in by the first draw. */
    this.width = -1;
  }
}

export class KillFeed {
  constructor(maxEntries = 6, ttlMs = 6000) {
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
      this.entries.push(new FeedEntry(text, e.kind, own, now));
      if (this.entries.length > this.maxEntries) this.entries.shift();
    }
  }

  /** Drops lines older than the time to live. */
  prune(now) {
    let n = 0;
    while (n < this.entries.length && now - this.entries[n].time > this.ttlMs) n++;
    if (n > 0) this.entries.splice(0, n);
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

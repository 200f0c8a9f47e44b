// feedback.js: what a snapshot tells the own player about itself, for the senses: a shot of its own went out, its
// bullets hit someone (protocol v5's `hits`), it scored a kill, it was hurt. main.js turns each into a sound
// (sound.js) and a confirmed hit into the hit marker (effects.js). Pure: no DOM, no clock, no audio.
//
// - shot: a bullet created whose owner is the own player and whose spawn tick is newer than any own bullet seen
//   before (a full snapshot lists every bullet in flight again; those are not new shots).
// - hits: the store's new hits (state.js: each handed out once). A hit is a kill when the snapshot also has a kill
//   event at the hit's tick with the own player as killer and the hit's victim as victim.
// - kill: a new kill event with the own player as killer (of someone else).
// - hurt: the own player's hp in the newly applied state is below the one of the state before.
//
// One snapshot gives at most one of each (several shots or hits in one snapshot are one sound).

import { B_OWNER, B_SPAWN_TICK, EVENT_KILL, KIND_BULLET, KIND_PLAYER, P_HP } from './protocol.js';

/** Whether `events` (a snapshot's, parsed) hold a kill of `victim` by `killer` at `tick`. */
export function isKillHit(events, tick, killer, victim) {
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e.kind === EVENT_KILL && e.tick === tick && e.killer === killer && e.victim === victim) return true;
  }
  return false;
}

export class OwnFeedback {
  constructor() {
    /** Own confirmed hits (new hits, killing ones included) and own kills, this session. */
    this.hits = 0;
    this.kills = 0;
    /** The newest own hit `{tick, victim, kill}`, null before the first. */
    this.lastHit = null;
    /** Newest spawn tick of an own bullet seen (0: none): older own bullets are not new shots. */
    this.lastShotTick = 0;
    /** What the newest snapshot gave, reused: see observe(). */
    this.out = { shot: false, hit: false, kill: false, killHit: false, hits: 0, hurt: false };
  }

  /**
   * One snapshot for player `ownId` (0: a spectator, who gets nothing): `snap` as parsed (protocol.js), `applied`
   * whether the store applied it, `hits` and `events` what the store handed out as new, `prev` and `state` the
   * store's newest state before and after (TickState or null). Returns `{shot, hit, kill, killHit, hits, hurt}`
   * (reused): `hit` a new hit that did not kill, `killHit` one that did, `hits` how many new hits.
   */
  observe(ownId, snap, applied, hits, events, prev, state) {
    const out = this.out;
    out.shot = out.hit = out.kill = out.killHit = out.hurt = false;
    out.hits = 0;
    if (ownId === 0) return out;
    if (applied) {
      const created = snap.created;
      for (let i = 0; i < created.length; i++) {
        const c = created[i];
        if (c.kind !== KIND_BULLET || c.fields[B_OWNER] !== ownId) continue;
        const spawn = c.fields[B_SPAWN_TICK];
        if (spawn > this.lastShotTick) {
          this.lastShotTick = spawn;
          out.shot = true;
        }
      }
      out.hurt = hpDropped(ownId, prev, state);
    }
    for (let i = 0; i < hits.length; i++) {
      const h = hits[i];
      const kill = isKillHit(snap.events, h.tick, ownId, h.victim);
      this.hits++;
      this.lastHit = { tick: h.tick, victim: h.victim, kill };
      if (kill) out.killHit = true;
      else out.hit = true;
    }
    out.hits = hits.length;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (e.kind === EVENT_KILL && e.killer === ownId && e.victim !== ownId) {
        this.kills++;
        out.kill = true;
      }
    }
    return out;
  }
}

/** Whether player `id` has less hp in `state` than in `prev` (the same player in both: its name unchanged). */
function hpDropped(id, prev, state) {
  if (prev === null || state === null || prev === state) return false;
  const a = prev.entities.get(id);
  const b = state.entities.get(id);
  if (a === undefined || b === undefined || a.kind !== KIND_PLAYER || b.kind !== KIND_PLAYER) return false;
  return a.name === b.name && b.fields[P_HP] < a.fields[P_HP];
}

// effects.js: short-lived hit and death effects, derived from what the scene shows.
//
// Each frame observe() compares every drawn player's hp with what it showed the frame before: a drop starts a hit
// ring where the player is, a drop to 0 a death burst. Working from the drawn scene (not from raw snapshots) keeps
// the effect in step with the interpolated position, and frames lost on the way still show as one drop. Kill events
// (noteKill) only colour the burst of a victim of the own player. A confirmed hit of the own player's (protocol v5's
// `hits`, see feedback.js) starts the hit marker: an X around the crosshair for HIT_MARKER_MS, in another colour when
// the hit killed. Pure: the caller passes the time; effects and per-player records are pooled.

/** Effect kinds. */
export const HIT = 1;
export const DEATH = 2;

/** How long each kind lasts, ms. */
export const HIT_MS = 320;
export const DEATH_MS = 700;
/** How long the screen flashes when the own player is hit, ms. */
export const OWN_HIT_FLASH_MS = 250;
/** How long the hit marker shows after a confirmed own hit, ms. */
export const HIT_MARKER_MS = 200;
/** How long a kill event waits for its victim's death to show, ms. */
const KILL_NOTE_MS = 2000;

/** One effect in world units. */
export class Effect {
  constructor() {
    this.kind = HIT;
    this.x = 0;
    this.y = 0;
    /** Start time, ms. */
    this.start = 0;
    this.duration = 0;
    /** The player it happened to, and whether that is the own player. */
    this.playerId = 0;
    this.own = false;
    /** For a death: whether the own player scored the kill. */
    this.byOwn = false;
    /** hp lost (hit) — drawn as the ring's strength. */
    this.amount = 0;
  }
}

/** What was seen of one player last frame. */
class Track {
  constructor() {
    this.hp = 0;
    this.frame = 0;
  }
}

export class Effects {
  constructor() {
    /** Live effects are the first `count`; the rest are pooled. */
    this.items = [];
    this.count = 0;
    /** id -> Track of the players seen last frame. */
    this.tracks = new Map();
    this.trackPool = [];
    this.frame = 0;
    /** victim id -> time of a kill by the own player not yet shown as a death. */
    this.ownKills = new Map();
    /** When the own player was last hit (ms), -Infinity if never: the screen flash. */
    this.ownHitTime = -Infinity;
    /** When the hit marker last started (ms), -Infinity if never, and whether it shows a kill. */
    this.hitMarkerTime = -Infinity;
    this.hitMarkerKill = false;
    /** Totals, for tests and the debug view. */
    this.hits = 0;
    this.deaths = 0;
    this.hitMarkers = 0;
  }

  /**
   * A confirmed hit of the own player's at `now` (`kill`: it killed): the hit marker starts over. A kill marker
   * still showing stays a kill marker when a plain hit follows within its time.
   */
  noteHitMarker(kill, now) {
    this.hitMarkerKill = kill || (this.hitMarkerKill && this.hitMarkerStrength(now) > 0);
    this.hitMarkerTime = now;
    this.hitMarkers++;
  }

  /** The hit marker's strength at `now`: 1 when it starts, falling to 0 at HIT_MARKER_MS; 0 when none shows. */
  hitMarkerStrength(now) {
    const t = (now - this.hitMarkerTime) / HIT_MARKER_MS;
    return t >= 0 && t < 1 ? 1 - t : 0;
  }

  /** A kill event: if the own player is the killer, the victim's death burst is drawn as the own kill. */
  noteKill(killer, victim, ownId, now) {
    if (killer === ownId && victim !== ownId) this.ownKills.set(victim, now);
  }

  /** Compares the scene's players with the previous frame, starting effects for hp drops; then drops old effects. */
  observe(scene, now) {
    const frame = ++this.frame;
    for (let i = 0; i < scene.playerCount; i++) {
      const p = scene.players[i];
      let t = this.tracks.get(p.id);
      if (t === undefined) {
        t = this.trackPool.length > 0 ? this.trackPool.pop() : new Track();
        t.hp = p.hp;
        this.tracks.set(p.id, t);
      } else if (t.frame === frame - 1 && p.hp < t.hp) {
        if (p.hp <= 0) this.startDeath(p, now);
        else this.start(HIT, p, now, HIT_MS, t.hp - p.hp);
        if (p.own) this.ownHitTime = now;
      }
      t.hp = p.hp;
      t.frame = frame;
    }
    if (this.tracks.size > scene.playerCount) {
      for (const id of this.tracks.keys()) {
        const t = this.tracks.get(id);
        if (t.frame !== frame) {
          this.tracks.delete(id);
          this.trackPool.push(t);
        }
      }
    }
    if (this.ownKills.size > 0) {
      for (const victim of this.ownKills.keys()) {
        if (now - this.ownKills.get(victim) > KILL_NOTE_MS) this.ownKills.delete(victim);
      }
    }
    this.prune(now);
  }

  startDeath(p, now) {
    const e = this.start(DEATH, p, now, DEATH_MS, 0);
    e.byOwn = this.ownKills.delete(p.id);
    this.deaths++;
  }

  start(kind, p, now, duration, amount) {
    if (this.count === this.items.length) this.items.push(new Effect());
    const e = this.items[this.count++];
    e.kind = kind;
    e.x = p.x;
    e.y = p.y;
    e.start = now;
    e.duration = duration;
    e.playerId = p.id;
    e.own = p.own;
    e.byOwn = false;
    e.amount = amount;
    if (kind === HIT) this.hits++;
    return e;
  }

  /** Drops finished effects, keeping the pool. */
  prune(now) {
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      const e = this.items[i];
      if (now - e.start < e.duration) {
        if (i !== n) {
          this.items[i] = this.items[n];
          this.items[n] = e;
        }
        n++;
      }
    }
    this.count = n;
  }
}

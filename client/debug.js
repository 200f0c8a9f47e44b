// debug.js: the read-only view of the page that `window.skirmish` exposes for tests: state, room, own player,
// prediction, counters, the lobby and, while spectating, the camera and the roster. It reads the page's parts and
// never changes them.

import { KIND_BULLET, KIND_PLAYER, P_X, P_Y, toWorld } from './protocol.js';

/**
 * The view over `app`: `app.session` (a getter: the current session or null) and the page's parts it reads
 * (`renderer`, `hud`, `lobby`, `scene`, `fps`, `interpDelay`).
 */
export function createDebugView(app) {
  function ownEntity() {
    if (app.session === null || app.session.welcome === null || app.session.store.current === null) return null;
    return app.session.store.current.entities.get(app.session.welcome.playerId) ?? null;
  }

  function countKind(kind) {
    if (app.session === null || app.session.store.current === null) return 0;
    let n = 0;
    for (const e of app.session.store.current.entities.values()) if (e.kind === kind) n++;
    return n;
  }

  return Object.freeze({
    /** 'lobby' (no session), 'connecting', 'joined' or 'closed'. */
    get state() {
      return app.session === null ? 'lobby' : app.session.state;
    },
    /** The room welcomed to: `{id, name, role}` (role 'player' or 'spectator'), null before a welcome. */
    get room() {
      if (app.session === null || app.session.welcome === null) return null;
      const r = app.session.welcome.room;
      return { id: r.id, name: r.name, role: r.role };
    },
    /** Spectating: the player followed (0 for the free camera or nobody), null when not spectating. */
    get follow() {
      return app.session === null || app.session.camera === null ? null : app.session.camera.viewFollow;
    },
    /** Spectating: the followed player's name ('' when none), null when not spectating. */
    get followName() {
      const c = app.session === null ? null : app.session.camera;
      return c === null ? null : c.free ? '' : c.followName;
    },
    /** Spectating: the bar's title ("Spectating ana", "Free camera"...), null when not spectating. */
    get spectatorTitle() {
      return app.session === null || app.session.camera === null ? null : app.hud.spectatorTitle;
    },
    /**
     * Spectating: the room's players from the newest roster (amended by joins and leaves since), in view or not:
     * [{id, name, score, hp}] by id; null when not spectating.
     */
    get roster() {
      if (app.session === null || !app.session.spectator) return null;
      return app.session.roster.players.map((p) => ({ id: p.id, name: p.name, score: p.score, hp: p.hp }));
    },
    /** Spectating: the tick of the newest roster and how many came (0 before the first). */
    get rosterTick() {
      return app.session === null ? 0 : app.session.roster.tick;
    },
    get rostersReceived() {
      return app.session === null ? 0 : app.session.roster.received;
    },
    /** The scoreboard's rows as drawn in the newest frame, top to bottom: [{id, name, score, alive}]. */
    get scoreboard() {
      return app.renderer.scoreboardRows.map((p) => ({ id: p.id, name: p.name, score: p.score, alive: p.hp > 0 }));
    },
    /** Spectating: whether the free camera is on, null when not spectating. */
    get freeCamera() {
      return app.session === null || app.session.camera === null ? null : app.session.camera.free;
    },
    /** The centre of the view drawn last ({x, y} world units): a spectator's camera, else the renderer's. */
    get camera() {
      if (app.session === null || app.session.world === null) return null;
      const c = app.session.camera;
      return c !== null ? { x: c.x, y: c.y } : { x: app.renderer.camX, y: app.renderer.camY };
    },
    /** The (fractional) server tick the last frame drew remote players at, and how ('interpolate', 'hold'...). */
    get sceneTick() {
      return app.scene.tick;
    },
    get interpMode() {
      return app.session === null || app.session.interp === null ? null : app.session.interp.mode;
    },
    /** Messages sent by type: input (players only), bare ack (spectators), view (spectators). */
    get inputsSent() {
      return app.session === null ? 0 : app.session.inputsSent;
    },
    get acksSent() {
      return app.session === null ? 0 : app.session.acksSent;
    },
    get viewsSent() {
      return app.session === null ? 0 : app.session.viewsSent;
    },
    /** The lobby: whether it is shown, the rooms it lists ({id, name, map, players, maxPlayers, spectators}) and
     * how many times it fetched the list. */
    get lobby() {
      return {
        visible: app.lobby.visible,
        refreshes: app.lobby.refreshes,
        rooms: app.lobby.rows.map((r) => ({
          id: r.id,
          name: r.name,
          map: r.map,
          players: r.players,
          maxPlayers: r.maxPlayers,
          spectators: r.spectators,
        })),
      };
    },
    get playerId() {
      return app.session !== null && app.session.welcome !== null ? app.session.welcome.playerId : null;
    },
    get tick() {
      return app.session === null ? 0 : app.session.store.newestTick;
    },
    get position() {
      const e = ownEntity();
      return e === null ? null : { x: toWorld(e.fields[P_X]), y: toWorld(e.fields[P_Y]) };
    },
    get players() {
      return countKind(KIND_PLAYER);
    },
    get bullets() {
      return countKind(KIND_BULLET);
    },
    get snapshots() {
      return app.session === null ? 0 : app.session.store.received;
    },
    get fullSnapshots() {
      return app.session === null ? 0 : app.session.store.fullApplied;
    },
    get deltas() {
      return app.session === null ? 0 : app.session.store.deltasApplied;
    },
    get desyncs() {
      return app.session === null ? 0 : app.session.store.desyncs;
    },
    get ackTick() {
      return app.session === null ? 0 : app.session.store.ackTick;
    },
    get inputSeq() {
      return app.session === null ? 0 : app.session.seq;
    },
    get lastInputSeq() {
      return app.session === null || app.session.store.current === null ? 0 : app.session.store.current.lastInputSeq;
    },
    get bytesIn() {
      return app.session === null ? 0 : app.session.conn.bytesIn;
    },
    get bytesOut() {
      return app.session === null ? 0 : app.session.conn.bytesOut;
    },
    get closeCode() {
      return app.session === null || app.session.state !== 'closed' ? null : app.session.conn.closeCode;
    },
    get closeReason() {
      return app.session === null || app.session.state !== 'closed' ? null : app.session.conn.closeReason;
    },
    get pingMs() {
      return app.session === null ? null : app.session.conn.pingMs;
    },
    /** The predicted own player after every input sent ({x, y} world units), null when nothing is predicted. */
    get predictedPosition() {
      const p = app.session === null ? null : app.session.predictor;
      return p === null || !p.active ? null : { x: p.x, y: p.y };
    },
    /** Reconciliations that moved the prediction by more than 1/16 unit. */
    get corrections() {
      return app.session === null || app.session.predictor === null ? 0 : app.session.predictor.corrections;
    },
    /** The largest correction so far, world units (0 when none). */
    get maxCorrection() {
      return app.session === null || app.session.predictor === null ? 0 : app.session.predictor.maxError;
    },
    get interpDelayTicks() {
      return app.interpDelay;
    },
    /** Ticks skipped between consecutive snapshots received. */
    get framesDropped() {
      return app.session === null ? 0 : app.session.framesDropped;
    },
    /** The other players as drawn in the newest frame: [{id, name, x, y}] in world units. */
    get remotePlayers() {
      const out = [];
      for (let i = 0; i < app.scene.playerCount; i++) {
        const p = app.scene.players[i];
        if (!p.own) out.push({ id: p.id, name: p.name, x: p.x, y: p.y });
      }
      return out;
    },
    get renderFps() {
      return app.fps.fps;
    },
    /** Scoreboard order: 'score' or 'name'. */
    get scoreboardSort() {
      return app.hud.sortMode;
    },
  });
}

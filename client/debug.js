// debug.js: the view of the page that `window.skirmish` exposes for tests: state, room, own player, prediction,
// counters (smoothness too: correction sizes, underruns, time extrapolated, snapshot jitter, acknowledgement
// latency, the interpolation delay), the lobby, reconnection and chat, while spectating the camera and the
// roster, and (protocol v5) the own confirmed hits, the view delay sent, the sounds started and the mute switch,
// the server process in use and the redirects followed to reach it.
// It reads the page's parts and never changes them, with one exception a test needs: `sendChat(text)` sends a chat
// line exactly as the chat box does (same checks, same pace). A test that types instead presses Enter on the game,
// types into the input `#chat-input` and presses Enter (Escape cancels). The mute switch is M or the button `#mute`.

import { KIND_BULLET, KIND_PLAYER, P_HP, P_X, P_Y, toWorld } from './protocol.js';

/**
 * The view over `app`: `app.session` (a getter: the current session or null), the page's parts it reads
 * (`renderer`, `hud`, `lobby`, `scene`, `fps`, `interpDelay` (ticks drawn with now, null without a world),
 * `interpDelayFixed`, `chatBox`, `replayBar`, `sounds` (sound.js), `bytesIn(session)`, `bytesOut(session)`) and
 * `sendChat(text)`.
 */
export function createDebugView(app) {
  function ownEntity() {
    if (app.session === null || app.session.welcome === null || app.session.store.current === null) return null;
    return app.session.store.current.entities.get(app.session.welcome.playerId) ?? null;
  }

  function predictor() {
    return app.session === null ? null : app.session.predictor;
  }

  /** `v` to `digits` decimals: timings kept short in test logs (the view's sizes are exact). */
  function round(v, digits) {
    const k = 10 ** digits;
    return Math.round(v * k) / k;
  }

  function countKind(kind) {
    if (app.session === null || app.session.store.current === null) return 0;
    let n = 0;
    for (const e of app.session.store.current.entities.values()) if (e.kind === kind) n++;
    return n;
  }

  return Object.freeze({
    /** 'lobby' (no session), 'connecting', 'joined', 'reconnecting' or 'closed'. */
    get state() {
      return app.session === null ? 'lobby' : app.session.state;
    },
    /**
     * The connection as a player sees it: 'connecting' (until the welcome), 'playing' (welcomed, as player or
     * spectator), 'reconnecting' (the link dropped and the seat is being resumed: the game is frozen), 'closed'
     * (the disconnected panel, or left); null in the lobby.
     */
    get connection() {
      if (app.session === null) return null;
      const state = app.session.state;
      return state === 'joined' ? 'playing' : state;
    },
    /** Resume attempts (connections opened to resume the seat) and resumes that got a welcome, this session. */
    get reconnectAttempts() {
      return app.session === null ? 0 : app.session.reconnectAttempts;
    },
    get resumes() {
      return app.session === null ? 0 : app.session.resumes;
    },
    /** The baseline of the first snapshot after the newest resume: 0 for a full one; null before any resume. */
    get resumeBaseline() {
      return app.session === null ? null : app.session.resumeBaseline;
    },
    /**
     * The WebSocket URL of the socket now in use (after a redirect another process than the page's: where the
     * session's resumes go), null in the lobby; and the redirects followed this session, over all its connections.
     */
    get server() {
      return app.session === null || app.session.conn === null ? null : app.session.conn.url;
    },
    get redirects() {
      return app.session === null ? 0 : app.session.redirects;
    },
    /** Whether the page holds a resume token for its seat (the token itself is a credential and not shown). */
    get canResume() {
      return app.session !== null && app.session.resumeToken !== null;
    },
    /** The newest welcome's grace (ms the server holds the seat after a drop), 0 without a session element. */
    get graceMs() {
      return app.session === null ? 0 : app.session.graceMs;
    },
    /** The chat lines received this session, oldest first: [{from, name, text}] (from 0: a spectator). */
    get chat() {
      if (app.session === null) return [];
      return app.session.chatLines.map((l) => ({ from: l.from, name: l.name, text: l.text }));
    },
    /** Chat lines this page sent, whether the chat box is open, the newest notice of the page's own ('' none). */
    get chatSent() {
      return app.session === null ? 0 : app.session.chatSent;
    },
    /**
     * A replay room's playback as the page knows it from the room's lines (replay.js): `{active, paused, ended,
     * speed, status}`, plus `shown` (the bar is displayed) and `lastPress` (what the bar's newest press gave:
     * 'sent', 'slow down', ... or null). `active` is false outside a replay room.
     */
    get replay() {
      const none = { active: false, paused: false, ended: false, speed: 1, status: '' };
      const r = app.session === null ? none : app.session.replay.view();
      return { ...r, shown: !app.replayBar.root.hidden, lastPress: app.replayBar.lastPress };
    },
    get chatOpen() {
      return app.chatBox.isOpen;
    },
    get chatNotice() {
      return app.session === null ? '' : app.session.lastNotice;
    },
    /** The feed's lines as drawn now, oldest first (kills, joins, leaves, chat, notices). */
    get feed() {
      return app.session === null ? [] : app.session.feed.entries.map((e) => e.text);
    },
    /**
     * Sends a chat line as the chat box would; returns 'sent', 'slow down', 'not connected' or checkChat's reason
     * ('chat line is empty', 'chat line over 120 characters', 'chat line holds a control character').
     */
    sendChat(text) {
      return app.sendChat(text);
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
    /** The own player's hit points and whether it is alive, from the newest server state (null when absent). */
    get hp() {
      const e = ownEntity();
      return e === null ? null : e.fields[P_HP];
    },
    get alive() {
      const e = ownEntity();
      return e === null ? null : e.fields[P_HP] > 0;
    },
    /**
     * Where the own player was drawn in the newest frame ({x, y} world units: prediction plus the fading offset
     * of corrections), null when it was not drawn; with `position` and `corrections` a test tells a correction
     * (a few units, smoothed) from a respawn (a jump, not counted).
     */
    get drawnPosition() {
      const p = app.scene.own;
      return p === null ? null : { x: p.x, y: p.y };
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
    /** Bytes over all the session's connections (a resume opens a new one). */
    get bytesIn() {
      return app.session === null ? 0 : app.bytesIn(app.session);
    },
    get bytesOut() {
      return app.session === null ? 0 : app.bytesOut(app.session);
    },
    /** Why the session ended, as the disconnected panel says (a seat not resumed in time: the drop's code). */
    get closeCode() {
      return app.session === null || app.session.state !== 'closed' ? null : app.session.closeCode;
    },
    get closeReason() {
      return app.session === null || app.session.state !== 'closed' ? null : app.session.closeReason;
    },
    /** While reconnecting: the code and reason of the drop being recovered; null otherwise. */
    get dropCode() {
      return app.session === null || app.session.drop === null ? null : app.session.drop.code;
    },
    get dropReason() {
      return app.session === null || app.session.drop === null ? null : app.session.drop.reason;
    },
    get pingMs() {
      return app.session === null || app.session.conn === null ? null : app.session.conn.pingMs;
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
    /** The sizes (world units) of the newest counted corrections, oldest first (at most 32). */
    get correctionSizes() {
      const p = predictor();
      return p === null ? [] : p.recentCorrections.toArray();
    },
    /** Mean and p99 size of every counted correction this session, world units (0 when none). */
    get correctionMean() {
      const p = predictor();
      return p === null ? 0 : p.correctionSizes.mean;
    },
    get correctionP99() {
      const p = predictor();
      return p === null ? 0 : p.correctionSizes.percentile(99);
    },
    /**
     * The interpolation delay drawn with now (ticks, fractional): adapted to the jitter measured (delay.js), or
     * fixed by `?interp=N` (`interpDelayFixed`); null before a welcome. `interpDelayTarget` is where the
     * adaptive delay is heading, and `latenessP95Ms` the lateness of recent snapshots it is based on.
     */
    get interpDelayTicks() {
      return app.interpDelay;
    },
    get interpDelayFixed() {
      return app.interpDelayFixed;
    },
    get interpDelayTarget() {
      return app.session === null || app.session.delay === null ? null : app.session.delay.target;
    },
    get latenessP95Ms() {
      const d = app.session === null ? null : app.session.delay;
      return d === null || Number.isNaN(d.p95LatenessMs) ? null : round(d.p95LatenessMs, 2);
    },
    /**
     * Interpolation underruns: runs of frames drawn past the newest snapshot (no pair of states ahead), those
     * frames, and the time they covered (ms extrapolating or holding), while connected.
     */
    get underruns() {
      return app.session === null ? 0 : app.session.underruns.underruns;
    },
    get underrunFrames() {
      return app.session === null ? 0 : app.session.underruns.frames;
    },
    get extrapolatingMs() {
      return app.session === null ? 0 : round(app.session.underruns.extrapolatingMs, 1);
    },
    /**
     * Snapshot inter-arrival: jitter as the mean absolute deviation from the tick interval (ms), and the mean and
     * p99 of the intervals (ms), over the session.
     */
    get snapshotJitterMs() {
      const a = app.session === null ? null : app.session.arrivals;
      return a === null ? 0 : round(a.jitterMs, 2);
    },
    get snapshotIntervalMeanMs() {
      const a = app.session === null ? null : app.session.arrivals;
      return a === null ? 0 : round(a.intervals.mean, 2);
    },
    get snapshotIntervalP99Ms() {
      const a = app.session === null ? null : app.session.arrivals;
      return a === null ? 0 : round(a.intervals.percentile(99), 2);
    },
    /**
     * Input-to-acknowledgement latency (ms): from sending an input to the first snapshot whose last_input_seq
     * covers it, `{count, last, p50, p99}` over the session (players only; zeros before the first).
     */
    get ackLatencyMs() {
      const a = app.session === null ? null : app.session.acks;
      if (a === null) return { count: 0, last: 0, p50: 0, p99: 0 };
      const l = a.latencies;
      const p50 = round(l.percentile(50), 1);
      return { count: l.count, last: round(a.lastMs, 1), p50, p99: round(l.percentile(99), 1) };
    },
    /**
     * The server's share of the input-to-acknowledgement latency (ms): ackLatencyMs p50 less the ping round trip,
     * i.e. how long an input waits at the server between arriving and the snapshot that shows it applied (its queue
     * wait plus the rest of that tick), `{p50, p99}`; null before both are known.
     */
    get inputWaitMs() {
      const a = app.session === null ? null : app.session.acks;
      const rtt = app.session === null || app.session.conn === null ? null : app.session.conn.pingMs;
      if (a === null || a.latencies.count === 0 || rtt === null || rtt === undefined) return null;
      const l = a.latencies;
      const less = (v) => round(Math.max(0, v - rtt), 1);
      return { p50: less(l.percentile(50)), p99: less(l.percentile(99)) };
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
        if (!p.own) out.push({ id: p.id, name: p.name, x: p.x, y: p.y, disconnected: p.disconnected });
      }
      return out;
    },
    get renderFps() {
      return app.fps.fps;
    },
    /**
     * Own confirmed hits this session (the snapshots' `hits`, each counted once, killing ones included), the
     * newest one `{tick, victim, kill}` (kill: a kill event of the own player's names that victim at that tick;
     * null before the first), and hit markers started (one per snapshot bringing new hits).
     */
    get hits() {
      return app.session === null ? 0 : app.session.feedback.hits;
    },
    get lastHit() {
      const h = app.session === null ? null : app.session.feedback.lastHit;
      return h === null ? null : { tick: h.tick, victim: h.victim, kill: h.kill };
    },
    get hitMarkers() {
      return app.session === null ? 0 : app.session.effects.hitMarkers;
    },
    /** The view_delay_ms of the newest input sent (lag compensation), null before the first input. */
    get viewDelayMs() {
      return app.session === null ? null : app.session.viewDelayMs;
    },
    /** The welcome's max_rewind_ticks (0: lag compensation off), null without one (or from a 10-rule welcome). */
    get maxRewindTicks() {
      const w = app.session === null ? null : app.session.welcome;
      return w === null || w.rules.maxRewindTicks === undefined ? null : w.rules.maxRewindTicks;
    },
    /**
     * Sounds started since the page loaded, by kind: `{shot, hit, kill, hurt}` (none while muted or before a key
     * or pointer press created the AudioContext); `muted` the switch (M, `#mute`, remembered in localStorage
     * `skirmish.muted`); `audio` the AudioContext's state ('running', 'suspended', ...), null while there is none.
     */
    get sounds() {
      const c = app.sounds.counts;
      return { shot: c.shot, hit: c.hit, kill: c.kill, hurt: c.hurt };
    },
    get muted() {
      return app.sounds.muted;
    },
    get audio() {
      return app.sounds.state;
    },
    /** Scoreboard order: 'score' or 'name'. */
    get scoreboardSort() {
      return app.hud.sortMode;
    },
  });
}

// main.js: wires the client together. The lobby (lobby.js), or the URL (`?name=NAME` quick-plays, `?room=ID` joins
// that room, `&spectate=1` watches it), starts a session: a Connection (net.js) whose hello carries the join,
// feeding a SnapshotStore (state.js), a KillFeed (feed.js) and hit/death Effects (effects.js). Once welcomed as a
// player, one input per server tick goes out carrying the newest applied tick as its acknowledgement, and the
// Predictor (predict.js) moves the own player by the same tick at once; each applied snapshot reconciles it. Welcomed
// as a spectator, the page sends no input at all: a bare ack per applied tick, and a view (rate-limited) whenever
// its SpectatorCamera (spectate.js) changes whom it follows or moves freely; the roster the server sends it once a
// second (spectate.js's Roster) gives it the whole room, in view or not, for its scoreboard and whom to follow. A
// requestAnimationFrame loop, independent of the tick rate, fills a Scene (scene.js) with the remote players and
// bullets the Interpolator (interp.js) places a delay in the past (adapted to the jitter measured, delay.js, or
// `?interp=N` ticks) plus the predicted own player, and hands it to the Renderer. The disconnected panel offers
// Reconnect (the same room) and Back to lobby.
//
// A player's seat outlives its socket (protocol v4): when the link drops without the server saying why, or the
// server lets it go in a way that holds the seat (reconnect.js's shouldResume), the game freezes under a
// "reconnecting" overlay (no input, no prediction) and new connections resume the seat with the newest resume
// token and the newest tick held, with backoff, until the grace is over; the resumed session keeps its world,
// forgets its unacknowledged inputs and numbers its inputs above the server's. The token is also kept in
// sessionStorage, so a reload during a drop resumes too; leaving on purpose (the lobby, another room, closing the
// page while connected) sends a normal close, which frees the seat. Enter opens the chat box (chat.js); chat lines
// go to the feed.
// Protocol v5: each input says how far behind its acknowledged tick the remote players were drawn (view_delay_ms,
// delay.js), for the server's lag compensation; each snapshot's new own hits (feedback.js) start the hit marker
// (effects.js), and own shots, hits, kills and hp lost start synthesized sounds (sound.js), which M or the HUD's
// `#mute` button mutes.
// Protocol v6: deltas are predicted by the store with the room's tick rate (so the session's store is made at the
// welcome), snapshot aims are 0..255 (inputs still send 0..65535), and the own player is reconciled with its true
// velocity: its entity's vx, vy (rounded to the tick rate) plus the snapshot's `own` correction.
// Several server processes may share the rooms: a hello answered by a redirect is said again on the process the
// redirect names (net.js follows it, up to 3 in a row, with only "Joining…" shown), and from its welcome on that
// process is the session's server: resumes go there (reconnect.js's connectTarget), not to the page's origin.
// `window.skirmish` exposes a read-only view for tests (debug.js), plus sendChat. Spectating a replay room
// (`--replay`), a control bar (replay.js) plays, pauses and sets the speed with chat commands, sent as the chat box
// sends them.

import { ChatBox, ChatBucket, SLOW_DOWN } from './chat.js';
import { createDebugView } from './debug.js';
import { Effects } from './effects.js';
import { OwnFeedback } from './feedback.js';
import { InputManager } from './input.js';
import { KillFeed } from './feed.js';
import { SORT_NAME, SORT_SCORE, scoreboardHit } from './hud.js';
import { AdaptiveDelay, viewDelayMs } from './delay.js';
import { InputPacer, Interpolator, ServerClock, interpDelayOverride } from './interp.js';
import { Lobby, SPECTATOR_NAME, httpBase, joinFromQuery } from './lobby.js';
import { Connection, defaultServerUrl } from './net.js';
import { MovementModel, Predictor } from './predict.js';
import {
  BUTTON_FIRE,
  EVENT_KILL,
  KIND_PLAYER,
  P_AIM,
  P_HP,
  P_X,
  P_Y,
  ROLE_SPECTATOR,
  ackMessage,
  aimToRadians,
  chatMessage,
  checkChat,
  inputMessage,
  joinRoom,
  normalizeName,
  quickPlay,
  radiansToAim,
  resume,
  snapshotAimToRadians,
  spectate,
  toMoveAxis,
  toWorld,
  trimLikeRust,
  viewMessage,
} from './protocol.js';
import { ReconnectPlan, ResumeRecord, connectTarget, shouldResume } from './reconnect.js';
import { Renderer } from './render.js';
import { Scene, placeOwn } from './scene.js';
import { Screens } from './screens.js';
import { ReplayBar, ReplayState } from './replay.js';
import { MuteButton, Sounds } from './sound.js';
import { Roster, RosterBoard, SpectatorCamera, ViewThrottle } from './spectate.js';
import { APPLIED, SnapshotStore } from './state.js';
import { AckLatency, ArrivalStats, FpsMeter, RateMeter, UnderrunStats, formatRate } from './stats.js';

const NAME_KEY = 'skirmish.name';

const canvas = document.getElementById('game');
const renderer = new Renderer(canvas);
const input = new InputManager(window, canvas);
const screens = new Screens(document);
const scene = new Scene();
const serverUrl = defaultServerUrl(location);
const lobby = new Lobby(document, { base: serverBase(serverUrl), onPlay: play });
/** The seat to resume after a reload (sessionStorage: this tab only). */
const resumeRecord = new ResumeRecord(sessionStore());
const chatBox = new ChatBox(document, submitChat);
/** A replay room's controls (replay.js); their presses are chat lines, sent as the chat box sends them. */
const replayBar = new ReplayBar(document, (line) => sendChat(line));
/**
 * A signed join token for servers that require one (`?auth=TOKEN`, issued by the game's backend or `skirmish
 * token`), sent in every hello but a resume; null: none.
 */
const auth = new URLSearchParams(location.search).get('auth') || null;
/** A fixed interpolation delay in ticks (`?interp=N`), or null: each session adapts its own (delay.js). */
const fixedInterpDelay = interpDelayOverride(location.search);
const fps = new FpsMeter();
/** The synthesized sounds (sound.js), muted as localStorage remembers, and the HUD's switch for them. */
const sounds = new Sounds({ storage: localStore() });
const muteButton = new MuteButton(document, sounds);
// Browsers allow sound only after a user gesture: the first one creates the AudioContext (and any later one
// resumes it if it was suspended). Capture, so that no handler that stops the event can keep it from here.
for (const type of ['keydown', 'pointerdown']) {
  window.addEventListener(type, () => sounds.unlock(), { capture: true, passive: true });
}
/** Scratch for the own player's drawn position. */
const ownDrawn = { x: 0, y: 0 };

/** What the HUD draws besides the scene; one object, updated in place. */
const hud = {
  feed: null,
  overlayLines: [],
  overlayVisible: false,
  banner: null,
  /** Respawn countdown bar under the banner, 0..1, or -1 for none. */
  bannerProgress: -1,
  /** Scoreboard order: SORT_SCORE or SORT_NAME. */
  sortMode: SORT_SCORE,
  now: 0,
  /** Spectating: the followed player (drawn and listed like an own player), and the bar's two lines. */
  highlightId: 0,
  spectatorTitle: null,
  spectatorHint: null,
  /** Spectating: what the scoreboard lists (the whole room); null lists the scene's players. */
  board: null,
  /** Where the mouse points on the canvas (`{x, y}` CSS pixels), null before it is seen: the hit marker's place. */
  crosshair: null,
};
/** hud.crosshair while the mouse is known, updated in place. */
const crosshair = { x: 0, y: 0 };
/** What is drawn behind the lobby: nothing but the background. */
const idleHud = { ...hud, feed: new KillFeed(), overlayVisible: false };

/** The spectator bar's key hints. */
const FOLLOW_HINT = 'Q/E or [ ] switch player · F free camera · Tab sort · Esc lobby';
const FREE_HINT = 'W A S D move · F follow · Q/E or [ ] switch player · Tab sort · Esc lobby';

/**
 * The current session: one visit to a room. A resume replaces its connection and keeps the session; the
 * disconnected panel's Reconnect starts a new one.
 */
let session = null;
let looping = false;

input.on('toggleOverlay', () => {
  hud.overlayVisible = !hud.overlayVisible;
  if (session) session.overlayDirty = true;
});
input.on('toggleSort', () => {
  hud.sortMode = hud.sortMode === SORT_SCORE ? SORT_NAME : SORT_SCORE;
});
input.on('followNext', () => cycleFollow(1));
input.on('followPrev', () => cycleFollow(-1));
input.on('toggleFreeCamera', () => {
  const s = spectatingSession();
  if (s !== null) s.camera.toggleFree(scene.players, scene.playerCount);
});
// Space fires for a player; a spectator fires nothing, and in a replay room it plays or pauses.
input.on('firePressed', () => {
  const s = spectatingSession();
  if (s !== null && s.replay.active) replayBar.toggle();
});
input.on('toggleMute', () => {
  sounds.toggleMuted();
  muteButton.sync();
});
input.on('leave', () => {
  if (session !== null) backToLobby();
});
input.uiClick = (x, y) => {
  const mode = scoreboardHit(x, y);
  if (mode === null) return false;
  hud.sortMode = mode;
  return true;
};

/** The page's localStorage, or null where the page may not use it. */
function localStore() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage blocked: the mute switch is not remembered
  }
}

/** The tab's sessionStorage, or null where the page may not use it. */
function sessionStore() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage blocked (sandboxed frame): no resume after a reload, everything else works
  }
}

/** The server's HTTP origin for the lobby's requests, from the WebSocket URL (the page's own when that fails). */
function serverBase(url) {
  try {
    return httpBase(url);
  } catch {
    return location.origin;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions

/** The lobby's choice: remember a typed name, then join. */
function play(name, join, typed) {
  if (typed) rememberName(name);
  startSession(name, join);
}

/** A session's state, before any connection: one per room visit, kept across the resumes of its seat. */
function newSession(name, join) {
  return {
    name,
    /** The hello's join (protocol.js join builders); what Reconnect on the disconnected panel joins again. */
    join,
    /** From welcome on: whether this session watches rather than plays. */
    spectator: false,
    /** Set when the page left on purpose (back to the lobby, another room, the page closed): its close is not shown. */
    left: false,
    /** Set when the page was hidden (pagehide) while connected, and so closed its connection. */
    leftWithPage: false,
    /** 'connecting' | 'joined' | 'reconnecting' (the link dropped; resuming the seat) | 'closed' */
    state: 'connecting',
    /** Once closed: the code and reason the disconnected panel shows (or of leaving on purpose). */
    closeCode: null,
    closeReason: null,
    conn: null,
    /**
     * The URL of the socket the newest welcome came on (after a redirect, another process than the page's), where
     * resumes go; null before a welcome. Redirects followed over the session's connections.
     */
    seatServer: null,
    redirects: 0,
    /** Bytes of the connections before the current one (a resume opens a new one), for the totals. */
    bytesInBefore: 0,
    bytesOutBefore: 0,
    /** Replaced at the welcome by one that knows the room's tick rate (deltas are predicted with it). */
    store: new SnapshotStore(null),
    feed: new KillFeed(),
    effects: new Effects(),
    /** What snapshots say about the own player: new shots, confirmed hits and kills, hp lost (feedback.js). */
    feedback: new OwnFeedback(),
    meter: new RateMeter(),
    welcome: null,
    /** `{map, rules, tickRate}` for the renderer, from welcome. */
    world: null,
    dt: 0,
    /** From welcome on: own-player prediction, the server clock, the interpolator and the input timing. */
    predictor: null,
    clock: null,
    interp: null,
    pacer: null,
    /** From welcome on: the adaptive interpolation delay, and the smoothness counters the debug view exposes. */
    delay: null,
    arrivals: null,
    underruns: new UnderrunStats(),
    acks: new AckLatency(),
    seq: 0,
    aim: 0,
    /** The view_delay_ms of the newest input sent (protocol v5, lag compensation), null before the first. */
    viewDelayMs: null,
    inputTimer: null,
    /** A player's way back to its seat, from the newest welcome (null: a spectator, or resuming is off). */
    resumeToken: null,
    graceMs: 0,
    /** While reconnecting: the retry schedule, the pending retry, and the drop being recovered `{code, reason}`. */
    plan: null,
    retryTimer: null,
    drop: null,
    /** Resume attempts (connections opened with a resume join) and successful resumes, over the session. */
    reconnectAttempts: 0,
    resumes: 0,
    /** The baseline of the first snapshot after the newest resume (0: full), null before any resume. */
    resumeBaseline: null,
    awaitingResumeSnapshot: false,
    /** Chat: the lines received (`{from, name, text}`, the newest CHAT_LOG_MAX), the page's pace, lines sent. */
    chatLines: [],
    chatBucket: new ChatBucket(),
    chatSent: 0,
    /** The newest notice of the page's own in the feed ("slow down"...), '' for none. */
    lastNotice: '',
    /** Spectating a replay room: the playback as the room's lines tell it (replay.js). */
    replay: new ReplayState(),
    /** Spectating: the room's players from the server's rosters, and the scoreboard's list built from it. */
    roster: new Roster(),
    board: new RosterBoard(),
    /** Spectating: the camera, when views go out, the last tick acknowledged, the last frame's time. */
    camera: null,
    views: null,
    lastAck: 0,
    lastFrame: 0,
    /** What the spectator bar names now (-1: the free camera), so its text is built only when that changes. */
    barFollow: 0,
    barName: '',
    barKnown: false,
    /** Messages sent, by type (a spectator must send no input). */
    inputsSent: 0,
    acksSent: 0,
    viewsSent: 0,
    /** Newest snapshot tick received, and the ticks skipped between consecutive snapshots. */
    lastSnapshotTick: 0,
    framesDropped: 0,
    overlayDirty: true,
    bannerKind: -1,
    bannerRespawn: 0,
    /** The seconds of grace the reconnecting overlay shows, so its text is rebuilt once a second. */
    shownGraceSeconds: -1,
  };
}

/** Makes `s` the current session: the HUD shows its feed, the lobby and old panels go. */
function adopt(s) {
  if (session !== null && session !== s) leaveSession(session, 'left the room');
  session = s;
  hud.feed = s.feed;
  hud.highlightId = 0;
  hud.spectatorTitle = null;
  hud.spectatorHint = null;
  hud.board = null;
  lobby.hide();
  input.active = true;
  screens.hideClosed();
  screens.hideReconnecting();
}

function startSession(name, join) {
  const s = newSession(name, join);
  adopt(s);
  screens.showStatus(`Connecting to ${serverUrl}…`);
  connect(s, join);
}

/**
 * A session that starts by resuming the seat `record` (reconnect.js's ResumeRecord) names: the page was reloaded
 * while its seat was held. It has no state yet, so it asks for everything (last_tick 0: a full snapshot); if the
 * seat is gone, Reconnect on the disconnected panel joins the room again as a new player.
 */
function startResumedSession(record) {
  const s = newSession(record.name, joinRoom(record.room));
  adopt(s);
  s.resumeToken = record.token;
  s.graceMs = record.graceMs;
  s.seatServer = record.server;
  // The grace runs from the drop, which happened on the previous page: its wall-clock time, on this page's clock.
  const droppedAt = performance.now() - Math.max(0, Date.now() - record.droppedAt);
  beginReconnect(s, 1006, 'the page was reloaded while the seat was held', droppedAt);
}

/**
 * Opens a connection for `s` saying hello with `join` (a resume on the server of the seat, anything else on the
 * page's); only the session's current connection is listened to.
 */
function connect(s, join) {
  if (s.conn !== null) {
    s.bytesInBefore += s.conn.bytesIn;
    s.bytesOutBefore += s.conn.bytesOut;
  }
  // A resume carries no join token: the seat is the credential (and the server asks none for it).
  const token = join.kind === 'resume' ? null : auth;
  const conn = new Connection(
    connectTarget(join, serverUrl, s.seatServer),
    s.name,
    join,
    {
      onWelcome: (msg) => s.conn === conn && onWelcome(s, msg),
      onSnapshot: (msg) => s.conn === conn && onSnapshot(s, msg),
      onRoster: (msg) => s.conn === conn && onRoster(s, msg),
      onChat: (msg) => s.conn === conn && onChat(s, msg),
      onRedirect: () => s.conn === conn && onRedirect(s),
      onClose: (code, reason, closedBy) => s.conn === conn && onClose(s, code, reason, closedBy),
    },
    token,
  );
  s.conn = conn;
}

/** A redirect followed (net.js says hello again on the process it names): counted; the status says "Joining…". */
function onRedirect(s) {
  s.redirects++;
  if (s.state === 'connecting') screens.showStatus('Joining…');
}

function onWelcome(s, msg) {
  const resumed = s.conn.join.kind === 'resume';
  // The process that welcomed the seat holds it: resumes go there.
  s.seatServer = s.conn.url;
  // A resume gives the same seat back: same player, same room, and the world this page already holds. (A welcome
  // naming another player, which the server never sends, starts over as a fresh join would.)
  const sameSeat =
    resumed && s.welcome !== null && msg.playerId === s.welcome.playerId && msg.room.id === s.welcome.room.id;
  if (sameSeat) {
    s.welcome = msg;
    // The inputs sent into the dead socket never arrived; the next snapshot's last_input_seq says where the
    // server is, and reconciliation starts from it with nothing pending; nor will they be acknowledged.
    s.predictor.reset();
    s.acks.clear();
    s.arrivals.restart();
  } else {
    setUpWorld(s, msg);
  }
  // The server refuses an input seq not above the highest it has received from this seat, across resumes.
  const inputSeq = msg.session === null ? 0 : msg.session.inputSeq;
  if (s.seq < inputSeq) s.seq = inputSeq;
  keepSeat(s, msg);
  if (resumed) {
    s.resumes++;
    s.awaitingResumeSnapshot = true;
    s.plan = null;
    s.drop = null;
  }
  // A replay room greets each spectator right after the welcome; nothing is known until that line.
  s.replay.reset(s.spectator ? msg.room.name : null);
  s.state = 'joined';
  screens.hideStatus();
  screens.hideReconnecting();
  showRoomInUrl(msg.room, s.spectator);
  if (s.spectator) {
    if (s.camera === null) {
      s.camera = new SpectatorCamera(msg.map.width, msg.map.height, s.roster);
      s.views = new ViewThrottle();
    }
    // The first view goes out at once: the server centres on the map until told otherwise.
    sendView(s, performance.now());
  } else {
    scheduleInput(s);
  }
  startLoop();
}

/** The world a welcome describes: prediction, clock, interpolation (a first join, or a resume after a reload). */
function setUpWorld(s, msg) {
  s.welcome = msg;
  // Version 6 deltas are predicted with the room's tick rate: the store starts here, with the world it describes.
  s.store = new SnapshotStore(msg.tickRate);
  s.spectator = msg.room.role === ROLE_SPECTATOR;
  s.world = { map: msg.map, rules: msg.rules, tickRate: msg.tickRate };
  s.dt = 1 / msg.tickRate;
  const tickMs = 1000 / msg.tickRate;
  if (!s.spectator) {
    s.predictor = new Predictor(new MovementModel(msg.map, msg.rules, msg.tickRate), { tickMs });
    s.pacer = new InputPacer(tickMs);
  }
  s.clock = new ServerClock(tickMs);
  s.delay = new AdaptiveDelay(tickMs);
  s.arrivals = new ArrivalStats(tickMs);
  s.interp = new Interpolator(s.dt, {
    bulletLifetimeTicks: msg.rules.bulletLifetimeTicks,
    width: msg.map.width,
    height: msg.map.height,
    radius: msg.rules.playerRadius,
    // Moving more than twice the top speed (plus a margin) between two states is a respawn, not a move.
    teleportDistance: msg.rules.maxSpeed * s.dt * 2 + 16,
  });
}

/** Keeps the welcome's resume token: in the session, and in sessionStorage for a reload during a drop. */
function keepSeat(s, msg) {
  if (msg.session === null) {
    s.resumeToken = null;
    s.graceMs = 0;
    resumeRecord.clear();
    return;
  }
  s.resumeToken = msg.session.resumeToken;
  s.graceMs = msg.session.graceMs;
  resumeRecord.save({
    url: serverUrl,
    server: s.seatServer,
    room: msg.room.id,
    name: s.name,
    playerId: msg.playerId,
    token: msg.session.resumeToken,
    graceMs: msg.session.graceMs,
    droppedAt: null,
  });
}

function onSnapshot(s, msg) {
  if (s.welcome === null) return; // the server sends welcome first; nothing to attach a snapshot to before it
  const now = performance.now();
  if (s.awaitingResumeSnapshot) {
    // A delta against the last_tick the resume named, or full (0) when the server no longer had that tick.
    s.awaitingResumeSnapshot = false;
    s.resumeBaseline = msg.baseline;
  }
  if (msg.tick > s.lastSnapshotTick) {
    if (s.lastSnapshotTick !== 0) s.framesDropped += msg.tick - s.lastSnapshotTick - 1;
    s.lastSnapshotTick = msg.tick;
  }
  const prev = s.store.current;
  const result = s.store.apply(msg);
  if (result.status === APPLIED) {
    // Lateness is measured against the clock before this arrival moves it.
    s.delay.arrive(now, s.clock.lateness(msg.tick, now));
    s.arrivals.arrive(msg.tick, now);
    s.clock.observe(msg.tick, now);
    if (s.predictor !== null) {
      s.acks.acked(msg.lastInputSeq, now);
      const own = s.store.current.entities.get(s.welcome.playerId);
      const fields = own !== undefined && own.kind === KIND_PLAYER ? own.fields : null;
      // Version 6: the state's vx, vy are rounded to the tick rate; `own` carries the rest of the true velocity.
      s.predictor.reconcile(fields, msg.lastInputSeq, now, msg.own);
    }
    // A spectator has no inputs to carry its acknowledgement: a bare ack per newly applied tick.
    if (s.spectator && s.store.ackTick !== 0 && s.store.ackTick !== s.lastAck) {
      s.lastAck = s.store.ackTick;
      if (s.conn.send(ackMessage(s.lastAck))) s.acksSent++;
    }
  }
  const events = result.events;
  if (!s.spectator) ownFeedback(s, msg, result, prev, now);
  // Joins and leaves since the last roster amend it until the next one.
  if (s.spectator && events.length > 0) s.roster.noteEvents(events, s.welcome.rules.maxHp);
  if (events.length > 0) {
    s.feed.handle(events, s.store.current, prev, s.welcome.playerId, now);
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (e.kind === EVENT_KILL) s.effects.noteKill(e.killer, e.victim, s.welcome.playerId, now);
    }
  }
}

/**
 * The own player's side of a snapshot: a confirmed hit starts the hit marker; a new own bullet, a hit, a kill (a
 * kill event of its, or a hit that killed: the kill's sound instead of the hit's) and hp lost each start a sound.
 */
function ownFeedback(s, msg, result, prev, now) {
  const applied = result.status === APPLIED;
  const f = s.feedback.observe(s.welcome.playerId, msg, applied, result.hits, result.events, prev, s.store.current);
  if (f.hits > 0) s.effects.noteHitMarker(f.killHit, now);
  sounds.playFeedback(f);
}

/** A spectator's roster (the server sends players none): the whole room, for the scoreboard and for following. */
function onRoster(s, msg) {
  if (s.welcome === null || !s.spectator) return;
  s.roster.apply(msg);
}

/** How many received chat lines the session keeps (for the debug view; the feed shows the newest few). */
const CHAT_LOG_MAX = 200;

/** A chat line of the room (the server's echo of our own ones included): to the feed, with its sender's name. */
function onChat(s, msg) {
  if (s.welcome === null) return;
  s.chatLines.push({ from: msg.from, name: msg.name, text: msg.text });
  if (s.chatLines.length > CHAT_LOG_MAX) s.chatLines.shift();
  s.feed.chat(msg, s.spectator ? 0 : s.welcome.playerId, performance.now());
  if (s.spectator) s.replay.noteChat(msg);
}

function onClose(s, code, reason, closedBy) {
  if (s.inputTimer !== null) clearTimeout(s.inputTimer);
  s.inputTimer = null;
  if (session !== s || s.left) {
    s.state = 'closed';
    if (s.closeCode === null) {
      s.closeCode = code;
      s.closeReason = reason;
    }
    return;
  }
  if (s.state === 'reconnecting') {
    // A resume attempt ended without a welcome. The server refused the seat (4007), or something as final: give
    // up; the link is still down (or the server said "not now" in a way that holds the seat): try again.
    if (shouldResume(closedBy, code, reason)) scheduleAttempt(s);
    else endSession(s, code, reason);
    return;
  }
  if (s.state === 'joined' && s.resumeToken !== null && shouldResume(closedBy, code, reason)) {
    beginReconnect(s, code, reason, performance.now());
    return;
  }
  endSession(s, code, reason);
}

/**
 * The link dropped with the seat held: freeze the game under the "reconnecting" overlay (no input, no prediction,
 * no chat) and retry with backoff until the grace, counted from `droppedAt` (performance.now() time), is over.
 */
function beginReconnect(s, code, reason, droppedAt) {
  s.state = 'reconnecting';
  s.drop = { code, reason };
  s.plan = new ReconnectPlan(droppedAt, s.graceMs);
  s.shownGraceSeconds = -1;
  resumeRecord.markDropped(Date.now() - (performance.now() - droppedAt));
  input.releaseAll();
  chatBox.close();
  screens.hideStatus();
  showReconnecting(s, performance.now());
  scheduleAttempt(s);
  startLoop();
}

/** The next resume attempt after the plan's delay; the disconnected panel once the grace leaves no time. */
function scheduleAttempt(s) {
  const delay = s.plan.next(performance.now());
  if (delay === null) {
    const seconds = Math.round(s.graceMs / 1000);
    const lost = s.drop.reason || 'the connection was lost';
    endSession(s, s.drop.code, `${lost}; the seat could not be resumed within ${seconds} s`);
    return;
  }
  s.retryTimer = setTimeout(() => {
    s.retryTimer = null;
    if (session !== s || s.state !== 'reconnecting') return;
    s.reconnectAttempts++;
    showReconnecting(s, performance.now());
    // The newest tick held: the server answers with a delta against it when it still has it, else a full snapshot.
    connect(s, resume(s.resumeToken, s.store.newestTick));
  }, delay);
}

/** The overlay's text: the attempt count and the grace left. */
function showReconnecting(s, now) {
  const left = Math.max(0, Math.ceil((s.plan.deadline - now) / 1000));
  s.shownGraceSeconds = left;
  const attempt = s.reconnectAttempts > 0 ? ` (attempt ${s.plan.attempts})` : '';
  screens.showReconnecting(`Reconnecting…${attempt}`, `Connection lost. Your seat is held for ${left} more s.`);
}

/** The session is over (not on purpose): the disconnected panel, its seat given up. */
function endSession(s, code, reason) {
  s.state = 'closed';
  s.closeCode = code;
  s.closeReason = reason;
  if (s.retryTimer !== null) clearTimeout(s.retryTimer);
  s.retryTimer = null;
  s.plan = null;
  // Whatever ended the session, the seat is gone (or another connection has it): no reload may try it.
  resumeRecord.clear();
  chatBox.close();
  input.releaseAll();
  screens.showClosed(code, reason, () => startSession(s.name, rejoin(s)), backToLobby);
  startLoop(); // keep drawing (the last world, dimmed by the panel) rather than leaving a frozen canvas
}

/** Leaves `s` on purpose: a normal close (code 1000, the server frees the seat at once), no resume from here on. */
function leaveSession(s, why) {
  s.left = true;
  if (s.retryTimer !== null) clearTimeout(s.retryTimer);
  s.retryTimer = null;
  if (s.inputTimer !== null) clearTimeout(s.inputTimer);
  s.inputTimer = null;
  if (s.conn !== null && s.conn.state !== 'closed') s.conn.close(1000, why);
  s.state = 'closed';
  s.closeCode = 1000;
  s.closeReason = why;
  resumeRecord.clear();
  chatBox.close();
  screens.hideReconnecting();
}

/** The join that reconnects a session: the room it was welcomed to, in the same role; else its own join again. */
function rejoin(s) {
  if (s.welcome === null) return s.join;
  return s.spectator ? spectate(s.welcome.room.id) : joinRoom(s.welcome.room.id);
}

/** Leaves the session (if still connected) and shows the lobby. */
function backToLobby() {
  const s = session;
  if (s !== null && !s.left) leaveSession(s, 'left for the lobby');
  session = null;
  input.releaseAll();
  screens.hideClosed();
  screens.hideStatus();
  screens.hideReconnecting();
  setUrlParams({ room: null, spectate: null, name: null });
  showLobby({ name: rememberedName() || (s !== null && s.name !== SPECTATOR_NAME ? s.name : '') });
}

// The page closing (or going into the back-forward cache) while connected is leaving on purpose: a normal close
// frees the seat at once rather than leaving a ghost standing in the room for the grace. While reconnecting there
// is no connection to close: the seat stays held, and its record lets a reload within the grace take it back.
window.addEventListener('pagehide', () => {
  const s = session;
  if (s === null || s.left || s.state === 'reconnecting' || s.state === 'closed') return;
  leaveSession(s, 'the page was closed');
  s.leftWithPage = true;
});
// Back from the back-forward cache: the connection closed on the way out, so say so and offer to reconnect.
window.addEventListener('pageshow', (ev) => {
  const s = session;
  if (!ev.persisted || s === null || !s.leftWithPage) return;
  s.left = false;
  s.leftWithPage = false;
  endSession(s, 1000, 'the page was put away, which closed the connection');
});

// ---------------------------------------------------------------------------------------------------------------
// Chat

/**
 * Sends one chat line typed in the page (or given by a test through `window.skirmish.sendChat`). Returns 'sent',
 * 'slow down' (the page's bucket is empty: shown in the feed instead of sending), 'not connected', or what is
 * wrong with the line (checkChat's reason: 'chat line is empty', 'chat line over 120 characters', 'chat line holds
 * a control character'; shown in the feed, except for an empty line, which simply is not sent).
 */
function sendChat(raw) {
  const s = session;
  if (s === null || s.state !== 'joined') return 'not connected';
  const now = performance.now();
  const check = checkChat(raw);
  if (!check.ok) {
    if ([...trimLikeRust(raw)].length > 0) notice(s, `Not sent: ${check.reason}.`, now);
    return check.reason;
  }
  if (!s.chatBucket.take(now)) {
    notice(s, SLOW_DOWN, now);
    return 'slow down';
  }
  if (!s.conn.send(chatMessage(check.text))) return 'not connected';
  s.chatSent++;
  return 'sent';
}

function notice(s, text, now) {
  s.lastNotice = text;
  s.feed.notice(text, now);
}

/** The chat box's Enter: close it when the line went (or was empty), keep it open to fix it or wait otherwise. */
function submitChat(text) {
  const result = sendChat(text);
  return result === 'sent' || result === 'chat line is empty' || result === 'not connected';
}

input.on('openChat', () => {
  const s = session;
  if (s === null || s.state !== 'joined' || chatBox.isOpen) return;
  // Keys held when the box opens would otherwise stay held (their release goes to the box) and keep moving.
  input.releaseAll();
  chatBox.open();
});

// ---------------------------------------------------------------------------------------------------------------

function showLobby(options) {
  input.active = false;
  input.releaseAll();
  lobby.show(options);
}

/** Puts the room in the address bar (`?room=ID`, `&spectate=1`), so a reload or a shared link comes back to it. */
function showRoomInUrl(room, spectating) {
  setUrlParams({ room: room.id, spectate: spectating ? '1' : null });
}

function setUrlParams(changes) {
  try {
    const url = new URL(location.href);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) url.searchParams.delete(key);
      else url.searchParams.set(key, value);
    }
    history.replaceState(null, '', url);
  } catch {
    // a page without history (file://, sandboxed): the address only helps reloads
  }
}

function spectatingSession() {
  const s = session;
  return s !== null && s.state === 'joined' && s.camera !== null ? s : null;
}

/** Follows the next (step 1) or previous (-1) player in id order, among those drawn and those the roster lists. */
function cycleFollow(step) {
  const s = spectatingSession();
  if (s !== null) s.camera.cycle(scene.players, scene.playerCount, step);
}

/** Sends a view when the camera's target changed and the rate limit allows. */
function sendView(s, now) {
  const c = s.camera;
  const follow = c.viewFollow;
  if (!s.views.due(now, follow, c.x, c.y)) return;
  if (s.conn.send(viewMessage(follow, c.x, c.y))) s.viewsSent++;
}

/**
 * A spectator's frame: the camera follows (or flies), views go out, the scoreboard lists the whole room, the bar
 * says whom it shows (a player followed from out of view by its roster name).
 */
function updateSpectator(s, now) {
  const dt = s.lastFrame === 0 ? 0 : Math.min((now - s.lastFrame) / 1000, 0.1);
  s.lastFrame = now;
  const c = s.camera;
  c.update(scene.players, scene.playerCount, dt, input.moveX, input.moveY);
  if (s.state === 'joined') sendView(s, now);
  hud.highlightId = c.viewFollow;
  hud.board = s.board.fill(s.roster, scene.players, scene.playerCount);
  // The bar's text is rebuilt only when whom it names changes.
  const shown = c.free ? -1 : c.follow;
  const known = s.board.playerCount > 0;
  if (shown === s.barFollow && c.followName === s.barName && known === s.barKnown && hud.spectatorTitle !== null) {
    return;
  }
  s.barFollow = shown;
  s.barName = c.followName;
  s.barKnown = known;
  if (c.free) hud.spectatorTitle = 'Free camera';
  else if (c.follow !== 0) hud.spectatorTitle = `Spectating ${c.followName}`;
  else hud.spectatorTitle = known ? 'Nobody in view: Q/E follow a player' : 'No player to follow yet';
  hud.spectatorHint = c.free ? FREE_HINT : FOLLOW_HINT;
}

/** Sends the next input when the pacer says (a steady timer at the tick rate, phased against the server's ticks). */
function scheduleInput(s) {
  const now = performance.now();
  const due = s.pacer.next(now, s.clock, s.conn.pingMs, s.delay ? s.delay.p50LatenessMs : 0);
  s.inputTimer = setTimeout(() => {
    s.inputTimer = null;
    if (s.state !== 'joined') return;
    sendInput(s);
    scheduleInput(s);
  }, Math.max(0, due - now));
}

/**
 * One input per server tick: movement, aim towards the mouse, fire, the acknowledgement and the view delay (protocol
 * v5); predicted at once.
 */
function sendInput(s) {
  if (s.state !== 'joined') return;
  if (input.hasMouse && renderer.ownOnScreen) {
    const dx = input.mouseX - renderer.ownScreenX;
    const dy = input.mouseY - renderer.ownScreenY;
    if (dx * dx + dy * dy >= 4) s.aim = radiansToAim(Math.atan2(dy, dx));
  }
  s.seq = (s.seq + 1) >>> 0;
  const buttons = input.fire ? BUTTON_FIRE : 0;
  const mx = toMoveAxis(input.moveX);
  const my = toMoveAxis(input.moveY);
  const now = performance.now();
  const ack = s.store.ackTick;
  // How far behind `ack` the remote players are drawn at this moment: the server tests this input's shots
  // against them where they were that long ago (lag compensation).
  const viewDelay = s.clock.ready ? viewDelayMs(ack, renderTickAt(s, now), s.welcome.tickRate) : 0;
  if (s.conn.send(inputMessage(s.seq, mx, my, s.aim, buttons, ack, viewDelay))) {
    s.inputsSent++;
    s.viewDelayMs = viewDelay;
    s.acks.sent(s.seq, now);
  }
  s.predictor.input(s.seq, mx, my, now);
}

// ---------------------------------------------------------------------------------------------------------------
// Frame loop

function startLoop() {
  if (looping) return;
  looping = true;
  requestAnimationFrame(frame);
}

function frame(now) {
  const s = session;
  if (s === null) {
    // Back in the lobby: clear the world away and stop until the next session.
    looping = false;
    scene.playerCount = 0;
    scene.bulletCount = 0;
    scene.own = null;
    idleHud.sortMode = hud.sortMode;
    renderer.draw(scene, null, idleHud, null);
    replayBar.show(null, now);
    muteButton.show(false);
    return;
  }
  muteButton.show(true);
  requestAnimationFrame(frame);
  fps.frame(now);
  fillScene(s, now);
  if (s.camera !== null) updateSpectator(s, now);
  s.effects.observe(scene, now);
  s.feed.prune(now);
  hud.now = now;
  if (input.hasMouse) {
    crosshair.x = input.mouseX;
    crosshair.y = input.mouseY;
    hud.crosshair = crosshair;
  }
  if (s.state === 'reconnecting' && s.plan !== null) {
    const left = Math.max(0, Math.ceil((s.plan.deadline - now) / 1000));
    if (left !== s.shownGraceSeconds) showReconnecting(s, now);
  }
  if (s.meter.update(now, s.store.received, bytesIn(s), bytesOut(s)) || s.overlayDirty) {
    s.overlayDirty = false;
    if (hud.overlayVisible) fillOverlay(s);
  }
  updateBanner(s);
  replayBar.show(s.state === 'joined' && s.spectator ? s.replay : null, now);
  renderer.draw(scene, s.world, hud, s.effects, s.camera);
}

/** Bytes received and sent over the session's connections (a resume opens a new one). */
function bytesIn(s) {
  return s.bytesInBefore + (s.conn === null ? 0 : s.conn.bytesIn);
}

function bytesOut(s) {
  return s.bytesOutBefore + (s.conn === null ? 0 : s.conn.bytesOut);
}

/** Remote players and bullets at the interpolated time, the own player where prediction puts it. */
function fillScene(s, now) {
  if (s.interp === null) {
    scene.playerCount = 0;
    scene.bulletCount = 0;
    scene.own = null;
    scene.tick = 0;
    return;
  }
  // A spectator has no player of its own: everyone is interpolated.
  const ownId = s.spectator ? 0 : s.welcome.playerId;
  s.interp.fill(scene, s.store, ownId, renderTickAt(s, now));
  // Only a live link's frames count: while reconnecting nothing can arrive, and that is counted as the drop.
  if (s.state === 'joined') s.underruns.frame(now, s.interp.mode);
  if (s.spectator) return;
  const state = s.store.current;
  const own = state === null ? undefined : state.entities.get(s.welcome.playerId);
  if (own === undefined || own.kind !== KIND_PLAYER) return;
  const alive = own.fields[P_HP] > 0;
  if (!s.predictor.renderPosition(now, ownDrawn)) {
    ownDrawn.x = toWorld(own.fields[P_X]);
    ownDrawn.y = toWorld(own.fields[P_Y]);
  }
  placeOwn(scene, own, ownDrawn.x, ownDrawn.y, alive ? localAim(s) : snapshotAimToRadians(own.fields[P_AIM]));
}

/** The (fractional) server tick remote players are drawn at, at `now`: the server clock less the delay. */
function renderTickAt(s, now) {
  return s.clock.tickAt(now) - interpDelayOf(s, now);
}

/** The interpolation delay (ticks) to draw `s` with at `now`: `?interp=N`, else the session's adaptive one. */
function interpDelayOf(s, now) {
  return fixedInterpDelay !== null ? fixedInterpDelay : s.delay.update(now);
}

/** The delay drawn with last (ticks), for the overlay and the debug view; null without a world. */
function currentInterpDelay() {
  if (fixedInterpDelay !== null) return fixedInterpDelay;
  return session === null || session.delay === null ? null : session.delay.ticks;
}

/** The own aim in radians as the mouse points now (inputs carry it once per tick; drawing follows every frame). */
function localAim(s) {
  if (input.hasMouse && renderer.ownOnScreen) {
    const dx = input.mouseX - renderer.ownScreenX;
    const dy = input.mouseY - renderer.ownScreenY;
    if (dx * dx + dy * dy >= 4) return Math.atan2(dy, dx);
  }
  return aimToRadians(s.aim);
}

function fillOverlay(s) {
  const st = s.store;
  const c = s.conn;
  const p = s.predictor;
  const lines = hud.overlayLines;
  lines.length = 0;
  lines.push(`ping      ${c === null || c.pingMs === null ? '-' : `${Math.round(c.pingMs)} ms`}`);
  lines.push(`ticks     ${s.meter.snapshotsPerSec.toFixed(1)}/s of ${s.world ? s.world.tickRate : 0}/s`);
  lines.push(`in        ${formatRate(s.meter.bytesInPerSec)}`);
  lines.push(`out       ${formatRate(s.meter.bytesOutPerSec)}`);
  lines.push(`dropped   ${s.framesDropped} ticks skipped`);
  if (p !== null) {
    lines.push(`predict   ${p.corrections} corrections, ${p.pendingInputs} pending`);
    lines.push(`          last ${p.lastError.toFixed(2)}  max ${p.maxError.toFixed(2)} units`);
  }
  if (s.interp !== null) {
    const how = fixedInterpDelay !== null ? 'fixed' : 'adaptive';
    const u = s.underruns;
    lines.push(`interp    ${currentInterpDelay().toFixed(2)} ticks (${how}), ${u.underruns} underruns`);
    const jitter = s.arrivals.jitterMs.toFixed(1);
    lines.push(`          ${Math.round(u.extrapolatingMs)} ms extrapolated, jitter ${jitter} ms`);
  }
  if (!s.spectator && s.viewDelayMs !== null) {
    const rewind = s.world.rules.maxRewindTicks;
    const cap = rewind === undefined ? '?' : rewind === 0 ? 'off' : `max ${rewind} ticks`;
    lines.push(`lagcomp   view delay ${s.viewDelayMs} ms, rewind ${cap}`);
  }
  if (!s.spectator && s.acks.latencies.count > 0) {
    const l = s.acks.latencies;
    lines.push(`ack       p50 ${Math.round(l.percentile(50))}  p99 ${Math.round(l.percentile(99))} ms`);
  }
  lines.push(`render    ${fps.fps.toFixed(0)} fps`);
  lines.push(`full ${st.fullApplied}  delta ${st.deltasApplied}  stale ${st.stale}`);
  lines.push(`desyncs   ${st.desyncs}${st.desynced ? ' (resyncing)' : ''}`);
  lines.push(`tick ${st.newestTick}  ack ${st.ackTick}`);
  if (s.redirects > 0) lines.push(`server    ${c === null ? '-' : c.url} (${s.redirects} redirects)`);
  if (s.resumeToken !== null || s.resumes > 0) {
    const base = s.resumeBaseline === null ? '-' : s.resumeBaseline === 0 ? 'full' : `delta ${s.resumeBaseline}`;
    lines.push(`resume    ${s.resumes} resumed, ${s.reconnectAttempts} attempts, last ${base}`);
  }
  if (s.spectator) {
    lines.push(`spectator: ${s.acksSent} acks, ${s.viewsSent} views sent`);
    lines.push(`roster    ${s.roster.players.length} players, tick ${s.roster.tick}`);
  } else {
    lines.push(`seq ${s.seq}  applied ${st.current ? st.current.lastInputSeq : 0}`);
  }
  lines.push(`players ${scene.playerCount}  bullets ${scene.bulletCount}`);
}

/** Banner states (session.bannerKind); the text is rebuilt only when the state or the countdown changes. */
const BANNER_NONE = 0;
const BANNER_DESYNC = 1;
const BANNER_WAIT = 2;
const BANNER_DEAD = 3;

/** The centre message and the respawn countdown. */
function updateBanner(s) {
  let kind = BANNER_NONE;
  const own = scene.own;
  if (s.state === 'joined') {
    if (s.store.desynced) kind = BANNER_DESYNC;
    else if (s.store.current === null) kind = BANNER_WAIT;
    else if (own !== null && own.hp <= 0) kind = BANNER_DEAD;
  }
  const respawn = kind === BANNER_DEAD ? own.respawn : 0;
  const total = s.world !== null ? s.world.rules.respawnTicks : 0;
  hud.bannerProgress = kind === BANNER_DEAD && total > 0 ? 1 - respawn / total : -1;
  if (kind === s.bannerKind && respawn === s.bannerRespawn) return;
  s.bannerKind = kind;
  s.bannerRespawn = respawn;
  if (kind === BANNER_NONE) hud.banner = null;
  else if (kind === BANNER_DESYNC) hud.banner = 'Resynchronising…';
  else if (kind === BANNER_WAIT) hud.banner = 'Waiting for the first snapshot…';
  else if (respawn > 0) hud.banner = `Respawning in ${(respawn * s.dt).toFixed(1)}s`;
  else hud.banner = 'Respawning…';
}

// ---------------------------------------------------------------------------------------------------------------
// Debug view for browser tests (debug.js)

const debug = createDebugView({
  get session() {
    return session;
  },
  chatBox,
  sendChat,
  replayBar,
  sounds,
  bytesIn,
  bytesOut,
  renderer,
  hud,
  lobby,
  scene,
  fps,
  get interpDelay() {
    return currentInterpDelay();
  },
  interpDelayFixed: fixedInterpDelay !== null,
});
Object.defineProperty(window, 'skirmish', { value: debug, writable: false, enumerable: true, configurable: false });

// ---------------------------------------------------------------------------------------------------------------
// Start

function rememberName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // storage may be unavailable (private mode, file://); the name is only a convenience
  }
}

function rememberedName() {
  try {
    return localStorage.getItem(NAME_KEY) || '';
  } catch {
    return ''; // see rememberName()
  }
}

/**
 * `?name=NAME` plays at once (quick play, or the room `?room=ID` names); `?room=ID` alone joins with the remembered
 * name (a spectator needs none), or asks for one in the lobby; otherwise the lobby.
 */
function start() {
  const urlName = new URLSearchParams(location.search).get('name');
  const direct = joinFromQuery(location.search);
  // A seat this tab held when the page went (reloaded during a drop): take it back, unless the address asks to
  // spectate or names another room.
  if (direct === null || !direct.spectating) {
    const room = direct !== null && direct.join.kind === 'room' ? direct.join.id : null;
    const record = resumeRecord.usable(serverUrl, room, Date.now());
    if (record !== null) {
      startResumedSession(record);
      return;
    }
  }
  const valid = urlName === null ? null : normalizeName(urlName);
  const error = urlName !== null && valid === null ? `"${urlName}" is not a valid name.` : '';
  if (valid !== null) {
    rememberName(valid);
    startSession(valid, direct !== null ? direct.join : quickPlay());
    return;
  }
  const remembered = normalizeName(rememberedName());
  if (direct !== null && error === '') {
    const name = remembered ?? (direct.spectating ? SPECTATOR_NAME : null);
    if (name !== null) {
      startSession(name, direct.join);
      return;
    }
  }
  showLobby({ name: urlName ?? rememberedName(), error, pending: direct !== null ? direct.join : null });
}

start();

// main.js: wires the client together. The lobby (lobby.js), or the URL (`?name=NAME` quick-plays, `?room=ID` joins
// that room, `&spectate=1` watches it), starts a session: a Connection (net.js) whose hello carries the join,
// feeding a SnapshotStore (state.js), a KillFeed (feed.js) and hit/death Effects (effects.js). Once welcomed as a
// player, one input per server tick goes out carrying the newest applied tick as its acknowledgement, and the
// Predictor (predict.js) moves the own player by the same tick at once; each applied snapshot reconciles it. Welcomed
// as a spectator, the page sends no input at all: a bare ack per applied tick, and a view (rate-limited) whenever
// its SpectatorCamera (spectate.js) changes whom it follows or moves freely; the roster the server sends it once a
// second (spectate.js's Roster) gives it the whole room, in view or not, for its scoreboard and whom to follow. A
// requestAnimationFrame loop, independent of the tick rate, fills a Scene (scene.js) with the remote players and
// bullets the Interpolator (interp.js) places `?interp=N` ticks (default 2) in the past plus the predicted own
// player, and hands it to the Renderer. The disconnected panel offers Reconnect (the same room) and Back to lobby.
// `window.skirmish` exposes a read-only view for tests (debug.js).

import { createDebugView } from './debug.js';
import { Effects } from './effects.js';
import { InputManager } from './input.js';
import { KillFeed } from './feed.js';
import { SORT_NAME, SORT_SCORE, scoreboardHit } from './hud.js';
import { InputPacer, Interpolator, ServerClock, interpDelayFrom } from './interp.js';
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
  inputMessage,
  joinRoom,
  normalizeName,
  quickPlay,
  radiansToAim,
  spectate,
  toMoveAxis,
  toWorld,
  viewMessage,
} from './protocol.js';
import { Renderer } from './render.js';
import { Scene, placeOwn } from './scene.js';
import { Screens } from './screens.js';
import { Roster, RosterBoard, SpectatorCamera, ViewThrottle } from './spectate.js';
import { APPLIED, SnapshotStore } from './state.js';
import { FpsMeter, RateMeter, formatRate } from './stats.js';

const NAME_KEY = 'skirmish.name';

const canvas = document.getElementById('game');
const renderer = new Renderer(canvas);
const input = new InputManager(window, canvas);
const screens = new Screens(document);
const scene = new Scene();
const serverUrl = defaultServerUrl(location);
const lobby = new Lobby(document, { base: serverBase(serverUrl), onPlay: play });
/** Interpolation delay in ticks (`?interp=N`, default 2). */
const interpDelay = interpDelayFrom(location.search);
const fps = new FpsMeter();
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
};
/** What is drawn behind the lobby: nothing but the background. */
const idleHud = { ...hud, feed: new KillFeed(), overlayVisible: false };

/** The spectator bar's key hints. */
const FOLLOW_HINT = 'Q/E or [ ] switch player · F free camera · Tab sort · Esc lobby';
const FREE_HINT = 'W A S D move · F follow · Q/E or [ ] switch player · Tab sort · Esc lobby';

/** The current session (one connection); replaced on reconnect. */
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
input.on('leave', () => {
  if (session !== null) backToLobby();
});
input.uiClick = (x, y) => {
  const mode = scoreboardHit(x, y);
  if (mode === null) return false;
  hud.sortMode = mode;
  return true;
};

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

function startSession(name, join) {
  if (session !== null && session.state !== 'closed') {
    session.left = true;
    session.conn.close(1000, 'left the room');
  }
  const s = {
    name,
    /** The hello's join (protocol.js join builders). */
    join,
    /** From welcome on: whether this session watches rather than plays. */
    spectator: false,
    /** Set when the page left on purpose (back to the lobby): its close is not shown. */
    left: false,
    /** 'connecting' | 'joined' | 'closed' */
    state: 'connecting',
    conn: null,
    store: new SnapshotStore(),
    feed: new KillFeed(),
    effects: new Effects(),
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
    seq: 0,
    aim: 0,
    inputTimer: null,
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
  };
  session = s;
  hud.feed = s.feed;
  hud.highlightId = 0;
  hud.spectatorTitle = null;
  hud.spectatorHint = null;
  hud.board = null;
  lobby.hide();
  input.active = true;
  screens.hideClosed();
  screens.showStatus(`Connecting to ${serverUrl}…`);
  s.conn = new Connection(serverUrl, name, join, {
    onWelcome: (msg) => onWelcome(s, msg),
    onSnapshot: (msg) => onSnapshot(s, msg),
    onRoster: (msg) => onRoster(s, msg),
    onClose: (code, reason) => onClose(s, code, reason),
  });
}

function onWelcome(s, msg) {
  s.welcome = msg;
  s.spectator = msg.room.role === ROLE_SPECTATOR;
  s.world = { map: msg.map, rules: msg.rules, tickRate: msg.tickRate };
  s.dt = 1 / msg.tickRate;
  const tickMs = 1000 / msg.tickRate;
  if (!s.spectator) {
    s.predictor = new Predictor(new MovementModel(msg.map, msg.rules, msg.tickRate), { tickMs });
    s.pacer = new InputPacer(tickMs);
  }
  s.clock = new ServerClock(tickMs);
  s.interp = new Interpolator(s.dt, {
    bulletLifetimeTicks: msg.rules.bulletLifetimeTicks,
    width: msg.map.width,
    height: msg.map.height,
    radius: msg.rules.playerRadius,
    // Moving more than twice the top speed (plus a margin) between two states is a respawn, not a move.
    teleportDistance: msg.rules.maxSpeed * s.dt * 2 + 16,
  });
  s.state = 'joined';
  screens.hideStatus();
  showRoomInUrl(msg.room, s.spectator);
  if (s.spectator) {
    s.camera = new SpectatorCamera(msg.map.width, msg.map.height, s.roster);
    s.views = new ViewThrottle();
    // The first view goes out at once: the server centres on the map until told otherwise.
    sendView(s, performance.now());
  } else {
    scheduleInput(s);
  }
  startLoop();
}

function onSnapshot(s, msg) {
  if (s.welcome === null) return; // the server sends welcome first; nothing to attach a snapshot to before it
  const now = performance.now();
  if (msg.tick > s.lastSnapshotTick) {
    if (s.lastSnapshotTick !== 0) s.framesDropped += msg.tick - s.lastSnapshotTick - 1;
    s.lastSnapshotTick = msg.tick;
  }
  const prev = s.store.current;
  const result = s.store.apply(msg);
  if (result.status === APPLIED) {
    s.clock.observe(msg.tick, now);
    if (s.predictor !== null) {
      const own = s.store.current.entities.get(s.welcome.playerId);
      const fields = own !== undefined && own.kind === KIND_PLAYER ? own.fields : null;
      s.predictor.reconcile(fields, msg.lastInputSeq, now);
    }
    // A spectator has no inputs to carry its acknowledgement: a bare ack per newly applied tick.
    if (s.spectator && s.store.ackTick !== 0 && s.store.ackTick !== s.lastAck) {
      s.lastAck = s.store.ackTick;
      if (s.conn.send(ackMessage(s.lastAck))) s.acksSent++;
    }
  }
  const events = result.events;
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

/** A spectator's roster (the server sends players none): the whole room, for the scoreboard and for following. */
function onRoster(s, msg) {
  if (s.welcome === null || !s.spectator) return;
  s.roster.apply(msg);
}

function onClose(s, code, reason) {
  s.state = 'closed';
  if (s.inputTimer !== null) clearTimeout(s.inputTimer);
  s.inputTimer = null;
  if (session !== s || s.left) return;
  input.releaseAll();
  screens.showClosed(code, reason, () => startSession(s.name, rejoin(s)), backToLobby);
  startLoop(); // keep drawing (the last world, dimmed by the panel) rather than leaving a frozen canvas
}

/** The join that reconnects a session: the room it was welcomed to, in the same role; else its own join again. */
function rejoin(s) {
  if (s.welcome === null) return s.join;
  return s.spectator ? spectate(s.welcome.room.id) : joinRoom(s.welcome.room.id);
}

/** Leaves the session (if still connected) and shows the lobby. */
function backToLobby() {
  const s = session;
  if (s !== null) {
    s.left = true;
    if (s.state !== 'closed') s.conn.close(1000, 'left for the lobby');
  }
  session = null;
  input.releaseAll();
  screens.hideClosed();
  screens.hideStatus();
  setUrlParams({ room: null, spectate: null, name: null });
  showLobby({ name: rememberedName() || (s !== null && s.name !== SPECTATOR_NAME ? s.name : '') });
}

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
  const due = s.pacer.next(now, s.clock, s.conn.pingMs);
  s.inputTimer = setTimeout(() => {
    s.inputTimer = null;
    if (s.state !== 'joined') return;
    sendInput(s);
    scheduleInput(s);
  }, Math.max(0, due - now));
}

/** One input per server tick: movement, aim towards the mouse, fire, and the acknowledgement; predicted at once. */
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
  if (s.conn.send(inputMessage(s.seq, mx, my, s.aim, buttons, s.store.ackTick))) s.inputsSent++;
  s.predictor.input(s.seq, mx, my, performance.now());
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
    return;
  }
  requestAnimationFrame(frame);
  fps.frame(now);
  fillScene(s, now);
  if (s.camera !== null) updateSpectator(s, now);
  s.effects.observe(scene, now);
  s.feed.prune(now);
  hud.now = now;
  if (s.meter.update(now, s.store.received, s.conn.bytesIn, s.conn.bytesOut) || s.overlayDirty) {
    s.overlayDirty = false;
    if (hud.overlayVisible) fillOverlay(s);
  }
  updateBanner(s);
  renderer.draw(scene, s.world, hud, s.effects, s.camera);
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
  s.interp.fill(scene, s.store, ownId, s.clock.tickAt(now) - interpDelay);
  if (s.spectator) return;
  const state = s.store.current;
  const own = state === null ? undefined : state.entities.get(s.welcome.playerId);
  if (own === undefined || own.kind !== KIND_PLAYER) return;
  const alive = own.fields[P_HP] > 0;
  if (!s.predictor.renderPosition(now, ownDrawn)) {
    ownDrawn.x = toWorld(own.fields[P_X]);
    ownDrawn.y = toWorld(own.fields[P_Y]);
  }
  placeOwn(scene, own, ownDrawn.x, ownDrawn.y, alive ? localAim(s) : aimToRadians(own.fields[P_AIM]));
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
  lines.push(`ping      ${c.pingMs === null ? '-' : `${Math.round(c.pingMs)} ms`}`);
  lines.push(`ticks     ${s.meter.snapshotsPerSec.toFixed(1)}/s of ${s.world ? s.world.tickRate : 0}/s`);
  lines.push(`in        ${formatRate(s.meter.bytesInPerSec)}`);
  lines.push(`out       ${formatRate(s.meter.bytesOutPerSec)}`);
  lines.push(`dropped   ${s.framesDropped} ticks skipped`);
  if (p !== null) {
    lines.push(`predict   ${p.corrections} corrections, ${p.pendingInputs} pending`);
    lines.push(`          last ${p.lastError.toFixed(2)}  max ${p.maxError.toFixed(2)} units`);
  }
  if (s.interp !== null) lines.push(`interp    ${interpDelay} ticks, ${s.interp.lateFrames} late frames`);
  lines.push(`render    ${fps.fps.toFixed(0)} fps`);
  lines.push(`full ${st.fullApplied}  delta ${st.deltasApplied}  stale ${st.stale}`);
  lines.push(`desyncs   ${st.desyncs}${st.desynced ? ' (resyncing)' : ''}`);
  lines.push(`tick ${st.newestTick}  ack ${st.ackTick}`);
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
  renderer,
  hud,
  lobby,
  scene,
  fps,
  interpDelay,
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

// main.js: wires the client together. The join screen (or `?name=NAME`) starts a session: a Connection (net.js)
// feeding a SnapshotStore (state.js) and a KillFeed (feed.js). Once welcomed, one input per server tick goes out
// carrying the newest applied tick as its acknowledgement, and a requestAnimationFrame loop builds a Scene
// (scene.js) from the newest state and hands it to the Renderer. `window.skirmish` exposes a read-only view for tests.

import { InputManager } from './input.js';
import { KillFeed } from './feed.js';
import { Connection, defaultServerUrl } from './net.js';
import {
  BUTTON_FIRE,
  KIND_BULLET,
  KIND_PLAYER,
  P_X,
  P_Y,
  inputMessage,
  normalizeName,
  radiansToAim,
  toMoveAxis,
  toWorld,
} from './protocol.js';
import { Renderer } from './render.js';
import { Scene, buildScene } from './scene.js';
import { Screens } from './screens.js';
import { SnapshotStore } from './state.js';
import { RateMeter, formatRate } from './stats.js';

const NAME_KEY = 'skirmish.name';

const canvas = document.getElementById('game');
const renderer = new Renderer(canvas);
const input = new InputManager(window, canvas);
const screens = new Screens(document);
const scene = new Scene();
const serverUrl = defaultServerUrl(location);

/** What the HUD draws besides the scene; one object, updated in place. */
const hud = { feed: null, overlayLines: [], overlayVisible: false, banner: null, now: 0 };

/** The current session (one connection); replaced on reconnect. */
let session = null;
let looping = false;

input.on('toggleOverlay', () => {
  hud.overlayVisible = !hud.overlayVisible;
  if (session) session.overlayDirty = true;
});

// ---------------------------------------------------------------------------------------------------------------
// Sessions

function startSession(name) {
  const s = {
    name,
    /** 'connecting' | 'joined' | 'closed' */
    state: 'connecting',
    conn: null,
    store: new SnapshotStore(),
    feed: new KillFeed(),
    meter: new RateMeter(),
    welcome: null,
    /** `{map, rules, tickRate}` for the renderer, from welcome. */
    world: null,
    dt: 0,
    seq: 0,
    aim: 0,
    inputTimer: null,
    overlayDirty: true,
    bannerKey: '',
  };
  session = s;
  hud.feed = s.feed;
  screens.hideClosed();
  screens.showStatus(`Connecting to ${serverUrl}…`);
  s.conn = new Connection(serverUrl, name, {
    onWelcome: (msg) => onWelcome(s, msg),
    onSnapshot: (msg) => onSnapshot(s, msg),
    onClose: (code, reason) => onClose(s, code, reason),
  });
}

function onWelcome(s, msg) {
  s.welcome = msg;
  s.world = { map: msg.map, rules: msg.rules, tickRate: msg.tickRate };
  s.dt = 1 / msg.tickRate;
  s.state = 'joined';
  screens.hideStatus();
  s.inputTimer = setInterval(() => sendInput(s), 1000 / msg.tickRate);
  startLoop();
}

function onSnapshot(s, msg) {
  if (s.welcome === null) return; // the server sends welcome first; nothing to attach a snapshot to before it
  const prev = s.store.current;
  const result = s.store.apply(msg);
  if (result.events.length > 0) {
    s.feed.handle(result.events, s.store.current, prev, s.welcome.playerId, performance.now());
  }
}

function onClose(s, code, reason) {
  s.state = 'closed';
  if (s.inputTimer !== null) clearInterval(s.inputTimer);
  s.inputTimer = null;
  if (session !== s) return;
  input.releaseAll();
  screens.showClosed(code, reason, () => startSession(s.name));
  startLoop(); // keep drawing (the last world, dimmed by the panel) rather than leaving a frozen canvas
}

/** One input per server tick: movement, aim towards the mouse, fire, and the acknowledgement. */
function sendInput(s) {
  if (s.state !== 'joined') return;
  if (input.hasMouse && renderer.ownOnScreen) {
    const dx = input.mouseX - renderer.ownScreenX;
    const dy = input.mouseY - renderer.ownScreenY;
    if (dx * dx + dy * dy >= 4) s.aim = radiansToAim(Math.atan2(dy, dx));
  }
  s.seq = (s.seq + 1) >>> 0;
  const buttons = input.fire ? BUTTON_FIRE : 0;
  s.conn.send(inputMessage(s.seq, toMoveAxis(input.moveX), toMoveAxis(input.moveY), s.aim, buttons, s.store.ackTick));
}

// ---------------------------------------------------------------------------------------------------------------
// Frame loop

function startLoop() {
  if (looping) return;
  looping = true;
  requestAnimationFrame(frame);
}

function frame(now) {
  requestAnimationFrame(frame);
  const s = session;
  const ownId = s.welcome !== null ? s.welcome.playerId : 0;
  buildScene(scene, s.store.current, ownId, s.dt);
  s.feed.prune(now);
  hud.now = now;
  if (s.meter.update(now, s.store.received, s.conn.bytesIn, s.conn.bytesOut) || s.overlayDirty) {
    s.overlayDirty = false;
    if (hud.overlayVisible) fillOverlay(s);
  }
  updateBanner(s);
  renderer.draw(scene, s.world, hud);
}

function fillOverlay(s) {
  const st = s.store;
  const c = s.conn;
  const lines = hud.overlayLines;
  lines.length = 0;
  lines.push(`ping      ${c.pingMs === null ? '-' : `${Math.round(c.pingMs)} ms`}`);
  lines.push(`snapshots ${s.meter.snapshotsPerSec.toFixed(1)}/s`);
  lines.push(`in        ${formatRate(s.meter.bytesInPerSec)}`);
  lines.push(`out       ${formatRate(s.meter.bytesOutPerSec)}`);
  lines.push(`full ${st.fullApplied}  delta ${st.deltasApplied}  stale ${st.stale}`);
  lines.push(`desyncs   ${st.desyncs}${st.desynced ? ' (resyncing)' : ''}`);
  lines.push(`tick ${st.newestTick}  ack ${st.ackTick}`);
  lines.push(`seq ${s.seq}  applied ${st.current ? st.current.lastInputSeq : 0}`);
  lines.push(`players ${scene.playerCount}  bullets ${scene.bulletCount}`);
}

/** The centre message; rebuilt only when what it says changes. */
function updateBanner(s) {
  let key = '';
  if (s.state === 'joined') {
    if (s.store.desynced) key = 'desync';
    else if (s.store.current === null) key = 'wait';
    else if (scene.own !== null && scene.own.hp <= 0) key = `dead${scene.own.respawn}`;
  }
  if (key === s.bannerKey) return;
  s.bannerKey = key;
  if (key === '') hud.banner = null;
  else if (key === 'desync') hud.banner = 'Resynchronising…';
  else if (key === 'wait') hud.banner = 'Waiting for the first snapshot…';
  else if (scene.own.respawn > 0) hud.banner = `Respawning in ${(scene.own.respawn * s.dt).toFixed(1)}s`;
  else hud.banner = 'Respawning…';
}

// ---------------------------------------------------------------------------------------------------------------
// Debug view for browser tests

function ownEntity() {
  if (session === null || session.welcome === null || session.store.current === null) return null;
  return session.store.current.entities.get(session.welcome.playerId) ?? null;
}

function countKind(kind) {
  if (session === null || session.store.current === null) return 0;
  let n = 0;
  for (const e of session.store.current.entities.values()) if (e.kind === kind) n++;
  return n;
}

const debug = Object.freeze({
  get state() {
    return session === null ? 'connecting' : session.state;
  },
  get playerId() {
    return session !== null && session.welcome !== null ? session.welcome.playerId : null;
  },
  get tick() {
    return session === null ? 0 : session.store.newestTick;
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
    return session === null ? 0 : session.store.received;
  },
  get fullSnapshots() {
    return session === null ? 0 : session.store.fullApplied;
  },
  get deltas() {
    return session === null ? 0 : session.store.deltasApplied;
  },
  get desyncs() {
    return session === null ? 0 : session.store.desyncs;
  },
  get ackTick() {
    return session === null ? 0 : session.store.ackTick;
  },
  get inputSeq() {
    return session === null ? 0 : session.seq;
  },
  get lastInputSeq() {
    return session === null || session.store.current === null ? 0 : session.store.current.lastInputSeq;
  },
  get bytesIn() {
    return session === null ? 0 : session.conn.bytesIn;
  },
  get bytesOut() {
    return session === null ? 0 : session.conn.bytesOut;
  },
  get closeCode() {
    return session === null || session.state !== 'closed' ? null : session.conn.closeCode;
  },
  get closeReason() {
    return session === null || session.state !== 'closed' ? null : session.conn.closeReason;
  },
  get pingMs() {
    return session === null ? null : session.conn.pingMs;
  },
});
Object.defineProperty(window, 'skirmish', { value: debug, writable: false, enumerable: true, configurable: false });

// ---------------------------------------------------------------------------------------------------------------
// Start

function join(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // storage may be unavailable (private mode, file://); the name is only a convenience
  }
  screens.hideJoin();
  startSession(name);
}

const urlName = new URLSearchParams(location.search).get('name');
if (urlName !== null && normalizeName(urlName) !== null) {
  join(normalizeName(urlName));
} else {
  let remembered = '';
  try {
    remembered = localStorage.getItem(NAME_KEY) || '';
  } catch {
    // see join()
  }
  const error = urlName !== null ? `"${urlName}" is not a valid name.` : '';
  screens.showJoin(urlName ?? remembered, error, join);
}

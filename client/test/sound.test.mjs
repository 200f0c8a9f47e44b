// The synthesized sounds and the mute switch (sound.js) against a fake AudioContext and a fake localStorage; what
// snapshots make them play (feedback.js into Sounds.playFeedback); the M key (input.js); the debug view's fields
// for them (debug.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDebugView } from '../debug.js';
import { OwnFeedback } from '../feedback.js';
import { InputManager } from '../input.js';
import { MUTE_KEY, MuteButton, SOUND_KINDS, Sounds, defaultAudioContext, loadMuted, saveMuted } from '../sound.js';
import { APPLIED, SnapshotStore } from '../state.js';
import { changedFor, snapshot } from './delta.mjs';

class FakeParam {
  constructor(value = 1) {
    this.value = value;
    this.events = [];
  }
  setValueAtTime(v, t) {
    this.events.push(['set', v, t]);
  }
  exponentialRampToValueAtTime(v, t) {
    this.events.push(['exp', v, t]);
  }
}

/** Records the graph: every node made, what each connects to, which sources start and stop when. */
class FakeAudioContext {
  static made = 0;
  constructor({ state = 'running', failOn = null } = {}) {
    FakeAudioContext.made++;
    this.state = state;
    this.failOn = failOn;
    this.currentTime = 12.5;
    this.sampleRate = 8000;
    this.destination = { kind: 'destination' };
    this.nodes = [];
    this.resumes = 0;
    this.buffers = 0;
  }
  node(kind) {
    if (kind === this.failOn) throw new Error(`no ${kind}`);
    const n = { kind, outputs: [], connect: (to) => (n.outputs.push(to), to) };
    this.nodes.push(n);
    return n;
  }
  source(kind) {
    const n = this.node(kind);
    n.startAt = null;
    n.stopAt = null;
    n.start = (t) => (n.startAt = t);
    n.stop = (t) => (n.stopAt = t);
    return n;
  }
  createGain() {
    const n = this.node('gain');
    n.gain = new FakeParam();
    return n;
  }
  createOscillator() {
    const n = this.source('oscillator');
    n.type = 'sine';
    n.frequency = new FakeParam(440);
    return n;
  }
  createBufferSource() {
    const n = this.source('buffer');
    n.buffer = null;
    return n;
  }
  createBiquadFilter() {
    const n = this.node('filter');
    n.type = 'lowpass';
    n.frequency = new FakeParam(350);
    return n;
  }
  createBuffer(channels, length, sampleRate) {
    this.buffers++;
    const data = new Float32Array(length);
    return { numberOfChannels: channels, length, sampleRate, getChannelData: () => data };
  }
  resume() {
    this.resumes++;
    this.state = 'running';
    return Promise.resolve();
  }
}

/** A Storage stand-in (a Map behind getItem/setItem); `broken` throws on every call, as a blocked storage does. */
class FakeStorage {
  constructor(entries = {}, broken = false) {
    this.map = new Map(Object.entries(entries));
    this.broken = broken;
  }
  getItem(k) {
    if (this.broken) throw new Error('SecurityError');
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    if (this.broken) throw new Error('QuotaExceededError');
    this.map.set(k, String(v));
  }
}

function soundsWith(options = {}, storage = null) {
  let ctx = null;
  const sounds = new Sounds({ createContext: () => (ctx = new FakeAudioContext(options)), storage });
  return { sounds, context: () => ctx };
}

/** Where a node's outputs lead, to the destination: the kinds on the way. */
function pathToDestination(node) {
  const kinds = [];
  let n = node;
  while (n.outputs && n.outputs.length > 0) {
    n = n.outputs[0];
    kinds.push(n.kind);
  }
  return kinds;
}

test('nothing plays, nor is counted, before a gesture creates the AudioContext; it is created once', () => {
  const { sounds, context } = soundsWith();
  const before = FakeAudioContext.made;
  assert.equal(sounds.play('shot'), false);
  assert.deepEqual(sounds.counts, { shot: 0, hit: 0, kill: 0, hurt: 0 });
  assert.equal(sounds.state, null);
  assert.equal(FakeAudioContext.made, before, 'no context without a gesture');
  assert.equal(sounds.unlock(), true);
  assert.equal(sounds.unlock(), true);
  assert.equal(FakeAudioContext.made, before + 1, 'one context, however many gestures');
  assert.equal(sounds.state, 'running');
  // The master gain leads to the destination.
  assert.deepEqual(pathToDestination(context().nodes[0]), ['destination']);
  assert.equal(sounds.play('shot'), true);
  assert.equal(sounds.counts.shot, 1);
});

test('a context the browser suspended is resumed by the next gesture', () => {
  const { sounds, context } = soundsWith({ state: 'suspended' });
  sounds.unlock();
  assert.equal(context().resumes, 1);
  assert.equal(sounds.state, 'running');
  sounds.unlock();
  assert.equal(context().resumes, 1, 'running: nothing to resume');
});

test('every sound is synthesized: sources through gain envelopes into the master, started now, stopped soon', () => {
  for (const kind of SOUND_KINDS) {
    const { sounds, context } = soundsWith();
    sounds.unlock();
    const ctx = context();
    const made = ctx.nodes.length;
    assert.equal(sounds.play(kind), true, kind);
    const nodes = ctx.nodes.slice(made);
    const sources = nodes.filter((n) => n.kind === 'oscillator' || n.kind === 'buffer');
    assert.ok(sources.length >= 1, `${kind}: a source`);
    for (const src of sources) {
      assert.ok(src.startAt >= ctx.currentTime, `${kind}: starts now or just after`);
      assert.ok(src.stopAt > src.startAt && src.stopAt - src.startAt < 0.5, `${kind}: short`);
      const path = pathToDestination(src);
      assert.equal(path.at(-1), 'destination', `${kind}: reaches the speakers`);
      assert.equal(path.at(-2), 'gain', `${kind}: through the master`);
      assert.ok(path.length >= 3, `${kind}: an envelope of its own before the master`);
    }
    // Each envelope rises from silence and falls back to it.
    for (const g of nodes.filter((n) => n.kind === 'gain')) {
      const ev = g.gain.events;
      assert.equal(ev[0][0], 'set');
      assert.ok(ev[0][1] < 0.001 && ev.at(-1)[1] < 0.001, `${kind}: silent at both ends`);
      assert.ok(Math.max(...ev.map((e) => e[1])) > 0.01, `${kind}: audible in between`);
    }
    assert.equal(sounds.counts[kind], 1);
    assert.equal(SOUND_KINDS.reduce((n, k) => n + sounds.counts[k], 0), 1, 'only that one counted');
  }
  // The noise is made once per context and reused.
  const { sounds, context } = soundsWith();
  sounds.unlock();
  sounds.play('shot');
  sounds.play('hurt');
  sounds.play('shot');
  assert.equal(context().buffers, 1);
  assert.equal(sounds.play('boom'), false, 'an unknown sound');
});

test('muted: nothing is played or counted; unmuted again, sounds play', () => {
  const { sounds, context } = soundsWith();
  sounds.unlock();
  sounds.setMuted(true);
  const made = context().nodes.length;
  for (const kind of SOUND_KINDS) assert.equal(sounds.play(kind), false);
  assert.equal(context().nodes.length, made, 'no audio graph built while muted');
  assert.deepEqual(sounds.counts, { shot: 0, hit: 0, kill: 0, hurt: 0 });
  assert.equal(sounds.toggleMuted(), false);
  assert.equal(sounds.play('kill'), true);
  assert.equal(sounds.counts.kill, 1);
});

test('without WebAudio, or with a broken one, nothing throws and nothing is counted', () => {
  const saved = { a: globalThis.AudioContext, w: globalThis.webkitAudioContext };
  try {
    delete globalThis.AudioContext;
    delete globalThis.webkitAudioContext;
    assert.equal(defaultAudioContext(), null);
    const none = new Sounds();
    assert.equal(none.unlock(), false);
    assert.equal(none.play('shot'), false);
    assert.equal(none.state, null);
    // The older prefixed constructor is taken when it is the only one.
    globalThis.webkitAudioContext = FakeAudioContext;
    assert.ok(defaultAudioContext() instanceof FakeAudioContext);
    globalThis.AudioContext = class extends FakeAudioContext {};
    assert.ok(defaultAudioContext() instanceof globalThis.AudioContext);
  } finally {
    globalThis.AudioContext = saved.a;
    globalThis.webkitAudioContext = saved.w;
    if (saved.a === undefined) delete globalThis.AudioContext;
    if (saved.w === undefined) delete globalThis.webkitAudioContext;
  }
  // A constructor that throws (too many contexts, a policy): silently no sound, and no second try.
  let tries = 0;
  const refused = new Sounds({
    createContext: () => {
      tries++;
      throw new Error('NotAllowedError');
    },
  });
  assert.equal(refused.unlock(), false);
  assert.equal(refused.unlock(), false);
  assert.equal(tries, 1);
  assert.equal(refused.play('hit'), false);
  // A graph that throws while a sound is built: not started, not counted, and the next one is tried anyway.
  const { sounds } = soundsWith({ failOn: 'filter' });
  sounds.unlock();
  assert.equal(sounds.play('shot'), false, 'the shot filters noise');
  assert.equal(sounds.errors, 1);
  assert.equal(sounds.play('hit'), true, 'the hit needs no filter');
  assert.deepEqual(sounds.counts, { shot: 0, hit: 1, kill: 0, hurt: 0 });
});

test('the mute state is remembered in localStorage skirmish.muted ("1"/"0"); unmuted by default', () => {
  assert.equal(MUTE_KEY, 'skirmish.muted');
  const storage = new FakeStorage();
  assert.equal(new Sounds({ storage }).muted, false, 'nothing stored: unmuted');
  const s = new Sounds({ storage });
  s.toggleMuted();
  assert.equal(storage.getItem(MUTE_KEY), '1');
  assert.equal(new Sounds({ storage }).muted, true, 'a new page remembers');
  s.toggleMuted();
  assert.equal(storage.getItem(MUTE_KEY), '0');
  assert.equal(new Sounds({ storage }).muted, false);
  assert.equal(new Sounds({ storage: new FakeStorage({ [MUTE_KEY]: 'yes' }) }).muted, false, 'only "1" mutes');
  // No storage, or one that throws (blocked): unmuted, and the switch still works for the page.
  assert.equal(loadMuted(null), false);
  const broken = new FakeStorage({}, true);
  assert.equal(loadMuted(broken), false);
  saveMuted(broken, true);
  const b = new Sounds({ storage: broken });
  assert.equal(b.toggleMuted(), true);
  assert.equal(b.muted, true);
  saveMuted(null, true);
});

/** A document holding one `#mute` button that records its listeners, attributes and focus. */
function fakeDocument(withButton = true) {
  const button = {
    hidden: true,
    textContent: '',
    title: '',
    attrs: {},
    listeners: {},
    blurred: 0,
    addEventListener(type, fn) {
      this.listeners[type] = fn;
    },
    setAttribute(k, v) {
      this.attrs[k] = v;
    },
    blur() {
      this.blurred++;
    },
  };
  return { button, getElementById: (id) => (id === 'mute' && withButton ? button : null) };
}

test('the mute button shows the state, flips it on a click (remembered), and leaves the focus to the game', () => {
  const storage = new FakeStorage({ [MUTE_KEY]: '1' });
  const sounds = new Sounds({ storage });
  const doc = fakeDocument();
  const changes = [];
  const mb = new MuteButton(doc, sounds, (m) => changes.push(m));
  const b = doc.button;
  assert.equal(b.attrs['aria-pressed'], 'true', 'remembered as muted');
  assert.match(b.textContent, /off/);
  b.listeners.click();
  assert.equal(sounds.muted, false);
  assert.equal(storage.getItem(MUTE_KEY), '0');
  assert.equal(b.attrs['aria-pressed'], 'false');
  assert.match(b.textContent, /on/);
  assert.equal(b.blurred, 1, 'the keys go to the game again');
  assert.deepEqual(changes, [false]);
  let prevented = false;
  b.listeners.mousedown({ preventDefault: () => (prevented = true) });
  assert.equal(prevented, true, 'a mouse press does not focus it');
  // The M key flips the state elsewhere; sync shows it.
  sounds.toggleMuted();
  mb.sync();
  assert.equal(b.attrs['aria-pressed'], 'true');
  mb.show(true);
  assert.equal(b.hidden, false);
  mb.show(false);
  assert.equal(b.hidden, true);
  // A page without the button works the same, silently.
  const bare = new MuteButton(fakeDocument(false), sounds);
  bare.sync();
  bare.show(true);
});

/** A window-like event target and a canvas-like surface for InputManager. */
function fakeTargets() {
  const listeners = {};
  const target = { addEventListener: (type, fn) => (listeners[type] = fn) };
  const surface = { addEventListener() {}, getBoundingClientRect: () => ({ left: 0, top: 0 }) };
  return { listeners, target, surface };
}

function key(code, target = { tagName: 'CANVAS' }, extra = {}) {
  return { code, target, repeat: false, ctrlKey: false, metaKey: false, altKey: false, preventDefault() {}, ...extra };
}

test('M toggles the mute, but not while typing in the chat box, not as a repeat, not in the lobby', () => {
  const { listeners, target, surface } = fakeTargets();
  const input = new InputManager(target, surface);
  let toggles = 0;
  input.on('toggleMute', () => toggles++);
  listeners.keydown(key('KeyM'));
  assert.equal(toggles, 1);
  listeners.keyup(key('KeyM'));
  listeners.keydown(key('KeyM', { tagName: 'INPUT' }));
  assert.equal(toggles, 1, 'an m typed into the chat box is text');
  listeners.keydown(key('KeyM', { tagName: 'CANVAS' }, { repeat: true }));
  assert.equal(toggles, 1, 'held down: once');
  listeners.keydown(key('KeyM', { tagName: 'CANVAS' }, { ctrlKey: true }));
  assert.equal(toggles, 1, 'with a modifier it is the browser\'s');
  input.active = false;
  listeners.keydown(key('KeyM'));
  assert.equal(toggles, 1, 'the lobby (its name field has the key)');
  input.active = true;
  listeners.keydown(key('KeyM'));
  assert.equal(toggles, 2);
});

const ME = 7;
const player = (id, hp) => [id, 0, 1600, 1600, 0, 0, 0, hp, 0, 0, 0, `p${id}`];

test('sound triggers: own shot, hit, kill and hurt from snapshots, each once, only once audio is unlocked', () => {
  const { sounds } = soundsWith();
  const store = new SnapshotStore(30);
  const fb = new OwnFeedback();
  const feed = (tick, baseline, { created = [], changes = {}, events = [], hits = [] } = {}) => {
    const changed = baseline === 0 ? new Uint8Array(0) : changedFor(store.stateAt(baseline), tick, 30, changes);
    const snap = snapshot({ tick, baseline, created, changed, events, hits });
    const prev = store.current;
    const r = store.apply(snap);
    sounds.playFeedback(fb.observe(ME, snap, r.status === APPLIED, r.hits, r.events, prev, store.current));
    return { ...sounds.counts };
  };
  feed(10, 0, { created: [player(ME, 100), player(8, 100), player(9, 20)] });
  const bullet = (id, owner, spawn) => [id, 1, 0, 0, 100, 0, owner, spawn];
  // Before any gesture: the own shot happens, but no sound starts and none is counted.
  assert.deepEqual(feed(11, 10, { created: [bullet(65536, ME, 11)] }), { shot: 0, hit: 0, kill: 0, hurt: 0 });
  sounds.unlock();
  assert.deepEqual(feed(12, 11, { created: [bullet(65537, ME, 12)] }), { shot: 1, hit: 0, kill: 0, hurt: 0 });
  assert.equal(feed(13, 12, { created: [bullet(65538, 8, 13)] }).shot, 1, "another player's bullet");
  assert.deepEqual(feed(14, 13, { hits: [[14, 8]] }), { shot: 1, hit: 1, kill: 0, hurt: 0 });
  assert.deepEqual(feed(15, 13, { hits: [[14, 8]] }), { shot: 1, hit: 1, kill: 0, hurt: 0 }, 'a repeat');
  // A hit that kills sounds as a kill, not also as a hit.
  const kill = feed(16, 15, { hits: [[16, 9]], events: [[16, 1, ME, 9]] });
  assert.deepEqual(kill, { shot: 1, hit: 1, kill: 1, hurt: 0 });
  assert.deepEqual(feed(17, 16, { changes: { [ME]: { hp: 80 } } }), { shot: 1, hit: 1, kill: 1, hurt: 1 });
  assert.deepEqual(feed(18, 17, { changes: { 8: { hp: 80 } } }), { shot: 1, hit: 1, kill: 1, hurt: 1 });
  // Muted: the same events start nothing and count nothing.
  sounds.setMuted(true);
  const muted = feed(19, 18, { changes: { [ME]: { hp: 60 } }, hits: [[19, 8]] });
  assert.deepEqual(muted, { shot: 1, hit: 1, kill: 1, hurt: 1 });
  assert.equal(fb.hits, 3, 'the hits are still counted (and marked) while muted');
});

test('the debug view shows hits, the newest hit, the view delay, sounds, the mute state and the audio state', () => {
  const sounds = new Sounds({ createContext: () => new FakeAudioContext() });
  const app = { session: null, sounds };
  const view = createDebugView(app);
  assert.deepEqual(
    [view.hits, view.lastHit, view.viewDelayMs, view.maxRewindTicks, view.hitMarkers],
    [0, null, null, null, 0],
  );
  assert.deepEqual([view.sounds, view.muted, view.audio], [{ shot: 0, hit: 0, kill: 0, hurt: 0 }, false, null]);
  const feedback = new OwnFeedback();
  feedback.hits = 3;
  feedback.lastHit = { tick: 40, victim: 9, kill: true };
  app.session = {
    feedback,
    effects: { hitMarkers: 2 },
    viewDelayMs: 67,
    welcome: { rules: { maxRewindTicks: 6 } },
  };
  sounds.unlock();
  sounds.play('hit');
  sounds.setMuted(true);
  assert.equal(view.hits, 3);
  assert.deepEqual(view.lastHit, { tick: 40, victim: 9, kill: true });
  assert.notEqual(view.lastHit, feedback.lastHit, 'a copy: the view changes nothing');
  assert.equal(view.hitMarkers, 2);
  assert.equal(view.viewDelayMs, 67);
  assert.equal(view.maxRewindTicks, 6);
  assert.deepEqual(view.sounds, { shot: 0, hit: 1, kill: 0, hurt: 0 });
  assert.equal(view.muted, true);
  assert.equal(view.audio, 'running');
  app.session.welcome = { rules: {} };
  assert.equal(view.maxRewindTicks, null, 'a 10-rule welcome');
});

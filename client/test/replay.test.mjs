// Replay room controls (replay.js, input.js): telling a replay room from its greeting, what the room's lines say,
// the commands the bar sends, the bar under the chat bucket, and Space for a spectator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatBucket } from '../chat.js';
import { InputManager } from '../input.js';
import {
  REPLAY_SLOW_DOWN,
  REPLAY_SPEEDS,
  ReplayBar,
  ReplayState,
  isReplayGreeting,
  isReplayLine,
  parseReplayLine,
  speedCommand,
  statusText,
  toggleCommand,
} from '../replay.js';

// The lines exactly as src/recording/playback.rs and src/room/mod.rs write them.
const GREETING =
  'replay of room r1a2b3 ("arena"): tick 12 of 240, playing, speed 1; commands: /pause, /play, /speed N, /status';
const room = (text) => ({ from: 0, name: 'replay', text });

test('a greeting is a status line from ("replay", 0); a player or a spectator named otherwise is not the room', () => {
  assert.equal(isReplayGreeting(room(GREETING)), true);
  assert.equal(isReplayGreeting({ from: 3, name: 'replay', text: GREETING }), false, 'a player named replay');
  assert.equal(isReplayGreeting({ from: 0, name: 'watcher', text: GREETING }), false);
  assert.equal(isReplayGreeting(room('hello')), false, 'not a status');
  assert.equal(isReplayLine(room('anything')), true);
  assert.equal(statusText(GREETING), 'replay of room r1a2b3 ("arena"): tick 12 of 240, playing, speed 1');
  assert.equal(statusText('watcher set the replay\'s speed to 2'), "watcher set the replay's speed to 2");
});

test('what the room\'s lines say about the playback', () => {
  assert.deepEqual(parseReplayLine(GREETING), { tick: 12, last: 240, paused: false, ended: false, speed: 1 });
  assert.deepEqual(parseReplayLine('replay of room x ("a: b"): tick 240 of 240, ended, speed 0.25'), {
    tick: 240,
    last: 240,
    paused: false,
    ended: true,
    speed: 0.25,
  });
  assert.deepEqual(parseReplayLine('replay of room x ("a"): tick 5 of 9, paused, speed 4').paused, true);
  assert.deepEqual(parseReplayLine('ann paused the replay at tick 77'), { tick: 77, paused: true });
  assert.deepEqual(parseReplayLine('ann resumed the replay at tick 77 (speed 0.5)'), {
    tick: 77,
    paused: false,
    speed: 0.5,
  });
  assert.deepEqual(parseReplayLine("ann set the replay's speed to 2"), { speed: 2 });
  assert.deepEqual(parseReplayLine('the replay ended at tick 240'), { tick: 240, ended: true });
  assert.deepEqual(parseReplayLine('speed: a number from 0.25 to 8, e.g. /speed 2'), {});
  assert.deepEqual(parseReplayLine('replay commands: /pause, /play, /speed N (0.25 to 8), /status'), {});
});

test('the commands: the toggle follows the state the room told, speeds as the server parses them', () => {
  assert.equal(toggleCommand(false), '/pause');
  assert.equal(toggleCommand(true), '/play');
  assert.deepEqual(REPLAY_SPEEDS.map(speedCommand), ['/speed 0.5', '/speed 1', '/speed 2', '/speed 4']);
});

test('the state: active only when the first chat line after a welcome to a "replay ..." room is the greeting', () => {
  const r = new ReplayState();
  assert.equal(r.noteChat(room(GREETING)), false, 'no welcome yet');
  r.reset('replay arena');
  assert.equal(r.noteChat(room(GREETING)), true);
  assert.deepEqual(r.view(), {
    active: true,
    paused: false,
    ended: false,
    speed: 1,
    status: 'replay of room r1a2b3 ("arena"): tick 12 of 240, playing, speed 1',
  });
  assert.equal(r.toggle, '/pause');
  assert.equal(r.noteChat({ from: 0, name: 'watcher', text: '/pause' }), false, 'the echo of a command');
  r.noteChat(room('watcher paused the replay at tick 30'));
  assert.equal(r.paused, true);
  assert.equal(r.toggle, '/play');
  assert.equal(r.status, 'watcher paused the replay at tick 30');
  r.noteChat(room("watcher set the replay's speed to 2"));
  assert.equal(r.speed, 2);
  assert.equal(r.paused, true, 'a speed change does not resume');
  r.noteChat(room('watcher resumed the replay at tick 30 (speed 2)'));
  assert.equal(r.paused, false);
  r.noteChat(room('speed: a number from 0.25 to 8, e.g. /speed 2'));
  assert.deepEqual([r.paused, r.speed, r.status], [false, 2, 'speed: a number from 0.25 to 8, e.g. /speed 2']);
  r.noteChat(room('the replay ended at tick 240'));
  assert.equal(r.ended, true);
  r.noteChat(room('watcher resumed the replay at tick 240 (speed 2)'));
  assert.equal(r.ended, true, 'over stays over');

  // A new welcome forgets it all.
  r.reset('replay arena');
  assert.equal(r.active, false);
  assert.equal(r.speed, 1);

  // Not the first line: an ordinary room where someone named "replay" spectates and pastes a status.
  const other = new ReplayState();
  other.reset('replay arena');
  other.noteChat({ from: 4, name: 'ann', text: 'hi' });
  assert.equal(other.noteChat(room(GREETING)), false);
  assert.equal(other.active, false);
  // Nor in a room not named as the lobby names replays, nor for a player (reset(null)).
  const named = new ReplayState();
  named.reset('arena');
  assert.equal(named.noteChat(room(GREETING)), false);
  const player = new ReplayState();
  player.reset(null);
  assert.equal(player.noteChat(room(GREETING)), false);
});

class FakeElement {
  constructor(tagName, dataset = {}) {
    this.tagName = tagName;
    this.hidden = true;
    this.textContent = '';
    this.dataset = dataset;
    this.listeners = new Map();
    const classes = new Set();
    this.classList = {
      contains: (c) => classes.has(c),
      toggle: (c, on) => (on ? classes.add(c) : classes.delete(c)),
    };
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }
  click() {
    for (const fn of this.listeners.get('click') ?? []) fn({ target: this });
  }
}

function fakeBarDoc() {
  const speeds = REPLAY_SPEEDS.map((s) => new FakeElement('BUTTON', { speed: String(s) }));
  const root = new FakeElement('SECTION');
  root.querySelectorAll = (selector) => (selector === 'button[data-speed]' ? speeds : []);
  const els = {
    replay: root,
    'replay-toggle': new FakeElement('BUTTON'),
    'replay-status': new FakeElement('P'),
    'replay-notice': new FakeElement('SPAN'),
  };
  return { doc: { getElementById: (id) => els[id] ?? null }, els, speeds };
}

/** The page's sendChat as far as the bar can tell: the bucket, then the line goes. */
function pacedSend(bucket, clock, sent) {
  return (line) => {
    if (!bucket.take(clock.now)) return 'slow down';
    sent.push(line);
    return 'sent';
  };
}

test('the bar: hidden until a replay is active, shows its state, presses go through the chat bucket', () => {
  const { doc, els, speeds } = fakeBarDoc();
  const clock = { now: 0 };
  const sent = [];
  const bar = new ReplayBar(doc, pacedSend(new ChatBucket(3, 1250), clock, sent), () => clock.now);
  const r = new ReplayState();
  r.reset('replay arena');
  bar.show(r, 0);
  assert.equal(els.replay.hidden, true, 'no greeting yet');
  els['replay-toggle'].click();
  assert.deepEqual(sent, [], 'nothing to toggle before the room is known');

  r.noteChat(room(GREETING));
  bar.show(r, 0);
  assert.equal(els.replay.hidden, false);
  assert.equal(els['replay-toggle'].textContent, 'Pause');
  assert.equal(els['replay-status'].textContent, 'replay of room r1a2b3 ("arena"): tick 12 of 240, playing, speed 1');
  assert.deepEqual(
    speeds.map((b) => b.classList.contains('on')),
    [false, true, false, false],
  );

  els['replay-toggle'].click();
  speeds[2].click();
  assert.deepEqual(sent, ['/pause', '/speed 2']);
  // The state waits for the room's answer: the toggle still says Pause and would send /pause again.
  r.noteChat(room('me paused the replay at tick 20'));
  r.noteChat(room("me set the replay's speed to 2"));
  bar.show(r, 10);
  assert.equal(els['replay-toggle'].textContent, 'Play');
  assert.deepEqual(
    speeds.map((b) => b.classList.contains('on')),
    [false, false, true, false],
  );
  assert.equal(bar.toggle(), undefined);
  assert.deepEqual(sent, ['/pause', '/speed 2', '/play'], 'the third line of the burst');

  // The fourth at once: refused by the bucket, "slow down" on the bar, nothing sent.
  speeds[3].click();
  assert.deepEqual(sent, ['/pause', '/speed 2', '/play']);
  assert.equal(bar.lastPress, 'slow down');
  assert.equal(els['replay-notice'].hidden, false);
  assert.equal(els['replay-notice'].textContent, REPLAY_SLOW_DOWN);
  // It goes after a while, and a token later the press goes.
  clock.now = 1300;
  bar.show(r, 1300);
  assert.equal(els['replay-notice'].hidden, false);
  bar.show(r, 2100);
  assert.equal(els['replay-notice'].hidden, true, 'the notice shows for a while only');
  speeds[3].click();
  assert.deepEqual(sent.at(-1), '/speed 4');
  assert.equal(bar.lastPress, 'sent');

  bar.show(null, 2000);
  assert.equal(els.replay.hidden, true, 'no replay: no bar');
});

class FakeTarget {
  constructor() {
    this.listeners = new Map();
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }
  dispatch(type, ev) {
    const e = { preventDefault() {}, ...ev };
    for (const fn of this.listeners.get(type) ?? []) fn(e);
  }
}

test('Space: fires as before and tells firePressed once per press; not while typing or on a focused button', () => {
  const win = new FakeTarget();
  const input = new InputManager(win, new FakeTarget());
  let presses = 0;
  input.on('firePressed', () => presses++);
  const key = (type, extra = {}) => win.dispatch(type, { code: 'Space', target: { tagName: 'CANVAS' }, ...extra });
  key('keydown');
  assert.equal(input.fire, true);
  key('keydown', { repeat: true });
  key('keyup');
  assert.equal(input.fire, false);
  assert.equal(presses, 1, 'a held key repeats no press');
  key('keydown', { target: { tagName: 'INPUT' } });
  // A focused button gets Space as its own click (the bar's buttons): no second toggle from here.
  key('keydown', { target: { tagName: 'BUTTON' } });
  assert.equal(presses, 1);
  // The spectator keys are untouched: Q/E/[/]/F are not Space.
  const emitted = [];
  for (const a of ['followNext', 'followPrev', 'toggleFreeCamera']) input.on(a, () => emitted.push(a));
  for (const code of ['KeyE', 'KeyQ', 'BracketRight', 'BracketLeft', 'KeyF']) {
    win.dispatch('keydown', { code, target: { tagName: 'CANVAS' } });
    win.dispatch('keyup', { code, target: { tagName: 'CANVAS' } });
  }
  assert.deepEqual(emitted, ['followNext', 'followPrev', 'followNext', 'followPrev', 'toggleFreeCamera']);
  assert.equal(presses, 1);
});

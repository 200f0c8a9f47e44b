// Chat (chat.js, feed.js, input.js): the page's pace, the feed's lines, the chat box, and game keys while typing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAT_BURST, CHAT_JITTER_MS, CHAT_PER_SECOND, ChatBox, ChatBucket, SLOW_DOWN } from '../chat.js';
import { FEED_CHAT, FEED_NOTICE, KillFeed } from '../feed.js';
import { InputManager } from '../input.js';

test('the bucket: a burst of 3, then one line per interval, never more than 3 saved up', () => {
  const b = new ChatBucket(3, 1000);
  assert.equal(b.take(0), true);
  assert.equal(b.take(0), true);
  assert.equal(b.take(0), true);
  assert.equal(b.take(0), false, 'the fourth at once is refused');
  assert.equal(b.take(999), false, 'not quite a token yet');
  assert.ok(Math.abs(b.waitMs(999) - 1) < 1e-9);
  assert.equal(b.take(1000), true, 'a refused line cost nothing');
  assert.equal(b.take(1500), false);
  assert.equal(b.take(2000), true);
  // A long pause saves up no more than the burst.
  assert.equal(b.available(60000), 3);
  for (let i = 0; i < 3; i++) assert.equal(b.take(60000), true);
  assert.equal(b.take(60000), false);
  assert.equal(b.waitMs(60000), 1000);
});

test('the page paces itself a little slower than the server, against network jitter', () => {
  assert.equal(CHAT_PER_SECOND, 1);
  assert.equal(CHAT_BURST, 3);
  const b = new ChatBucket();
  assert.equal(b.intervalMs, 1000 + CHAT_JITTER_MS);
  // Lines the page lets go, replayed at the server with up to CHAT_JITTER_MS of extra delay on the earlier ones
  // (the worst case: later lines catch up), still each find a token in a server bucket of 1 per second, burst 3.
  const sent = [];
  for (let now = 0; now < 20000; now += 50) if (b.take(now)) sent.push(now);
  assert.ok(sent.length >= 3 + 15, `${sent.length} lines in 20 s`);
  const server = new ChatBucket(3, 1000);
  sent.forEach((t, i) => {
    // One TCP stream: a line never overtakes the one before it.
    const arrival = i % 2 === 0 ? t + CHAT_JITTER_MS : t;
    assert.equal(server.take(Math.max(arrival, server.time || 0)), true, `line ${i} at ${t}`);
  });
});

test('chat lines in the feed: "name: text", a spectator says so, the own lines marked, longer-lived', () => {
  const feed = new KillFeed(4, 1000);
  feed.chat({ from: 7, name: 'ana', text: 'gg <b>all</b>' }, 7, 0);
  feed.chat({ from: 0, name: 'eve', text: 'nice' }, 7, 10);
  feed.chat({ from: 8, name: 'bob', text: 'ty' }, 7, 20);
  feed.notice(SLOW_DOWN, 30);
  assert.deepEqual(
    feed.entries.map((e) => [e.text, e.kind, e.own]),
    [
      ['ana: gg <b>all</b>', FEED_CHAT, true],
      ['eve (spectator): nice', FEED_CHAT, false],
      ['bob: ty', FEED_CHAT, false],
      [SLOW_DOWN, FEED_NOTICE, true],
    ],
  );
  // A spectator (own id 0) never marks a line as its own, not even another spectator's (from 0).
  const watching = new KillFeed();
  watching.chat({ from: 0, name: 'eve', text: 'hi' }, 0, 0);
  assert.equal(watching.entries[0].own, false);
  // The notice goes with the kill lines' time to live; chat lines stay longer.
  feed.prune(1100);
  assert.deepEqual(
    feed.entries.map((e) => e.text),
    ['ana: gg <b>all</b>', 'eve (spectator): nice', 'bob: ty'],
  );
  feed.prune(60000);
  assert.deepEqual(feed.entries, []);
  // Beyond the most lines, the oldest goes.
  for (let i = 0; i < 6; i++) feed.chat({ from: 1, name: 'a', text: `${i}` }, 0, 0);
  assert.deepEqual(
    feed.entries.map((e) => e.text),
    ['a: 2', 'a: 3', 'a: 4', 'a: 5'],
  );
});

/** A stand-in element: listeners, `hidden`, `value`, focus. */
class FakeElement {
  constructor(doc, tagName) {
    this.doc = doc;
    this.tagName = tagName;
    this.hidden = true;
    this.value = '';
    this.listeners = new Map();
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }
  dispatch(type, ev = {}) {
    const e = { target: this, preventDefault() {}, stopPropagation() {}, ...ev };
    for (const fn of this.listeners.get(type) ?? []) fn(e);
    return e;
  }
  focus() {
    this.doc.activeElement = this;
  }
  blur() {
    if (this.doc.activeElement !== this) return;
    this.doc.activeElement = null;
    this.dispatch('blur');
  }
}

function chatPage() {
  const doc = { activeElement: null };
  const form = new FakeElement(doc, 'FORM');
  const field = new FakeElement(doc, 'INPUT');
  doc.getElementById = (id) => ({ chat: form, 'chat-input': field })[id];
  const sent = [];
  let accept = true;
  const box = new ChatBox(doc, (text) => {
    sent.push(text);
    return accept;
  });
  return { doc, form, field, box, sent, refuse: () => (accept = false) };
}

test('the chat box: open focuses it, Enter sends and closes, Escape and losing the focus cancel', () => {
  const { doc, form, field, box, sent, refuse } = chatPage();
  let closes = 0;
  box.onClose = () => closes++;
  assert.equal(box.isOpen, false);
  form.dispatch('submit');
  assert.deepEqual(sent, [], 'a closed box sends nothing');
  box.open();
  assert.equal(box.isOpen, true);
  assert.equal(doc.activeElement, field);
  field.value = 'gg';
  form.dispatch('submit');
  assert.deepEqual(sent, ['gg']);
  assert.equal(box.isOpen, false);
  assert.equal(field.value, '');
  assert.equal(doc.activeElement, null, 'the keyboard goes back to the game');
  assert.equal(closes, 1);
  // Escape cancels: nothing sent, and the game's Escape (back to the lobby) does not see it.
  box.open();
  field.value = 'never mind';
  let stopped = false;
  field.dispatch('keydown', { key: 'Escape', stopPropagation: () => (stopped = true) });
  assert.equal(box.isOpen, false);
  assert.equal(stopped, true);
  assert.deepEqual(sent, ['gg']);
  // A click elsewhere (the focus lost) cancels too.
  box.open();
  field.blur();
  assert.equal(box.isOpen, false);
  // A line refused by the sender (slow down, too long) keeps the box open with its text.
  refuse();
  box.open();
  field.value = 'again';
  form.dispatch('submit');
  assert.equal(box.isOpen, true);
  assert.equal(field.value, 'again');
  assert.equal(closes, 3);
});

/** An InputManager on stand-in targets; `key(code, pressed, target)` plays a key event on the window. */
function inputs() {
  const win = new FakeElement({}, 'WINDOW');
  const canvas = new FakeElement({}, 'CANVAS');
  const manager = new InputManager(win, canvas);
  let prevented = 0;
  const key = (code, pressed, target = null, extra = {}) =>
    win.dispatch(pressed ? 'keydown' : 'keyup', {
      code,
      target,
      repeat: false,
      preventDefault: () => prevented++,
      ...extra,
    });
  return { manager, key, prevented: () => prevented };
}

test('Enter opens the chat (its default prevented, so it does not also submit the box it focuses)', () => {
  const { manager, key, prevented } = inputs();
  let opened = 0;
  manager.on('openChat', () => opened++);
  key('Enter', true);
  assert.equal(opened, 1);
  assert.equal(prevented(), 1);
  key('NumpadEnter', true);
  assert.equal(opened, 2);
  // Not while typing elsewhere (the lobby's name, a focused button), nor with the lobby shown.
  key('Enter', true, { tagName: 'INPUT' });
  key('Enter', true, { tagName: 'BUTTON' });
  manager.active = false;
  key('Enter', true);
  assert.equal(opened, 2);
});

test('while the chat box has the focus, game keys do not move the player', () => {
  const { manager, key } = inputs();
  const chat = { tagName: 'INPUT' };
  key('KeyW', true, chat);
  key('KeyD', true, chat);
  key('Space', true, chat);
  assert.deepEqual([manager.moveX, manager.moveY, manager.fire], [0, 0, false]);
  // A key held before the box opened is released by main.js (releaseAll), and a release typed in the box counts.
  key('KeyA', true);
  assert.equal(manager.moveX, -1);
  key('KeyA', false, chat);
  assert.equal(manager.moveX, 0);
  let left = 0;
  manager.on('leave', () => left++);
  key('Escape', true, chat);
  assert.equal(left, 0, "the box's Escape is not the game's");
});

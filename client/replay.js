// replay.js: the controls of a replay room (`skirmish --replay FILE`, see src/room/playback.rs): what the page
// knows of the playback (ReplayState, pure) and the bar that controls it (ReplayBar, the only DOM here).
//
// How a page knows it watches a replay: the server's welcome does not say so (its room part has the id, the name
// and the role; the room's `max_players` 0 is only in GET /rooms). What the server does is greet every spectator
// of a replay room, right after the welcome and before anything else can reach it, with a chat line from the name
// "replay" and player id 0 holding the playback's status ("replay of room ID ("NAME"): tick N of M, STATE, speed
// S; commands: ..."). So a session is a replay's when the first chat line after its welcome is that greeting
// (and, as the lobby names such rooms "replay NAME", its room's name starts with "replay"). Any later line from
// ("replay", 0) is the room's answer or news and becomes the bar's status line; those that say what changed
// (paused, resumed, speed, ended) update the state. The server is the authority: a press changes nothing here
// until the room's answer comes.
//
// The bar's presses go out as chat lines (`/pause`, `/play`, `/speed N`) through the page's sendChat, so the chat
// bucket applies to them as to typed lines; a press the bucket refuses shows "slow down" on the bar.

/** The name and id the room's own chat lines carry. */
export const REPLAY_NAME = 'replay';
export const REPLAY_FROM = 0;
/** The speeds the bar offers (the server takes 0.25 to 8). */
export const REPLAY_SPEEDS = [0.5, 1, 2, 4];
/** What the bar shows for a press the chat bucket refused. */
export const REPLAY_SLOW_DOWN = 'slow down';
/** How long the bar shows "slow down" (ms). */
export const REPLAY_NOTICE_MS = 2000;

const STATUS = /^replay of room .*: tick (\d+) of (\d+), (playing|paused|ended), speed ([0-9.]+)/;
const PAUSED = / paused the replay at tick (\d+)$/;
const RESUMED = / resumed the replay at tick (\d+) \(speed ([0-9.]+)\)$/;
const SPEED = / set the replay's speed to ([0-9.]+)$/;
const ENDED = /^the replay ended at tick (\d+)$/;

/** Whether a chat line (`{from, name, text}`) is the room's own. */
export function isReplayLine(msg) {
  return msg.from === REPLAY_FROM && msg.name === REPLAY_NAME;
}

/**
 * What a line of the room says about the playback: `{tick?, last?, paused?, ended?, speed?}` (only what it says;
 * `{}` for a line that changes nothing, such as a usage hint or a divergence).
 */
export function parseReplayLine(text) {
  let m = STATUS.exec(text);
  if (m !== null) {
    return { tick: +m[1], last: +m[2], paused: m[3] === 'paused', ended: m[3] === 'ended', speed: +m[4] };
  }
  if ((m = PAUSED.exec(text)) !== null) return { tick: +m[1], paused: true };
  if ((m = RESUMED.exec(text)) !== null) return { tick: +m[1], paused: false, speed: +m[2] };
  if ((m = SPEED.exec(text)) !== null) return { speed: +m[1] };
  if ((m = ENDED.exec(text)) !== null) return { tick: +m[1], ended: true };
  return {};
}

/** Whether a chat line is a replay room's greeting (see the file's comment). */
export function isReplayGreeting(msg) {
  return isReplayLine(msg) && STATUS.test(msg.text);
}

/** The line the bar shows for a line of the room: the greeting's command list is the bar itself. */
export function statusText(text) {
  const cut = text.indexOf('; commands:');
  return cut >= 0 ? text.slice(0, cut) : text;
}

/** The chat line the Play/Pause toggle sends. */
export function toggleCommand(paused) {
  return paused ? '/play' : '/pause';
}

/** The chat line a speed button sends. */
export function speedCommand(speed) {
  return `/speed ${speed}`;
}

/**
 * What the page knows of a replay room's playback, for one welcome: `active` once the greeting came, then
 * `paused`, `ended`, `speed`, `tick` (the recorded tick a line of the room named last), `last` (the recording's
 * last tick, 0 unknown) and `status` (the newest line of the room, as the bar shows it). Pure.
 */
export class ReplayState {
  constructor() {
    this.reset(null);
  }

  /** A new welcome (to the room named `roomName`, null before any): nothing known until its greeting. */
  reset(roomName) {
    this.roomName = roomName;
    this.active = false;
    /** Whether a chat line came since the welcome (only the first one can be the greeting). */
    this.sawChat = false;
    this.paused = false;
    this.ended = false;
    this.speed = 1;
    this.tick = 0;
    this.last = 0;
    this.status = '';
  }

  /** Takes a chat line received; returns whether it changed anything. */
  noteChat(msg) {
    const first = !this.sawChat;
    this.sawChat = true;
    if (!this.active) {
      const named = typeof this.roomName === 'string' && this.roomName.startsWith(REPLAY_NAME);
      if (!first || !named || !isReplayGreeting(msg)) return false;
      this.active = true;
    } else if (!isReplayLine(msg)) {
      return false;
    }
    const said = parseReplayLine(msg.text);
    if (said.tick !== undefined) this.tick = said.tick;
    if (said.last !== undefined) this.last = said.last;
    if (said.speed !== undefined && Number.isFinite(said.speed)) this.speed = said.speed;
    if (said.paused !== undefined) this.paused = said.paused;
    // Once over, a playback stays over (only a status line says otherwise).
    if (said.ended !== undefined) this.ended = said.ended;
    this.status = statusText(msg.text);
    return true;
  }

  /** The Play/Pause toggle's chat line now. */
  get toggle() {
    return toggleCommand(this.paused);
  }

  /** What `window.skirmish.replay` shows. */
  view() {
    return { active: this.active, paused: this.paused, ended: this.ended, speed: this.speed, status: this.status };
  }
}

/**
 * The bar: `#replay` holding `#replay-toggle`, a `button[data-speed]` per speed, `#replay-status` and
 * `#replay-notice`. `send(line)` sends a chat line and returns sendChat's result ('sent', 'slow down', ...).
 * `clock()` is the time in ms (performance.now() by default). Text goes in through `textContent`, never as markup.
 */
export class ReplayBar {
  constructor(doc, send, clock = () => performance.now()) {
    this.root = doc.getElementById('replay');
    this.toggleButton = doc.getElementById('replay-toggle');
    this.statusLine = doc.getElementById('replay-status');
    this.noticeLine = doc.getElementById('replay-notice');
    this.speedButtons = [...this.root.querySelectorAll('button[data-speed]')];
    this.send = send;
    this.clock = clock;
    /** The state shown; null while no replay is watched. */
    this.state = null;
    /** The newest press's result, and when "slow down" was shown (clock ms; -Infinity: never). */
    this.lastPress = null;
    this.noticeAt = -Infinity;
    this.toggleButton.addEventListener('click', () => this.toggle());
    for (const b of this.speedButtons) b.addEventListener('click', () => this.press(speedCommand(+b.dataset.speed)));
  }

  /** Play/Pause: the line for the state as the room last told it. */
  toggle() {
    if (this.state !== null && this.state.active) this.press(this.state.toggle);
  }

  press(line) {
    const result = this.send(line);
    this.lastPress = result;
    if (result === 'slow down') {
      this.noticeAt = this.clock();
      this.noticeLine.textContent = REPLAY_SLOW_DOWN;
      this.noticeLine.hidden = false;
    }
    return result;
  }

  /** Shows `state` (a ReplayState, or null to hide the bar); cheap to call every frame. */
  show(state, now) {
    this.state = state;
    const visible = state !== null && state.active;
    if (this.root.hidden === visible) this.root.hidden = !visible;
    if (!this.noticeLine.hidden && now - this.noticeAt > REPLAY_NOTICE_MS) this.noticeLine.hidden = true;
    if (!visible) return;
    const label = state.paused || state.ended ? 'Play' : 'Pause';
    if (this.toggleButton.textContent !== label) this.toggleButton.textContent = label;
    if (this.statusLine.textContent !== state.status) this.statusLine.textContent = state.status;
    for (const b of this.speedButtons) {
      const on = +b.dataset.speed === state.speed;
      if (b.classList.contains('on') !== on) b.classList.toggle('on', on);
    }
  }
}

// input.js: keyboard and mouse to an input state. It only records state (and emits named actions such as
// 'toggleOverlay'); turning it into wire messages, and the mouse into an aim angle, is main.js's job.
//
// Movement: WASD or arrow keys (physical key positions, so ZQSD layouts work too). Aim: the mouse. Fire: left mouse
// button or space. Overlay: F3 or N. Scoreboard order: Tab, or a click on the scoreboard (see `uiClick`).
// Spectating: Q/E or [ and ] switch the followed player, F toggles the free camera. Enter opens the chat box
// (chat.js); Space, which a spectator does not fire with, plays or pauses a replay room. M mutes or unmutes the
// sounds (sound.js). Esc leaves for the lobby.
// Keys typed into form fields (the chat box among them) are ignored, nothing is taken while `active` is false (the
// lobby is shown), and everything is released when the window loses focus so a player never keeps running or firing
// on their own.

const UP = new Set(['KeyW', 'ArrowUp']);
const DOWN = new Set(['KeyS', 'ArrowDown']);
const LEFT = new Set(['KeyA', 'ArrowLeft']);
const RIGHT = new Set(['KeyD', 'ArrowRight']);
const FIRE = new Set(['Space']);
/** One-shot keys and the action each emits. */
const ACTIONS = new Map([
  ['F3', 'toggleOverlay'],
  ['KeyN', 'toggleOverlay'],
  ['Tab', 'toggleSort'],
  ['KeyE', 'followNext'],
  ['BracketRight', 'followNext'],
  ['KeyQ', 'followPrev'],
  ['BracketLeft', 'followPrev'],
  ['KeyF', 'toggleFreeCamera'],
  ['KeyM', 'toggleMute'],
  ['Escape', 'leave'],
  // Handled on keydown and its default prevented, so the same Enter does not also reach (and submit) the chat box
  // it opens and focuses.
  ['Enter', 'openChat'],
  ['NumpadEnter', 'openChat'],
]);

export class InputManager {
  /** `target` receives keyboard events (usually window); `surface` is the canvas the mouse aims on. */
  constructor(target, surface) {
    this.surface = surface;
    this.up = false;
    this.down = false;
    this.left = false;
    this.right = false;
    this.fireKey = false;
    this.fireButton = false;
    /** Mouse position in CSS pixels relative to the surface's top-left corner. */
    this.mouseX = 0;
    this.mouseY = 0;
    /** Whether the mouse has been seen over the surface yet (until then there is no aim to take from it). */
    this.hasMouse = false;
    this.listeners = new Map();
    /** While false (the lobby is shown) keys do nothing here but release what is held. */
    this.active = true;
    /**
     * Asked on every left click with its surface position: returning true means the click hit an on-screen control
     * (the scoreboard) and is not a shot.
     */
    this.uiClick = null;

    target.addEventListener('keydown', (e) => this.onKey(e, true));
    target.addEventListener('keyup', (e) => this.onKey(e, false));
    target.addEventListener('blur', () => this.releaseAll());
    target.addEventListener('mousemove', (e) => this.onMouseMove(e));
    target.addEventListener('mouseup', (e) => {
      if (e.button === 0) this.fireButton = false;
    });
    surface.addEventListener('mousedown', (e) => {
      if (e.button !== 0) return;
      this.onMouseMove(e);
      e.preventDefault();
      if (this.uiClick !== null && this.uiClick(this.mouseX, this.mouseY)) return;
      this.fireButton = true;
    });
    surface.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  /**
   * Registers `fn` for a named action ('toggleOverlay', 'toggleSort', 'followNext', 'followPrev',
   * 'toggleFreeCamera', 'toggleMute', 'leave', 'openChat', 'firePressed': Space went down; a spectator, who fires
   * nothing, may use it for something else).
   */
  on(action, fn) {
    if (!this.listeners.has(action)) this.listeners.set(action, []);
    this.listeners.get(action).push(fn);
  }

  emit(action) {
    const fns = this.listeners.get(action);
    if (fns) for (const fn of fns) fn();
  }

  /** Horizontal movement, -1 (left), 0 or 1 (right). */
  get moveX() {
    return (this.right ? 1 : 0) - (this.left ? 1 : 0);
  }

  /** Vertical movement, -1 (up), 0 or 1 (down); y grows downwards as in the world. */
  get moveY() {
    return (this.down ? 1 : 0) - (this.up ? 1 : 0);
  }

  get fire() {
    return this.fireKey || this.fireButton;
  }

  releaseAll() {
    this.up = this.down = this.left = this.right = false;
    this.fireKey = this.fireButton = false;
  }

  onKey(e, pressed) {
    const code = e.code;
    const t = e.target;
    const typing =
      t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'BUTTON' || t.isContentEditable);
    // Releases always count, so a key let go while a modifier or a form field has the focus never sticks.
    if (pressed && (typing || e.ctrlKey || e.metaKey || e.altKey || !this.active)) return;
    if (UP.has(code)) this.up = pressed;
    else if (DOWN.has(code)) this.down = pressed;
    else if (LEFT.has(code)) this.left = pressed;
    else if (RIGHT.has(code)) this.right = pressed;
    else if (FIRE.has(code)) {
      this.fireKey = pressed;
      if (pressed && !e.repeat) this.emit('firePressed');
    }
    else if (ACTIONS.has(code)) {
      if (pressed && !e.repeat) this.emit(ACTIONS.get(code));
    } else return;
    if (!typing) e.preventDefault(); // no page scrolling on arrows and space, no browser action on F3
  }

  onMouseMove(e) {
    const r = this.surface.getBoundingClientRect();
    this.mouseX = e.clientX - r.left;
    this.mouseY = e.clientY - r.top;
    this.hasMouse = true;
  }
}

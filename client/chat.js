// chat.js: room chat on the page's side: the pace lines may go at (ChatBucket, pure) and the input box (ChatBox).
//
// The server takes at most 3 lines at once and 1 per second after that, and closes the connection (1008) on the
// first line beyond, so the page keeps its own bucket and shows "slow down" instead of sending. The lines received
// go to the feed (feed.js); the box is the only DOM here and takes text through `value`, never as markup.

/** The server's chat pace (its --chat-per-second and --chat-burst defaults). */
export const CHAT_PER_SECOND = 1;
export const CHAT_BURST = 3;
/**
 * Extra time the page waits for each token beyond the server's second. The server refills its bucket by arrival
 * time, and network jitter can bring two lines sent a second apart closer together than that: at 1.25 s per token
 * here, a line the page lets go still finds a token at the server after up to 250 ms of jitter.
 */
export const CHAT_JITTER_MS = 250;
/** What the page shows instead of sending a line too soon. */
export const SLOW_DOWN = 'Slow down: at most 3 chat lines at once, then 1 per second.';

/**
 * A token bucket: `burst` tokens to start with, one more every `intervalMs` (continuously), never more than
 * `burst`. `take(now)` spends a token if there is one. Pure: the caller passes the time (ms).
 */
export class ChatBucket {
  constructor(burst = CHAT_BURST, intervalMs = 1000 / CHAT_PER_SECOND + CHAT_JITTER_MS) {
    this.burst = burst;
    this.intervalMs = intervalMs;
    this.tokens = burst;
    /** The time the token count was last brought up to date; NaN before the first take. */
    this.time = NaN;
  }

  /** Tokens available at `now` (fractional). */
  available(now) {
    if (Number.isNaN(this.time)) return this.tokens;
    const t = this.tokens + (now - this.time) / this.intervalMs;
    return t > this.burst ? this.burst : t;
  }

  /** Spends one token at `now` and returns true, or returns false (nothing spent) when less than one is left. */
  take(now) {
    const t = this.available(now);
    this.time = now;
    if (t < 1) {
      this.tokens = t;
      return false;
    }
    this.tokens = t - 1;
    return true;
  }

  /** Milliseconds from `now` until a token is available (0 when one is). */
  waitMs(now) {
    const t = this.available(now);
    return t >= 1 ? 0 : (1 - t) * this.intervalMs;
  }
}

/**
 * The chat input box: `#chat` (a form) holding `#chat-input`. open() shows and focuses it; Enter submits (the
 * text goes to `onSend(text)`, which returns true to close the box, false to keep it open with its text), Escape
 * cancels. While it has the focus, input.js ignores the keys typed (they are typed into a form field), so the
 * game does not move.
 */
export class ChatBox {
  constructor(doc, onSend) {
    this.form = doc.getElementById('chat');
    this.input = doc.getElementById('chat-input');
    this.onSend = onSend;
    /** Called when the box closes (sent or cancelled), to give the keyboard back to the game. */
    this.onClose = null;

    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!this.isOpen) return;
      if (this.onSend(this.input.value)) this.close();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      // The box's Escape cancels the line; it is not the game's Escape (back to the lobby).
      e.preventDefault();
      e.stopPropagation();
      this.close();
    });
    // Losing the focus (a click on the game) cancels too, so the box never sits open with the game deaf to keys.
    this.input.addEventListener('blur', () => {
      if (this.isOpen) this.close();
    });
  }

  get isOpen() {
    return !this.form.hidden;
  }

  /** The text typed so far. */
  get value() {
    return this.input.value;
  }

  open() {
    if (this.isOpen) return;
    this.input.value = '';
    this.form.hidden = false;
    this.input.focus();
  }

  close() {
    if (!this.isOpen) return;
    this.form.hidden = true;
    this.input.value = '';
    this.input.blur();
    if (this.onClose) this.onClose();
  }
}

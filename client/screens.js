// screens.js: the DOM panels around the canvas: the join form, the "connecting" notice, the disconnected panel.
//
// Only shows and hides what index.html declares and reports the player's choices through callbacks.

import { NAME_MAX_CHARS, normalizeName } from './protocol.js';

/** What each close code means to a player (PROTOCOL.md's table plus the browser's own codes). */
const CLOSE_MEANINGS = new Map([
  [1000, 'The connection was closed.'],
  [1001, 'The server is shutting down.'],
  [1002, 'WebSocket protocol error.'],
  [1003, 'The server refused a text message.'],
  [1005, 'The connection was closed without a status code.'],
  [1006, 'The connection was lost (or the server could not be reached).'],
  [1007, 'A message could not be understood.'],
  [1008, 'The server closed the connection for a policy violation.'],
  [1009, 'A message was too large.'],
  [1011, 'The server hit an internal error.'],
  [1013, 'The server is full. Try again in a moment.'],
  [4000, 'Protocol version mismatch: reload the page to get the current client.'],
]);

export function describeClose(code) {
  return CLOSE_MEANINGS.get(code) ?? 'The connection was closed.';
}

export class Screens {
  constructor(doc) {
    this.join = doc.getElementById('join');
    this.joinForm = doc.getElementById('join-form');
    this.nameInput = doc.getElementById('name');
    this.joinError = doc.getElementById('join-error');
    this.status = doc.getElementById('status');
    this.closed = doc.getElementById('closed');
    this.closedMeaning = doc.getElementById('closed-meaning');
    this.closedDetail = doc.getElementById('closed-detail');
    this.reconnect = doc.getElementById('reconnect');
    this.nameInput.maxLength = NAME_MAX_CHARS * 2; // UTF-16 units; the real check counts characters
    this.onJoin = null;
    this.onReconnect = null;

    this.joinForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const name = normalizeName(this.nameInput.value);
      if (name === null) {
        this.joinError.textContent = `Names are 1 to ${NAME_MAX_CHARS} characters.`;
        return;
      }
      this.joinError.textContent = '';
      if (this.onJoin) this.onJoin(name);
    });
    this.reconnect.addEventListener('click', () => {
      if (this.onReconnect) this.onReconnect();
    });
  }

  /** Shows the join form prefilled with `name`, with `error` under it if given; calls onJoin(validName). */
  showJoin(name, error, onJoin) {
    this.onJoin = onJoin;
    this.nameInput.value = name;
    this.joinError.textContent = error || '';
    this.join.hidden = false;
    this.nameInput.focus();
    this.nameInput.select();
  }

  hideJoin() {
    this.join.hidden = true;
    this.nameInput.blur();
  }

  showStatus(text) {
    this.status.textContent = text;
    this.status.hidden = false;
  }

  hideStatus() {
    this.status.hidden = true;
  }

  /** Shows the disconnected panel with the code and reason; calls onReconnect() on the button. */
  showClosed(code, reason, onReconnect) {
    this.onReconnect = onReconnect;
    this.closedMeaning.textContent = describeClose(code);
    this.closedDetail.textContent = reason ? `Code ${code}: ${reason}` : `Code ${code}`;
    this.status.hidden = true;
    this.closed.hidden = false;
    this.reconnect.focus();
  }

  hideClosed() {
    this.closed.hidden = true;
  }
}

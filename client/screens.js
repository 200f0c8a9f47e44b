// screens.js: the DOM panels around the canvas besides the lobby (lobby.js): the "connecting" notice and the
// disconnected panel with what its close code means, Reconnect and Back to lobby.
//
// Only shows and hides what index.html declares and reports the player's choices through callbacks.

/** What each close code means to a player (docs/PROTOCOL.md's table plus the browser's own codes). */
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
  [1011, 'The room stopped unexpectedly on the server.'],
  [1013, 'The server is full. Try again in a moment.'],
  [4000, 'Protocol version mismatch: reload the page to get the current client.'],
  [4001, 'That room does not exist (it may have closed when it emptied).'],
  [4002, 'That room is full: pick another one or quick play.'],
  [4003, 'That room has no free spectator slot.'],
  [4004, 'The server cannot open more rooms right now: join an existing one.'],
  [4005, 'The server refused the room settings.'],
]);

export function describeClose(code) {
  return CLOSE_MEANINGS.get(code) ?? 'The connection was closed.';
}

export class Screens {
  constructor(doc) {
    this.status = doc.getElementById('status');
    this.closed = doc.getElementById('closed');
    this.closedMeaning = doc.getElementById('closed-meaning');
    this.closedDetail = doc.getElementById('closed-detail');
    this.reconnect = doc.getElementById('reconnect');
    this.backToLobby = doc.getElementById('back-to-lobby');
    this.onReconnect = null;
    this.onBackToLobby = null;

    this.reconnect.addEventListener('click', () => {
      if (this.onReconnect) this.onReconnect();
    });
    this.backToLobby.addEventListener('click', () => {
      if (this.onBackToLobby) this.onBackToLobby();
    });
  }

  showStatus(text) {
    this.status.textContent = text;
    this.status.hidden = false;
  }

  hideStatus() {
    this.status.hidden = true;
  }

  /**
   * Shows the disconnected panel with the code, its meaning and the reason; calls onReconnect() or onBackToLobby()
   * on its buttons.
   */
  showClosed(code, reason, onReconnect, onBackToLobby) {
    this.onReconnect = onReconnect;
    this.onBackToLobby = onBackToLobby;
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

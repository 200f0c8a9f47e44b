// screens.js: the DOM panels around the canvas besides the lobby (lobby.js) and the chat box (chat.js): the
// "connecting" notice, the "reconnecting" overlay over the frozen game while a dropped seat is being resumed, and
// the disconnected panel with what its close code means, Reconnect and Back to lobby.
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
  [4006, 'You created too many rooms in the last minute: wait a little, or join one.'],
  [4007, 'Your seat could not be resumed (it was given up, or the room is gone).'],
  [4008, 'Your seat was resumed on another connection (another tab or window).'],
  [4010, 'This server needs a signed join token.'],
  [4011, 'The join token is not valid.'],
  [4012, 'The join token has expired.'],
  [4013, 'The join token does not allow this.'],
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
    this.reconnecting = doc.getElementById('reconnecting');
    this.reconnectingTitle = doc.getElementById('reconnecting-title');
    this.reconnectingDetail = doc.getElementById('reconnecting-detail');
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

  /** Shows (or updates) the reconnecting overlay: its title and a detail line, as plain text. */
  showReconnecting(title, detail) {
    if (this.reconnectingTitle.textContent !== title) this.reconnectingTitle.textContent = title;
    if (this.reconnectingDetail.textContent !== detail) this.reconnectingDetail.textContent = detail;
    this.reconnecting.hidden = false;
  }

  hideReconnecting() {
    this.reconnecting.hidden = true;
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
    this.reconnecting.hidden = true;
    this.closed.hidden = false;
    this.reconnect.focus();
  }

  hideClosed() {
    this.closed.hidden = true;
  }
}

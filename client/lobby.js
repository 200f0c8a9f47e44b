// lobby.js: the lobby panel: the name, the public rooms (GET /rooms, refreshed every 2 s while shown) with a Join
// and a Spectate button each, Quick play, and a form that creates a room (the hello's create join, so its creator
// lands in it) on a map from GET /maps or a generated WIDTHxHEIGHT arena.
//
// The first half is pure (room rows, sorting, option checks, the join a URL asks for), tested under Node; the
// Lobby class below it only moves that between the DOM of index.html and the server, and hands the chosen join to
// main.js through `onPlay(name, join)`.

import {
  NAME_MAX_CHARS,
  ROOM_NAME_MAX_CHARS,
  createRoom,
  joinRoom,
  normalizeName,
  normalizeRoomName,
  quickPlay,
  spectate,
} from './protocol.js';

/** How often the room list is fetched while the lobby is shown. */
export const POLL_MS = 2000;
/** The map select's value for a generated WIDTHxHEIGHT arena (typed in next to it). */
export const CUSTOM_MAP = '*custom';
/** The sides a generated map may have when GET /maps does not say (docs: 320 to 20000). */
export const DEFAULT_SIDES = Object.freeze({ min: 320, max: 20000 });
/** The name a spectator says hello with when none was typed (a spectator's name is shown nowhere). */
export const SPECTATOR_NAME = 'spectator';

/** The HTTP origin of the server behind a WebSocket URL (`ws://host:port/ws` -> `http://host:port`). */
export function httpBase(wsUrl) {
  const url = new URL(wsUrl);
  const protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  return `${protocol}//${url.host}`;
}

function isCount(v) {
  return Number.isInteger(v) && v >= 0;
}

/** Whether `room` has the fields of a GET /rooms entry the lobby shows. */
export function isRoom(room) {
  return (
    room !== null &&
    typeof room === 'object' &&
    typeof room.id === 'string' &&
    typeof room.name === 'string' &&
    typeof room.map === 'string' &&
    isCount(room.players) &&
    isCount(room.spectators) &&
    isCount(room.max_players) &&
    isCount(room.max_spectators)
  );
}

/** Most players first, then the oldest (created_at), then by id: the server's own order, kept stable here. */
export function compareRooms(a, b) {
  if (a.players !== b.players) return b.players - a.players;
  const ca = String(a.created_at ?? '');
  const cb = String(b.created_at ?? '');
  if (ca !== cb) return ca < cb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The rows the lobby shows for a GET /rooms answer: public, well-formed rooms in compareRooms order, as
 * `{id, name, map, players, maxPlayers, spectators, maxSpectators, playersText, spectatorsText, full,
 * spectatorsFull}`. Anything that is not such a list gives no rows.
 */
export function lobbyRows(rooms) {
  if (!Array.isArray(rooms)) return [];
  return rooms
    .filter((room) => isRoom(room) && room.private !== true)
    .sort(compareRooms)
    .map((room) => ({
      id: room.id,
      name: room.name,
      map: room.map,
      players: room.players,
      maxPlayers: room.max_players,
      spectators: room.spectators,
      maxSpectators: room.max_spectators,
      playersText: `${room.players}/${room.max_players}`,
      spectatorsText: String(room.spectators),
      full: room.players >= room.max_players,
      spectatorsFull: room.spectators >= room.max_spectators,
    }));
}

/** The generated map sides from GET /maps' `generated` text ("WIDTHxHEIGHT, each side 320 to 20000"). */
export function parseSides(generated) {
  const m = /(\d+)\D+?(\d+)\s*$/.exec(typeof generated === 'string' ? generated : '');
  if (m === null) return DEFAULT_SIDES;
  const min = Number(m[1]);
  const max = Number(m[2]);
  return min > 0 && max >= min ? { min, max } : DEFAULT_SIDES;
}

/** A typed WIDTHxHEIGHT map: `{map}` in the server's spelling, or `{error}`. */
export function parseMapSize(text, sides = DEFAULT_SIDES) {
  const m = /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/.exec(String(text));
  if (m === null) return { error: 'Type the map size as WIDTHxHEIGHT, for example 3000x2000.' };
  const w = Number(m[1]);
  const h = Number(m[2]);
  if (w < sides.min || w > sides.max || h < sides.min || h > sides.max) {
    return { error: `Each side of the map must be ${sides.min} to ${sides.max} units.` };
  }
  return { map: `${w}x${h}` };
}

/**
 * The create form's fields (`{name, map, size, maxPlayers}`, as typed: `map` the select's value, '' for the
 * server's default, CUSTOM_MAP for `size`) as room options: `{options}` with only what was given, or `{error}`.
 */
export function createOptions(fields, sides = DEFAULT_SIDES) {
  const options = {};
  const rawName = String(fields.name ?? '').trim();
  if (rawName !== '') {
    const name = normalizeRoomName(rawName);
    if (name === null) return { error: `Room names are 1 to ${ROOM_NAME_MAX_CHARS} characters.` };
    options.name = name;
  }
  if (fields.map === CUSTOM_MAP) {
    const size = parseMapSize(fields.size ?? '', sides);
    if (size.error) return size;
    options.map = size.map;
  } else if (fields.map) {
    options.map = String(fields.map);
  }
  const rawMax = String(fields.maxPlayers ?? '').trim();
  if (rawMax !== '') {
    const max = Number(rawMax);
    if (!Number.isInteger(max) || max < 1) return { error: 'Max players is a whole number from 1.' };
    options.maxPlayers = max;
  }
  return { options };
}

/**
 * The join the page's URL asks for: `?room=ID` plays in that room, `&spectate=1` watches it instead, and
 * `?spectate=1` alone watches the busiest public room. `{join, spectating}`, or null when the URL names none.
 */
export function joinFromQuery(search) {
  const params = new URLSearchParams(search);
  const room = (params.get('room') ?? '').trim();
  const watch = params.get('spectate');
  const spectating = watch !== null && watch !== '0' && watch !== 'false';
  if (room !== '') return { join: spectating ? spectate(room) : joinRoom(room), spectating };
  if (spectating) return { join: spectate(), spectating };
  return null;
}

/** The name to spectate with: the typed one, or SPECTATOR_NAME when none was typed; null for an invalid one. */
export function spectatorName(raw) {
  if (String(raw ?? '').trim() === '') return SPECTATOR_NAME;
  return normalizeName(raw);
}

/** A line saying what a pending join will do, for the lobby's notice. */
export function describeJoin(join) {
  switch (join.kind) {
    case 'room':
      return `Join room ${join.id}`;
    case 'spectate':
      return join.room ? `Watch room ${join.room}` : 'Watch the busiest room';
    case 'create':
      return 'Create a room';
    default:
      return 'Quick play';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The panel

const NAME_ERROR = `Names are 1 to ${NAME_MAX_CHARS} characters.`;

export class Lobby {
  /**
   * `doc`: the document holding index.html's lobby panel; `base`: the server's HTTP origin (httpBase);
   * `onPlay(name, join, typed)`: a join was chosen (`typed`: the name is the one typed, worth remembering).
   */
  constructor(doc, { base, onPlay, fetch = (...args) => globalThis.fetch(...args), pollMs = POLL_MS }) {
    this.doc = doc;
    this.base = base;
    this.onPlay = onPlay;
    this.fetch = fetch;
    this.pollMs = pollMs;
    this.panel = doc.getElementById('lobby');
    this.nameForm = doc.getElementById('name-form');
    this.nameInput = doc.getElementById('name');
    this.nameError = doc.getElementById('name-error');
    this.pending = doc.getElementById('pending');
    this.pendingText = doc.getElementById('pending-text');
    this.pendingButton = doc.getElementById('pending-join');
    this.roomRows = doc.getElementById('room-rows');
    this.roomsEmpty = doc.getElementById('rooms-empty');
    this.roomsStatus = doc.getElementById('rooms-status');
    this.createForm = doc.getElementById('create-form');
    this.createName = doc.getElementById('create-name');
    this.createMap = doc.getElementById('create-map');
    this.createSize = doc.getElementById('create-size');
    this.createMax = doc.getElementById('create-max');
    this.createError = doc.getElementById('create-error');
    this.nameInput.maxLength = NAME_MAX_CHARS * 2; // UTF-16 units; the real check counts characters
    this.createName.maxLength = ROOM_NAME_MAX_CHARS * 2;

    /** The rows shown now (lobbyRows). */
    this.rows = [];
    /** Room id -> its <tr>. */
    this.rowElements = new Map();
    /** The join Enter in the name field makes instead of quick play (a `?room=` link without a name). */
    this.pendingJoin = null;
    this.sides = DEFAULT_SIDES;
    this.mapsLoaded = false;
    this.timer = null;
    /** Bumped on every show and hide, so a refresh answered after the lobby was left draws nothing. */
    this.generation = 0;
    /** Completed fetches of the room list. */
    this.refreshes = 0;

    this.nameForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.play(this.pendingJoin ?? quickPlay());
    });
    doc.getElementById('quick-play').addEventListener('click', (e) => {
      e.preventDefault();
      this.play(quickPlay());
    });
    this.pendingButton.addEventListener('click', () => {
      if (this.pendingJoin !== null) this.play(this.pendingJoin);
    });
    this.roomRows.addEventListener('click', (e) => {
      const button = e.target.closest('button[data-action]');
      if (button === null || button.disabled) return;
      const id = button.closest('tr').dataset.roomId;
      if (button.dataset.action === 'join') this.play(joinRoom(id));
      else this.play(spectate(id));
    });
    this.createMap.addEventListener('change', () => this.syncMapSize());
    this.createForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const made = createOptions(
        {
          name: this.createName.value,
          map: this.createMap.value,
          size: this.createSize.value,
          maxPlayers: this.createMax.value,
        },
        this.sides,
      );
      if (made.error) {
        this.createError.textContent = made.error;
        return;
      }
      this.createError.textContent = '';
      this.play(createRoom(made.options));
    });
  }

  get visible() {
    return !this.panel.hidden;
  }

  /**
   * Shows the lobby with `name` in the name field, `error` under it, and `pending` (a join, or null) offered as
   * the name field's action; starts polling the room list.
   */
  show({ name = '', error = '', pending = null } = {}) {
    this.generation++;
    this.nameInput.value = name;
    this.nameError.textContent = error;
    this.pendingJoin = pending;
    this.pending.hidden = pending === null;
    if (pending !== null) this.pendingText.textContent = `${describeJoin(pending)}: type your name and press Join.`;
    this.panel.hidden = false;
    this.nameInput.focus();
    this.nameInput.select();
    if (!this.mapsLoaded) this.loadMaps();
    this.refresh(this.generation);
  }

  hide() {
    this.generation++;
    // A focused button or field inside the hidden panel would keep the game's keys (input.js ignores typing).
    const focused = this.doc.activeElement;
    if (focused && this.panel.contains(focused)) focused.blur();
    this.panel.hidden = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Validates the name for `join` and hands both to onPlay. */
  play(join) {
    const spectating = join.kind === 'spectate';
    const name = spectating ? spectatorName(this.nameInput.value) : normalizeName(this.nameInput.value);
    if (name === null) {
      this.nameError.textContent = NAME_ERROR;
      this.nameInput.focus();
      return;
    }
    this.nameError.textContent = '';
    const typed = normalizeName(this.nameInput.value) !== null;
    this.onPlay(name, join, typed);
  }

  /** Fetches the room list and draws it, then schedules the next refresh while the lobby stays shown. */
  async refresh(generation) {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    let rooms = null;
    let failure = '';
    try {
      const response = await this.fetch(`${this.base}/rooms`, { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      rooms = await response.json();
    } catch (err) {
      failure = err && err.message ? err.message : String(err);
    }
    if (generation !== this.generation) return;
    this.refreshes++;
    if (rooms !== null) {
      this.render(lobbyRows(rooms));
      this.roomsStatus.textContent = '';
    } else {
      this.roomsStatus.textContent = `(the room list could not be loaded: ${failure})`;
    }
    this.timer = setTimeout(() => this.refresh(generation), this.pollMs);
  }

  /** Updates the table to `rows` in place (rows are keyed by room id, so a focused button survives a refresh). */
  render(rows) {
    this.rows = rows;
    const seen = new Set();
    let previous = null;
    for (const row of rows) {
      seen.add(row.id);
      let tr = this.rowElements.get(row.id);
      if (tr === undefined) {
        tr = this.newRow(row.id);
        this.rowElements.set(row.id, tr);
      }
      const cells = tr.children;
      cells[0].textContent = row.name;
      cells[1].textContent = row.map;
      cells[2].textContent = row.playersText;
      cells[3].textContent = row.spectatorsText;
      const join = cells[4].children[0];
      const watch = cells[4].children[1];
      join.disabled = row.full;
      join.title = row.full ? 'This room is full' : `Play in ${row.name}`;
      watch.disabled = row.spectatorsFull;
      watch.title = row.spectatorsFull ? 'No spectator slot free' : `Watch ${row.name}`;
      const expected = previous === null ? this.roomRows.firstChild : previous.nextSibling;
      if (expected !== tr) this.roomRows.insertBefore(tr, expected);
      previous = tr;
    }
    for (const [id, tr] of this.rowElements) {
      if (seen.has(id)) continue;
      tr.remove();
      this.rowElements.delete(id);
    }
    this.roomsEmpty.hidden = rows.length > 0;
  }

  newRow(id) {
    const doc = this.doc;
    const tr = doc.createElement('tr');
    tr.dataset.roomId = id;
    for (const cls of ['room-name', 'room-map', 'room-players', 'room-spectators']) {
      const td = doc.createElement('td');
      td.className = cls;
      tr.appendChild(td);
    }
    const actions = doc.createElement('td');
    actions.className = 'room-actions';
    for (const [action, label] of [
      ['join', 'Join'],
      ['spectate', 'Spectate'],
    ]) {
      const button = doc.createElement('button');
      button.type = 'button';
      button.dataset.action = action;
      button.className = action;
      button.textContent = label;
      actions.appendChild(button);
    }
    tr.appendChild(actions);
    return tr;
  }

  /** Fills the create form's map choices from GET /maps (once it answers; until then the server's default). */
  async loadMaps() {
    this.mapsLoaded = true;
    let maps;
    try {
      const response = await this.fetch(`${this.base}/maps`, { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      maps = await response.json();
    } catch {
      this.mapsLoaded = false; // try again on the next show
      return;
    }
    const bundled = Array.isArray(maps.bundled) ? maps.bundled.filter((m) => typeof m === 'string') : [];
    this.sides = parseSides(maps.generated);
    const select = this.createMap;
    const chosen = select.value;
    select.textContent = '';
    const option = (value, label) => {
      const o = this.doc.createElement('option');
      o.value = value;
      o.textContent = label;
      select.appendChild(o);
    };
    option('', 'Server default');
    for (const name of bundled) option(name, name);
    option(CUSTOM_MAP, `Generated size (WIDTHxHEIGHT, ${this.sides.min} to ${this.sides.max})`);
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : '';
    this.syncMapSize();
  }

  syncMapSize() {
    this.createSize.hidden = this.createMap.value !== CUSTOM_MAP;
  }
}

// dashboard.data.js: the dashboard's memory, pure and tested under Node: a ring buffer of samples, per-second rates
// from counter deltas, server-restart detection, and the turning of one `/dashboard/data` reply (the JSON of
// `/healthz`) into a flat sample of named values that the charts read back as series.
//
// The server sends running totals and gauges, never rates: a rate is the difference of two consecutive replies over
// the time between them. Two things make totals go down, and neither may show as a huge negative or positive spike:
// the server restarting (every counter starts again from zero) and, for the top-level totals the server sums over
// its open rooms (bytes_sent, frames_sent, frames_dropped, ...), a room closing. So room counters are read from the
// reply's `totals` (since the process started, closed rooms included) when it has them, else summed from each
// room's own deltas; and any counter that went down is taken to have restarted from zero (as Prometheus's rate()).

/** The dashboard polls once a second... */
export const POLL_MS = 1000;
/** ...and keeps five minutes of samples. */
export const WINDOW_MS = 5 * 60 * 1000;
/** Samples kept: the window at the poll rate, and a few more so a slow poll never shortens the window. */
export const CAPACITY = Math.ceil(WINDOW_MS / POLL_MS) + 10;
/** A line is broken where two samples are further apart than this (polls that failed, a tab put to sleep). */
export const GAP_MS = 2.5 * POLL_MS;

/**
 * Counters the process keeps itself, not summed over rooms: if one of them goes down, the process restarted.
 * (Room-summed totals also go down when a room closes, so they cannot tell.)
 */
export const PROCESS_COUNTERS = Object.freeze([
  'violations',
  'messages_dropped',
  'connections_refused',
  'room_panics',
  'bytes_received',
  'frames_received',
]);

/** Gauges plotted as they are, by series name and reply field. */
export const GAUGES = Object.freeze({
  players: 'players',
  spectators: 'spectators',
  connections: 'connections',
  websockets: 'websockets',
  rooms: 'rooms_open',
  held_seats: 'held_seats',
});

/** Per-room counters whose rates are summed into a total series, by series name and room field. */
export const ROOM_RATES = Object.freeze({
  bytes_out: 'bytes_sent',
  frames_out: 'frames_sent',
  frames_dropped: 'frames_dropped',
  tick_overruns: 'tick_overruns',
});

/** Process counters plotted as rates, by series name and reply field. */
export const PROCESS_RATES = Object.freeze({
  bytes_in: 'bytes_received',
  frames_in: 'frames_received',
  messages_dropped: 'messages_dropped',
  violations: 'violations',
});

/** A fixed-capacity FIFO: pushing onto a full ring overwrites the oldest item, so memory stays bounded. */
export class Ring {
  constructor(capacity) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity ${capacity}`);
    this.capacity = capacity;
    this.items = new Array(capacity);
    this.start = 0;
    this.length = 0;
  }

  push(item) {
    if (this.length < this.capacity) {
      this.items[(this.start + this.length) % this.capacity] = item;
      this.length += 1;
    } else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Removes and returns the oldest item (undefined when empty). */
  shift() {
    if (this.length === 0) return undefined;
    const item = this.items[this.start];
    this.items[this.start] = undefined;
    this.start = (this.start + 1) % this.capacity;
    this.length -= 1;
    return item;
  }

  /** The item `i` places from the oldest (0) to the newest (length - 1). */
  at(i) {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) return undefined;
    return this.items[(this.start + i) % this.capacity];
  }

  newest() {
    return this.at(this.length - 1);
  }

  oldest() {
    return this.at(0);
  }

  toArray() {
    const out = [];
    for (let i = 0; i < this.length; i++) out.push(this.at(i));
    return out;
  }

  clear() {
    this.items.fill(undefined);
    this.start = 0;
    this.length = 0;
  }
}

/** `v` if it is a finite number, else null: a field the server does not send (yet) is simply not plotted. */
export function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * How much a counter grew from `prev` to `next`. A counter that went down started again from zero (a restart), so it
 * grew by `next` since then. Null when either is missing.
 */
export function counterDelta(prev, next) {
  const a = num(prev);
  const b = num(next);
  if (a === null || b === null) return null;
  return b >= a ? b - a : b;
}

/** Per second, from a counter's growth over `dtMs`; null without two values or a positive interval. */
export function counterRate(prev, next, dtMs) {
  const delta = counterDelta(prev, next);
  if (delta === null || !(dtMs > 0)) return null;
  return (delta * 1000) / dtMs;
}

function disconnectTotal(data) {
  const d = data?.disconnects;
  if (d === null || typeof d !== 'object') return null;
  let sum = 0;
  for (const v of Object.values(d)) sum += num(v) ?? 0;
  return sum;
}

/**
 * Whether the server restarted between replies `prev` and `next`: a process-wide counter went down, or the server
 * says so itself through a start time or uptime, should its reply carry one.
 */
export function isRestart(prev, next) {
  if (prev == null || next == null) return false;
  for (const key of ['started_at', 'start_time', 'started_unix_ms']) {
    if (prev[key] !== undefined && next[key] !== undefined && prev[key] !== next[key]) return true;
  }
  for (const key of ['uptime_seconds', 'uptime_secs', 'uptime_ms']) {
    const a = num(prev[key]);
    const b = num(next[key]);
    if (a !== null && b !== null && b < a) return true;
  }
  for (const key of PROCESS_COUNTERS) {
    const a = num(prev[key]);
    const b = num(next[key]);
    if (a !== null && b !== null && b < a) return true;
  }
  // `totals` only ever grows while the process lives, closed rooms included.
  if (isObject(prev.totals) && isObject(next.totals)) {
    for (const [key, value] of Object.entries(next.totals)) {
      const a = num(prev.totals[key]);
      const b = num(value);
      if (a !== null && b !== null && b < a) return true;
    }
  }
  const a = disconnectTotal(prev);
  const b = disconnectTotal(next);
  return a !== null && b !== null && b < a;
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The reply's rooms that have an id, by id. */
export function roomsById(data) {
  const out = new Map();
  if (!Array.isArray(data?.rooms)) return out;
  for (const room of data.rooms) {
    if (room !== null && typeof room === 'object' && (typeof room.id === 'string' || typeof room.id === 'number')) {
      out.set(String(room.id), room);
    }
  }
  return out;
}

/**
 * The growth of a room counter over all rooms. From the process-wide `totals` when both replies have it (exact:
 * closed rooms included). Else each room's own delta, summed over the rooms open now: a room new since `prev`
 * counts from zero (it opened in between), a room that closed in between takes its last growth with it (a second's
 * worth at most, far better than the drop in the sum it would otherwise show). Without room lists, the top-level
 * total's delta.
 */
export function roomSumDelta(prev, next, field, totalField = field) {
  const total = counterDelta(prev?.totals?.[field], next?.totals?.[field]);
  if (total !== null) return total;
  const nextRooms = roomsById(next);
  if (!Array.isArray(next?.rooms) || !Array.isArray(prev?.rooms)) {
    return counterDelta(prev?.[totalField], next?.[totalField]);
  }
  const prevRooms = roomsById(prev);
  let sum = 0;
  let any = false;
  for (const [id, room] of nextRooms) {
    const value = num(room[field]);
    if (value === null) continue;
    const before = prevRooms.has(id) ? num(prevRooms.get(id)[field]) ?? 0 : 0;
    sum += counterDelta(before, value);
    any = true;
  }
  if (any) return sum;
  // No room reports the field (or no room is open): the total, if the server gives it, or nothing.
  return nextRooms.size === 0 && num(next[totalField]) !== null ? 0 : counterDelta(prev[totalField], next[totalField]);
}

/**
 * One sample from a reply `data` at time `t` (ms), given the previous reply and its time (null for the first):
 * a flat object of series name to value. Gauges are taken as they are, rates need the previous reply; a field the
 * reply lacks gives no value, so its series simply has no point there.
 */
export function sampleOf(data, t, prev = null, prevT = null) {
  const values = {};
  const put = (name, v) => {
    if (num(v) !== null) values[name] = v;
  };
  for (const [name, field] of Object.entries(GAUGES)) put(name, num(data[field]));
  const rooms = roomsById(data);
  for (const [id, room] of rooms) {
    // Tick durations come in microseconds; the charts speak milliseconds.
    const p50 = num(room.tick_micros_p50);
    const p99 = num(room.tick_micros_p99);
    if (p50 !== null) put(`tick_p50:${id}`, p50 / 1000);
    if (p99 !== null) put(`tick_p99:${id}`, p99 / 1000);
  }
  const dt = prev !== null && prevT !== null ? t - prevT : 0;
  if (prev !== null && dt > 0) {
    const perSec = (delta) => (delta === null ? null : (delta * 1000) / dt);
    for (const [name, field] of Object.entries(ROOM_RATES)) put(name, perSec(roomSumDelta(prev, data, field)));
    for (const [name, field] of Object.entries(PROCESS_RATES)) put(name, counterRate(prev[field], data[field], dt));
    const prevRooms = roomsById(prev);
    for (const [id, room] of rooms) {
      const before = prevRooms.get(id);
      put(`bytes_out:${id}`, counterRate(before?.bytes_sent ?? 0, room.bytes_sent, dt));
      put(`frames_dropped:${id}`, counterRate(before?.frames_dropped ?? 0, room.frames_dropped, dt));
    }
    const reasons = data.disconnects;
    if (reasons !== null && typeof reasons === 'object') {
      const before = prev.disconnects !== null && typeof prev.disconnects === 'object' ? prev.disconnects : {};
      for (const [reason, count] of Object.entries(reasons)) {
        put(`disconnects:${reason}`, counterRate(before[reason] ?? 0, count, dt));
      }
    }
  }
  return values;
}

/**
 * The samples of the last `windowMs`, in a ring: each `{ t, restart, values }`. `add` takes a reply as the server
 * sent it and keeps the previous reply to take deltas from.
 */
export class History {
  constructor({ capacity = CAPACITY, windowMs = WINDOW_MS } = {}) {
    this.samples = new Ring(capacity);
    this.windowMs = windowMs;
    this.prev = null;
    this.prevT = null;
    this.restarts = 0;
  }

  /** Adds the reply `data` received at `t` (ms); returns its sample. */
  add(data, t) {
    const restart = isRestart(this.prev, data);
    if (restart) this.restarts += 1;
    const sample = { t, restart, values: sampleOf(data, t, this.prev, this.prevT) };
    this.samples.push(sample);
    this.prev = data;
    this.prevT = t;
    this.prune(t);
    return sample;
  }

  /** Drops the samples older than the window before `now`. */
  prune(now) {
    while (this.samples.length > 0 && this.samples.oldest().t < now - this.windowMs) this.samples.shift();
  }

  /** The points `{ t, v }` of one series, oldest first. */
  series(name) {
    const out = [];
    for (let i = 0; i < this.samples.length; i++) {
      const s = this.samples.at(i);
      const v = s.values[name];
      if (v !== undefined) out.push({ t: s.t, v });
    }
    return out;
  }

  /** Every series name with its number of points. */
  counts() {
    const out = {};
    for (let i = 0; i < this.samples.length; i++) {
      for (const name of Object.keys(this.samples.at(i).values)) out[name] = (out[name] ?? 0) + 1;
    }
    return out;
  }

  /** The series names that start with `prefix:`, as the part after it (room ids, disconnect reasons). */
  keys(prefix) {
    const seen = new Set();
    const p = `${prefix}:`;
    for (let i = 0; i < this.samples.length; i++) {
      for (const name of Object.keys(this.samples.at(i).values)) if (name.startsWith(p)) seen.add(name.slice(p.length));
    }
    return [...seen];
  }

  /** The largest value of a series in the window (0 when it has none). */
  max(name) {
    let m = 0;
    for (let i = 0; i < this.samples.length; i++) {
      const v = this.samples.at(i).values[name];
      if (v !== undefined && v > m) m = v;
    }
    return m;
  }

  /** One series summed from several, per sample (the "other" layer of a bounded legend). */
  sumOf(names) {
    const out = [];
    for (let i = 0; i < this.samples.length; i++) {
      const s = this.samples.at(i);
      let sum = 0;
      let any = false;
      for (const name of names) {
        const v = s.values[name];
        if (v !== undefined) {
          sum += v;
          any = true;
        }
      }
      if (any) out.push({ t: s.t, v: sum });
    }
    return out;
  }

  /** The sum of a series over the window (how much of it there was, to rank series by). */
  total(name) {
    let sum = 0;
    for (let i = 0; i < this.samples.length; i++) sum += this.samples.at(i).values[name] ?? 0;
    return sum;
  }

  /** The times of the restarts still in the window. */
  restartTimes() {
    return this.samples.toArray().filter((s) => s.restart).map((s) => s.t);
  }

  newest() {
    return this.samples.newest() ?? null;
  }
}

/**
 * A bounded legend: the `limit` keys with the highest score, highest first (ties by key, so the order holds still
 * from one second to the next), and the rest. Keys scoring `min` or less are left out altogether (a disconnect
 * reason that never happened has no business in the legend).
 */
export function pickTop(keys, score, limit, min = -Infinity) {
  const ranked = keys
    .map((key) => ({ key, score: score(key) }))
    .filter((k) => k.score > min)
    .sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((k) => k.key);
  return { shown: ranked.slice(0, limit), rest: ranked.slice(limit) };
}

/** The room table's rows from a reply and the sample taken from it: what each column shows, most players first. */
export function roomRows(data, sample = null) {
  const values = sample?.values ?? {};
  const rows = [];
  for (const [id, room] of roomsById(data)) {
    const p50 = num(room.tick_micros_p50);
    const p99 = num(room.tick_micros_p99);
    rows.push({
      id,
      name: typeof room.name === 'string' && room.name !== '' ? room.name : id,
      private: room.private === true,
      players: num(room.players),
      maxPlayers: num(room.max_players),
      spectators: num(room.spectators),
      tick: num(room.tick),
      tickRate: num(room.tick_rate),
      p50Ms: p50 === null ? null : p50 / 1000,
      p99Ms: p99 === null ? null : p99 / 1000,
      bytesPerSec: values[`bytes_out:${id}`] ?? null,
      droppedPerSec: values[`frames_dropped:${id}`] ?? null,
      overruns: num(room.tick_overruns),
      spectate: spectateHref(id),
    });
  }
  rows.sort((a, b) => (b.players ?? 0) - (a.players ?? 0) || a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1));
  return rows;
}

/** Where the game client spectates room `id`. */
export function spectateHref(id) {
  return `/?room=${encodeURIComponent(id)}&spectate=1`;
}

/** The `?token=` the page was opened with, or null: the metrics token its data requests must carry. */
export function tokenFrom(search) {
  const token = new URLSearchParams(search).get('token');
  return token === null || token === '' ? null : token;
}

/** The data endpoint, from the site root (a page opened as /dashboard/ still finds it). */
export const DATA_PATH = '/dashboard/data';

/** The request for the data endpoint: the token goes in an Authorization header, never into logs or links. */
export function dataRequest(base, token) {
  const headers = { Accept: 'application/json' };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  return { url: new URL(DATA_PATH, base).href, init: { headers, cache: 'no-store' } };
}

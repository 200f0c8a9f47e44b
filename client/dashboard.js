// dashboard.js: the live dashboard page (dashboard.html, served at /dashboard). Polls /dashboard/data once a second,
// keeps five minutes of samples (dashboard.data.js), and redraws after every reply: the totals, six charts
// (dashboard.chart.js) with their legends, and the table of rooms with a link to spectate each in the game client.
//
// A failed poll changes nothing but the banner: the last data stays up and polling goes on, so the page recovers by
// itself when the server comes back (a restart shows as a marker; the rates take it in their stride). With
// `?token=T` in its address (a server run with --metrics-token), every data request carries it as a bearer token.
// `window.dashboard` exposes, read-only, what the browser tests check: polls, errors, points per series, rooms shown.

import { PALETTE, drawChart, formatValue } from './dashboard.chart.js';
import {
  GAP_MS,
  History,
  POLL_MS,
  WINDOW_MS,
  dataRequest,
  pickTop,
  roomRows,
  roomsById,
  tokenFrom,
} from './dashboard.data.js';

/** A reply slower than this counts as a failed poll (the next one is due anyway). */
const FETCH_TIMEOUT_MS = 4000;
/** Rooms drawn in the tick chart, the worst first: more lines than this would be unreadable. */
const MAX_ROOM_LINES = 6;
/** Disconnect reasons stacked one by one; the rest share one "other" layer. */
const MAX_REASONS = 6;

const $ = (selector) => document.querySelector(selector);

const history = new History();
const token = tokenFrom(location.search);
const request = dataRequest(location.href, token);
const state = {
  polls: 0,
  errors: 0,
  /** Failed polls in a row, and when the first of them failed: what the banner says. */
  failing: 0,
  failingSince: null,
  lastError: null,
  data: null,
  rows: [],
  charts: {},
};

/** Wall-clock milliseconds that never go backwards (rates divide by differences of these). */
const now = () => performance.timeOrigin + performance.now();

function clock(t) {
  return new Date(t).toLocaleTimeString([], { hour12: false });
}

/** One line of a chart from a series of the history. */
function line(label, name, color, options = {}) {
  return { label, color, points: history.series(name), ...options };
}

/** Room names by id, kept while the room has points in the window: a room that closed keeps its name on the chart. */
const roomNames = new Map();

function rememberRoomNames(data) {
  for (const [id, room] of roomsById(data)) {
    if (typeof room.name === 'string' && room.name !== '') roomNames.set(id, room.name);
  }
  const charted = new Set(history.keys('tick_p99'));
  for (const id of roomNames.keys()) if (!charted.has(id)) roomNames.delete(id);
}

function roomName(id) {
  return roomNames.get(id) ?? id;
}

/** The charts' contents, from the history: `{ id: { chart, legend } }`. */
function chartSpecs() {
  const since = history.samples.oldest()?.t ?? null;
  const common = { windowMs: WINDOW_MS, since, gapMs: GAP_MS, markers: history.restartTimes() };
  const specs = {};

  // Ticks: the rooms whose p99 was worst in the window, one colour each, p99 solid and p50 dashed.
  const rooms = pickTop(history.keys('tick_p99'), (id) => history.max(`tick_p99:${id}`), MAX_ROOM_LINES);
  const tickLines = [];
  const tickLegend = [];
  rooms.shown.forEach((id, i) => {
    const color = PALETTE[i % PALETTE.length];
    tickLines.push(line(`${roomName(id)} p99`, `tick_p99:${id}`, color));
    tickLines.push(line(`${roomName(id)} p50`, `tick_p50:${id}`, color, { dash: [4, 3], width: 1.25 }));
    const latest = history.newest()?.values ?? {};
    const open = latest[`tick_p99:${id}`] !== undefined;
    tickLegend.push({
      label: roomName(id),
      color,
      value: open
        ? `${formatValue(latest[`tick_p99:${id}`], 'ms')} / ${formatValue(latest[`tick_p50:${id}`], 'ms')}`
        : 'closed',
    });
  });
  if (rooms.rest.length > 0) tickLegend.push({ label: `+${rooms.rest.length} more rooms (not drawn)` });
  const rates = (state.data?.rooms ?? []).map((room) => room?.tick_rate).filter((r) => r > 0);
  const budget = rates.length > 0 ? 1000 / Math.max(...rates) : null;
  specs.ticks = {
    chart: {
      ...common,
      unit: 'ms',
      lines: tickLines,
      budget: budget === null ? null : { value: budget, label: `tick budget ${formatValue(budget, 'ms')}` },
      empty: state.data !== null && rooms.shown.length === 0 ? 'no rooms open' : undefined,
    },
    legend: tickLegend,
  };

  const plain = (entries, unit) => {
    const lines = entries.map(([label, name], i) => line(label, name, PALETTE[i % PALETTE.length]));
    const latest = history.newest()?.values ?? {};
    return {
      chart: { ...common, unit, lines },
      legend: entries
        .map(([label, name], i) => ({ label, name, color: PALETTE[i % PALETTE.length] }))
        .filter((entry) => lines.find((l) => l.label === entry.label).points.length > 0)
        .map(({ label, name, color }) => ({ label, color, value: formatValue(latest[name], unit) })),
    };
  };
  specs.population = plain(
    [
      ['players', 'players'],
      ['spectators', 'spectators'],
      ['connections', 'connections'],
      ['websockets', 'websockets'],
    ],
    '',
  );
  specs.bandwidth = plain(
    [
      ['in (from clients)', 'bytes_in'],
      ['out (to clients)', 'bytes_out'],
    ],
    'B/s',
  );
  specs.frames = plain(
    [
      ['in', 'frames_in'],
      ['out', 'frames_out'],
    ],
    '/s',
  );
  specs.drops = plain(
    [
      ['frames dropped (slow clients)', 'frames_dropped'],
      ['messages dropped (rate limit)', 'messages_dropped'],
      ['tick overruns', 'tick_overruns'],
      ['violations', 'violations'],
    ],
    '/s',
  );

  // Disconnects: the reasons that happened in the window, the most frequent stacked at the bottom.
  const reasons = pickTop(history.keys('disconnects'), (r) => history.total(`disconnects:${r}`), MAX_REASONS, 0);
  const layers = reasons.shown.map((r, i) => line(r.replaceAll('_', ' '), `disconnects:${r}`, PALETTE[i]));
  if (reasons.rest.length > 0) {
    const points = history.sumOf(reasons.rest.map((r) => `disconnects:${r}`));
    layers.push({ label: `${reasons.rest.length} other reasons`, color: PALETTE[MAX_REASONS], points });
  }
  const latest = history.newest()?.values ?? {};
  specs.disconnects = {
    chart: { ...common, unit: '/s', stacked: true, lines: layers, empty: 'no disconnects in the last 5 minutes' },
    legend: layers.map((layer, i) => ({
      label: layer.label,
      color: layer.color,
      value:
        i < reasons.shown.length
          ? formatValue(latest[`disconnects:${reasons.shown[i]}`], '/s')
          : formatValue(layer.points.at(-1)?.v, '/s'),
    })),
  };
  return specs;
}

function renderLegend(list, entries) {
  list.replaceChildren(
    ...entries.map((entry) => {
      const item = document.createElement('li');
      if (entry.color !== undefined) {
        const swatch = document.createElement('span');
        swatch.className = 'swatch';
        swatch.style.background = entry.color;
        item.append(swatch);
      }
      item.append(entry.label);
      if (entry.value !== undefined) {
        const value = document.createElement('span');
        value.className = 'value';
        value.textContent = ` ${entry.value}`;
        item.append(value);
      }
      return item;
    }),
  );
}

function renderCharts(t) {
  for (const [id, spec] of Object.entries(chartSpecs())) {
    const figure = document.getElementById(`chart-${id}`);
    state.charts[id] = drawChart(figure.querySelector('canvas'), spec.chart, t);
    renderLegend(figure.querySelector('.legend'), spec.legend);
  }
}

function renderTotals() {
  const data = state.data;
  const latest = history.newest()?.values ?? {};
  const set = (key, text) => {
    $(`[data-total="${key}"]`).textContent = text;
  };
  const count = (v) => (typeof v === 'number' ? String(v) : '–');
  set('players', count(data.players));
  set('spectators', count(data.spectators));
  set('connections', count(data.connections));
  set('websockets', count(data.websockets));
  const rooms = count(data.rooms_open);
  set('rooms', typeof data.max_rooms === 'number' ? `${rooms} / ${data.max_rooms}` : rooms);
  set('bytes_in', formatValue(latest.bytes_in, 'B/s'));
  set('bytes_out', formatValue(latest.bytes_out, 'B/s'));
  const worst = typeof data.worst_tick_micros_p99 === 'number' ? data.worst_tick_micros_p99 / 1000 : null;
  set('worst_p99', formatValue(worst, 'ms'));
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderRooms() {
  state.rows = roomRows(state.data, history.newest());
  const body = $('#room-rows');
  body.replaceChildren(
    ...state.rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.room = row.id;
      // Room names are players' input: text nodes only, never markup.
      const name = cell(row.name, 'name');
      const id = document.createElement('span');
      id.className = 'id';
      id.textContent = row.id;
      name.append(id);
      if (row.private) {
        const tag = document.createElement('span');
        tag.className = 'tag';
        tag.textContent = 'private';
        name.append(tag);
      }
      const budget = row.tickRate > 0 ? 1000 / row.tickRate : null;
      const late = budget !== null && row.p99Ms !== null && row.p99Ms > budget / 2 ? 'warn' : '';
      const link = document.createElement('a');
      link.href = row.spectate;
      link.target = '_blank';
      link.rel = 'noopener';
      link.className = 'spectate';
      link.textContent = 'spectate';
      const spectate = document.createElement('td');
      spectate.append(link);
      tr.append(
        name,
        cell(row.maxPlayers === null ? formatValue(row.players) : `${formatValue(row.players)} / ${row.maxPlayers}`),
        cell(formatValue(row.spectators)),
        cell(formatValue(row.tick)),
        cell(row.tickRate === null ? '–' : `${row.tickRate} Hz`),
        cell(formatValue(row.p50Ms, 'ms'), late),
        cell(formatValue(row.p99Ms, 'ms'), late),
        cell(formatValue(row.bytesPerSec, 'B/s')),
        cell(formatValue(row.droppedPerSec, '/s'), row.droppedPerSec > 0 ? 'warn' : ''),
        cell(formatValue(row.overruns)),
        spectate,
      );
      return tr;
    }),
  );
  $('#rooms-empty').hidden = state.rows.length > 0;
  $('#rooms-count').textContent = state.rows.length === 1 ? '1 open' : `${state.rows.length} open`;
}

function renderStatus() {
  const status = $('#status');
  const restarts = history.restartTimes();
  const parts = [];
  if (state.data !== null) parts.push(`updated ${clock(history.newest().t)}`);
  if (restarts.length > 0) parts.push(`server restarted at ${clock(restarts.at(-1))}`);
  if (token !== null) parts.push('with token');
  status.textContent = parts.length > 0 ? parts.join(' · ') : 'connecting…';
  status.className = `status ${state.failing > 0 ? 'stale' : state.data !== null ? 'live' : ''}`;
  const banner = $('#banner');
  if (state.failing > 0) {
    const shown = state.data !== null ? ' The figures below are from the last reply.' : '';
    banner.textContent =
      `Cannot get ${request.url}: ${state.lastError} (since ${clock(state.failingSince)}, ` +
      `${state.failing} failed ${state.failing === 1 ? 'poll' : 'polls'}). Still trying every second.${shown}`;
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function render() {
  const t = now();
  history.prune(t);
  if (state.data !== null) {
    renderTotals();
    renderRooms();
  }
  renderCharts(t);
  renderStatus();
}

/** One data request: the reply's JSON object, or an exception saying why not. */
async function fetchData() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetch(request.url, { ...request.init, signal: controller.signal });
    if (response.status === 401 || response.status === 403) {
      throw new Error(
        `HTTP ${response.status}: the server wants its metrics token (open the page as /dashboard?token=…)`,
      );
    }
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
    const data = await response.json();
    if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Error('the reply is not an object');
    return data;
  } catch (e) {
    if (e.name === 'AbortError') throw new Error(`no reply within ${FETCH_TIMEOUT_MS / 1000} s`);
    // fetch's own TypeError says only "Failed to fetch": the server is down or unreachable.
    if (e instanceof TypeError) throw new Error('the server does not answer');
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function poll() {
  const started = performance.now();
  try {
    let data = null;
    try {
      data = await fetchData();
    } catch (e) {
      state.errors += 1;
      state.failing += 1;
      state.failingSince ??= now();
      state.lastError = e.message;
    }
    if (data !== null) {
      state.polls += 1;
      state.failing = 0;
      state.failingSince = null;
      state.data = data;
      history.add(data, now());
      rememberRoomNames(data);
    }
    render();
  } finally {
    // Polls never overlap: the next one is due a second after this one started, or at once if this one was slow.
    setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - started)));
  }
}

// Canvases are sized to their boxes: redraw when the window changes size, not only on the next poll.
let resizePending = false;
new ResizeObserver(() => {
  if (resizePending) return;
  resizePending = true;
  requestAnimationFrame(() => {
    resizePending = false;
    renderCharts(now());
  });
}).observe($('.charts'));

Object.defineProperty(window, 'dashboard', {
  value: Object.freeze({
    /** Polls answered with data. */
    get polls() {
      return state.polls;
    },
    /** Polls that failed (no answer, an HTTP error, a reply that is not JSON). */
    get errors() {
      return state.errors;
    },
    get lastError() {
      return state.lastError;
    },
    /** The banner's text while polls fail, else null. */
    get banner() {
      return $('#banner').hidden ? null : $('#banner').textContent;
    },
    /** Points kept per series (`players`, `bytes_out`, `tick_p99:ROOM`, `disconnects:REASON`, ...). */
    get points() {
      return Object.freeze(history.counts());
    },
    /** What each chart drew last: `{ lines, points }`. */
    get charts() {
      return Object.freeze(structuredClone(state.charts));
    },
    /** The rooms in the table, in its order. */
    get rooms() {
      const rows = state.rows.map((row) => Object.freeze({ id: row.id, name: row.name, spectate: row.spectate }));
      return Object.freeze(rows);
    },
    /** Server restarts seen in the window. */
    get restarts() {
      return history.restartTimes().length;
    },
    get tokenSent() {
      return token !== null;
    },
  }),
  enumerable: true,
});

render();
poll();

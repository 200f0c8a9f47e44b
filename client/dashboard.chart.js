// dashboard.chart.js: the dashboard's time-series plots, drawn on a 2D canvas: lines (solid or dashed) or stacked
// areas over a time span ending now, a y axis from zero to a round bound, time ticks, and a vertical marker where
// the server restarted. The span grows with the data up to the full window: a page opened ten seconds ago shows
// ten seconds across the whole width, not a sliver at the right edge of five empty minutes. Hand-drawn rather than a vendored library: six small charts of a few hundred
// points each need no more than this, and the page stays a handful of files with nothing to keep up to date.
//
// The scale, span and formatting helpers at the top are pure (tested under Node); `drawChart` only paints.

/** Line colours, in order: distinct on the dark background, and few enough that the legends stay short. */
export const PALETTE = Object.freeze([
  '#5fd3a8',
  '#61afef',
  '#e5c07b',
  '#e06c75',
  '#c678dd',
  '#56b6c2',
  '#d19a66',
  '#98c379',
]);

const BACKGROUND = '#10141c';
const GRID = '#252d3a';
const AXIS_TEXT = '#8a93a3';
const MARKER = '#e06c75';
const MARGIN = Object.freeze({ left: 56, right: 10, top: 10, bottom: 20 });

/**
 * A y axis for values up to `v`: the smallest 1, 2, 2.5 or 5 times a power of ten at least `v`, divided into
 * steps that are round themselves (2 in quarters of 0.5, 2.5 and 5 in fifths of 0.5 and 1, 1 in fifths of 0.2).
 */
export function niceScale(v) {
  const scale = (max, divisions) => ({ max, step: max / divisions, divisions });
  if (!(v > 0) || !Number.isFinite(v)) return scale(1, 4);
  const power = 10 ** Math.floor(Math.log10(v));
  for (const [step, divisions] of [
    [1, 5],
    [2, 4],
    [2.5, 5],
    [5, 5],
  ]) {
    // The epsilon keeps a value that is exactly a round number from being pushed to the next one by rounding error.
    if (step * power >= v * (1 - 1e-9)) return scale(step * power, divisions);
  }
  return scale(10 * power, 5);
}

/** The shortest span a chart shows, so the first few samples are not stretched across the whole width. */
export const MIN_SPAN_MS = 30_000;

/** The time span `[from, now]` a chart shows: from its oldest sample, at least `MIN_SPAN_MS`, at most the window. */
export function timeSpan(now, windowMs, oldest = null) {
  const start = oldest === null || !Number.isFinite(oldest) ? now - windowMs : oldest;
  const span = Math.min(windowMs, Math.max(Math.min(MIN_SPAN_MS, windowMs), now - start));
  return { from: now - span, span };
}

/** The interval between time ticks: the smallest round one that puts at most six ticks across `spanMs`. */
export function timeStep(spanMs) {
  for (const step of [5, 10, 15, 30, 60, 120, 300, 600].map((s) => s * 1000)) {
    if (spanMs / step <= 6) return step;
  }
  return 1_800_000;
}

/** A time tick's label, `ago` milliseconds before now. */
export function agoLabel(ago) {
  if (ago <= 0) return 'now';
  return ago % 60_000 === 0 ? `−${ago / 60_000} min` : `−${Math.round(ago / 1000)} s`;
}

function trim(n, digits) {
  return Number(n.toFixed(digits)).toString();
}

/**
 * `v` for an axis label, a legend or a table cell, in `unit`: 'B/s' (bytes per second, scaled to kB/s and MB/s),
 * 'ms', '/s' or none; counts from ten thousand up in k and M, so they fit the axis's margin.
 */
export function formatValue(v, unit = '') {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (unit === 'B/s' || unit === 'B') {
    const suffix = unit === 'B/s' ? '/s' : '';
    if (Math.abs(v) >= 1e9) return `${trim(v / 1e9, 1)} GB${suffix}`;
    if (Math.abs(v) >= 1e6) return `${trim(v / 1e6, 1)} MB${suffix}`;
    if (Math.abs(v) >= 1e3) return `${trim(v / 1e3, 1)} kB${suffix}`;
    return `${Math.round(v)} B${suffix}`;
  }
  let text;
  if (v === 0) text = '0';
  else if (Math.abs(v) >= 1e6) text = `${trim(v / 1e6, 1)}M`;
  else if (Math.abs(v) >= 1e4) text = `${trim(v / 1e3, 1)}k`;
  else if (Math.abs(v) >= 100) text = String(Math.round(v));
  else if (Math.abs(v) >= 10) text = trim(v, 1);
  else if (Math.abs(v) >= 0.01) text = trim(v, 2);
  else text = v.toExponential(0);
  return unit === 'ms' ? `${text} ms` : unit === '/s' ? `${text}/s` : text;
}

/** The points of a series split into runs with no gap longer than `gapMs` between neighbours: lines break there. */
export function segments(points, gapMs) {
  const out = [];
  let run = [];
  for (const p of points) {
    if (run.length > 0 && p.t - run[run.length - 1].t > gapMs) {
      out.push(run);
      run = [];
    }
    run.push(p);
  }
  if (run.length > 0) out.push(run);
  return out;
}

/**
 * Stacked layers: for every time any layer has a point, each layer's top (its value plus the layers below it, a
 * missing value counting as zero). Returns `{ times, tops }` with `tops[i][k]` layer i's top at `times[k]`.
 */
export function stack(layers) {
  const times = [...new Set(layers.flatMap((layer) => layer.map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, k) => [t, k]));
  const tops = [];
  let below = new Array(times.length).fill(0);
  for (const layer of layers) {
    const top = below.slice();
    for (const p of layer) top[index.get(p.t)] += p.v;
    tops.push(top);
    below = top;
  }
  return { times, tops };
}

/** Sizes the canvas's backing store to its displayed size at the device's pixel ratio, so lines stay crisp. */
function fit(canvas) {
  const ratio = (typeof window !== 'undefined' && window.devicePixelRatio) || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth));
  const height = Math.max(1, Math.round(canvas.clientHeight));
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width, height };
}

/**
 * Draws `chart` on `canvas` for the window ending at `now`:
 * `{ lines: [{ label, color, points, dash, width }], unit, stacked, windowMs, since, gapMs, markers, budget }` where
 * `since` is the time of the oldest sample kept (the span starts there until the window is full),
 * `markers` are times of restarts and `budget` an optional horizontal reference (a room's tick budget), drawn only
 * when the data comes near it: scaling a chart of 2 ms ticks to a 33 ms budget would flatten what matters.
 * Returns what was drawn: `{ lines, points }` (lines with at least one point in the window, and their points).
 */
export function drawChart(canvas, chart, now) {
  const { ctx, width, height } = fit(canvas);
  const { windowMs, gapMs, unit = '' } = chart;
  const { from, span } = timeSpan(now, windowMs, chart.since ?? null);
  const plot = {
    x: MARGIN.left,
    y: MARGIN.top,
    w: Math.max(1, width - MARGIN.left - MARGIN.right),
    h: Math.max(1, height - MARGIN.top - MARGIN.bottom),
  };
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, width, height);

  const visible = chart.lines
    .map((line) => ({ ...line, points: line.points.filter((p) => p.t >= from - gapMs && p.t <= now) }))
    .filter((line) => line.points.length > 0);
  let yMax = 0;
  let stacked = null;
  if (chart.stacked && visible.length > 0) {
    stacked = stack(visible.map((line) => line.points));
    for (const v of stacked.tops[stacked.tops.length - 1]) yMax = Math.max(yMax, v);
  } else {
    for (const line of visible) for (const p of line.points) yMax = Math.max(yMax, p.v);
  }
  const axis = niceScale(yMax);
  yMax = axis.max;
  const xOf = (t) => plot.x + ((t - from) / span) * plot.w;
  const yOf = (v) => plot.y + plot.h - (Math.max(0, v) / yMax) * plot.h;

  // Grid and axes: round horizontal divisions labelled on the left, a tick per minute labelled below.
  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  ctx.strokeStyle = GRID;
  ctx.fillStyle = AXIS_TEXT;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= axis.divisions; i++) {
    const v = axis.step * i;
    const y = Math.round(yOf(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(plot.x, y);
    ctx.lineTo(plot.x + plot.w, y);
    ctx.stroke();
    ctx.fillText(formatValue(v, unit), plot.x - 6, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const step = timeStep(span);
  for (let ago = 0; ago <= span + 1; ago += step) {
    const x = Math.round(xOf(now - ago)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, plot.y);
    ctx.lineTo(x, plot.y + plot.h);
    ctx.stroke();
    // The leftmost label would hang over the y axis's labels: it is left out unless there is room.
    if (x - plot.x < 24 && ago > 0) continue;
    ctx.textAlign = ago === 0 ? 'right' : 'center';
    ctx.fillText(agoLabel(ago), x, plot.y + plot.h + 4);
  }

  ctx.save();
  ctx.beginPath();
  ctx.rect(plot.x, plot.y, plot.w, plot.h);
  ctx.clip();

  if (chart.budget && chart.budget.value > 0 && chart.budget.value <= yMax) {
    const y = Math.round(yOf(chart.budget.value)) + 0.5;
    ctx.setLineDash([2, 4]);
    ctx.strokeStyle = AXIS_TEXT;
    ctx.beginPath();
    ctx.moveTo(plot.x, y);
    ctx.lineTo(plot.x + plot.w, y);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = AXIS_TEXT;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'bottom';
    ctx.fillText(chart.budget.label, plot.x + 4, y - 2);
  }

  let points = 0;
  if (stacked !== null) {
    const runs = segments(stacked.times.map((t, k) => ({ t, k })), gapMs);
    visible.forEach((line, i) => {
      const top = stacked.tops[i];
      const base = i === 0 ? null : stacked.tops[i - 1];
      ctx.fillStyle = line.color;
      ctx.globalAlpha = 0.6;
      for (const run of runs) {
        ctx.beginPath();
        run.forEach(({ t, k }, j) => (j === 0 ? ctx.moveTo(xOf(t), yOf(top[k])) : ctx.lineTo(xOf(t), yOf(top[k]))));
        for (let j = run.length - 1; j >= 0; j--) ctx.lineTo(xOf(run[j].t), yOf(base === null ? 0 : base[run[j].k]));
        ctx.closePath();
        ctx.fill();
      }
      ctx.globalAlpha = 1;
      ctx.strokeStyle = line.color;
      ctx.lineWidth = 1.25;
      for (const run of runs) strokeRun(ctx, run.map(({ t, k }) => ({ x: xOf(t), y: yOf(top[k]) })));
      points += line.points.length;
    });
  } else {
    for (const line of visible) {
      ctx.strokeStyle = line.color;
      ctx.lineWidth = line.width ?? 1.75;
      ctx.setLineDash(line.dash ?? []);
      for (const run of segments(line.points, gapMs)) strokeRun(ctx, run.map((p) => ({ x: xOf(p.t), y: yOf(p.v) })));
      ctx.setLineDash([]);
      points += line.points.length;
    }
  }

  for (const t of chart.markers ?? []) {
    if (t < from || t > now) continue;
    const x = Math.round(xOf(t)) + 0.5;
    ctx.strokeStyle = MARKER;
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x, plot.y);
    ctx.lineTo(x, plot.y + plot.h);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = MARKER;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText('restart', x + 3, plot.y + 2);
  }
  ctx.restore();

  if (visible.length === 0) {
    ctx.fillStyle = AXIS_TEXT;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.font = '13px system-ui, sans-serif';
    ctx.fillText(chart.empty ?? 'waiting for data…', plot.x + plot.w / 2, plot.y + plot.h / 2);
  }
  return { lines: visible.length, points };
}

/** One polyline; a lone point is drawn as a dot, or it would not show at all. */
function strokeRun(ctx, run) {
  if (run.length === 1) {
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillRect(run[0].x - 1.5, run[0].y - 1.5, 3, 3);
    return;
  }
  ctx.beginPath();
  ctx.lineJoin = 'round';
  run.forEach((p, j) => (j === 0 ? ctx.moveTo(p.x, p.y) : ctx.lineTo(p.x, p.y)));
  ctx.stroke();
}

// hud.js: screen-space drawing on top of the world: scoreboard, kill feed, minimap, network overlay, centre banner
// with the respawn countdown, the red flash when the own player is hit, the hit marker when its shot lands, and a
// spectator's bar (who is followed, how to switch).
//
// Drawing only; the text it shows is prepared elsewhere (feed.js, main.js) and changes rarely, so a frame builds
// no strings except score numbers, which are cached. The scoreboard lists the scene's players, or what it is given
// instead (a spectator's whole room, from the roster: spectate.js). Where the scoreboard was drawn is kept
// (scoreboardHit) so a click on it can change its order.

const FONT = '14px system-ui, sans-serif';
const FONT_BOLD = 'bold 14px system-ui, sans-serif';
const FONT_MONO = '12px ui-monospace, Menlo, Consolas, monospace';
const FONT_BANNER = 'bold 22px system-ui, sans-serif';
const PANEL = 'rgba(10, 12, 18, 0.62)';
const TEXT = '#e5e9f0';
const DIM = '#9aa3b5';
const SELF = '#5fd3a8';
const OTHER = '#e0796b';
const SCOREBOARD_ROWS = 8;
const SCOREBOARD_W = 200;
const MINIMAP_MAX_W = 200;
const MINIMAP_MAX_H = 150;
const MARGIN = 12;

/** Scoreboard orders. */
export const SORT_SCORE = 'score';
export const SORT_NAME = 'name';

/** Reused for sorting the scoreboard. */
const sorted = [];
/** Cached decimal strings of small scores. */
const numbers = [];
/** Where the scoreboard was last drawn (CSS pixels); w = 0 before the first draw. */
const board = { x: 0, y: 0, w: 0, h: 0 };

/** Most kills first, then by name, then by id. */
export function byScore(a, b) {
  return b.score - a.score || byNameOnly(a, b) || a.id - b.id;
}

/** By name (case-insensitive), then most kills, then by id. */
export function byName(a, b) {
  return byNameOnly(a, b) || b.score - a.score || a.id - b.id;
}

function byNameOnly(a, b) {
  return a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0;
}

/** Sorts player views in place by `mode` (SORT_SCORE or SORT_NAME). */
export function sortPlayers(list, mode) {
  return list.sort(mode === SORT_NAME ? byName : byScore);
}

function numberLabel(n) {
  if (n >= 0 && n < 1000) {
    let s = numbers[n];
    if (s === undefined) s = numbers[n] = String(n);
    return s;
  }
  return String(n);
}

/**
 * What a click at (x, y) (CSS pixels) on the scoreboard asks for: SORT_NAME on the left half, SORT_SCORE on the
 * right (the "Player" and "Kills" columns), or null when it is not on the scoreboard.
 */
export function scoreboardHit(x, y) {
  if (board.w === 0 || x < board.x || x > board.x + board.w || y < board.y || y > board.y + board.h) return null;
  return x < board.x + board.w / 2 ? SORT_NAME : SORT_SCORE;
}

/** How many scoreboard rows fit a screen `height` CSS pixels tall (a spectator's lists as many as fit). */
export function scoreboardRowsFor(height) {
  return Math.max(SCOREBOARD_ROWS, Math.floor((height - 260) / 20));
}

/**
 * The rows a scoreboard of `source` (a Scene, or anything with `players` and `playerCount`: views with `id`, `name`,
 * `sortKey`, `score`, `hp` and optionally `own`) lists, into `out`: sorted by `mode`, at most `maxRows`, then the
 * own player (or, spectating, the followed player `highlightId`) if it ranks below them, so it is always listed.
 */
export function scoreboardRows(source, mode, highlightId = 0, maxRows = SCOREBOARD_ROWS, out = []) {
  sorted.length = 0;
  for (let i = 0; i < source.playerCount; i++) sorted.push(source.players[i]);
  sortPlayers(sorted, mode);
  const rows = Math.min(sorted.length, maxRows);
  out.length = 0;
  for (let i = 0; i < rows; i++) out.push(sorted[i]);
  for (let i = rows; i < sorted.length; i++) {
    if (highlighted(sorted[i], highlightId)) {
      out.push(sorted[i]);
      break;
    }
  }
  sorted.length = 0;
  return out;
}

function highlighted(p, highlightId) {
  return p.own === true || (highlightId !== 0 && p.id === highlightId);
}

/**
 * The scoreboard at the top right: the rows scoreboardRows gives (into `rows`, which keeps them after the frame),
 * the active column's title marked, the own or followed player highlighted and the dead dimmed.
 */
export function drawScoreboard(ctx, source, width, mode, highlightId = 0, maxRows = SCOREBOARD_ROWS, rows = []) {
  scoreboardRows(source, mode, highlightId, maxRows, rows);
  const lineH = 20;
  const w = SCOREBOARD_W;
  const x = width - w - MARGIN;
  const y = MARGIN;
  const h = 30 + rows.length * lineH;
  board.x = x;
  board.y = y;
  board.w = w;
  board.h = h;
  ctx.fillStyle = PANEL;
  ctx.fillRect(x, y, w, h);
  ctx.font = FONT_BOLD;
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillStyle = mode === SORT_NAME ? TEXT : DIM;
  ctx.fillText(mode === SORT_NAME ? 'Player ▾' : 'Player', x + 10, y + 8);
  ctx.textAlign = 'right';
  ctx.fillStyle = mode === SORT_NAME ? DIM : TEXT;
  ctx.fillText(mode === SORT_NAME ? 'Kills' : 'Kills ▾', x + w - 10, y + 8);
  ctx.font = FONT;
  for (let i = 0; i < rows.length; i++) {
    const p = rows[i];
    const ry = y + 30 + i * lineH;
    ctx.fillStyle = highlighted(p, highlightId) ? SELF : TEXT;
    ctx.globalAlpha = p.hp > 0 ? 1 : 0.55;
    ctx.textAlign = 'left';
    ctx.fillText(p.name, x + 10, ry, w - 60);
    ctx.textAlign = 'right';
    ctx.fillText(numberLabel(p.score), x + w - 10, ry);
  }
  ctx.globalAlpha = 1;
}

/** Feed lines (kills, joins, chat, notices) at the top left, each fading during its last second. */
export function drawFeed(ctx, feed, now) {
  const entries = feed.entries;
  ctx.font = FONT;
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const left = e.ttlMs - (now - e.time);
    ctx.globalAlpha = left < 1000 ? Math.max(left, 0) / 1000 : 1;
    const y = MARGIN + i * 24;
    if (e.width < 0) e.width = ctx.measureText(e.text).width;
    const w = e.width + 16;
    ctx.fillStyle = PANEL;
    ctx.fillRect(MARGIN, y, w, 22);
    ctx.fillStyle = e.own ? SELF : TEXT;
    ctx.fillText(e.text, MARGIN + 8, y + 4);
  }
  ctx.globalAlpha = 1;
}

/** The minimap's size in CSS pixels for a map, keeping its aspect ratio: `out` = `{w, h}`. */
export function minimapSize(map, out) {
  const k = Math.min(MINIMAP_MAX_W / map.width, MINIMAP_MAX_H / map.height);
  out.w = Math.max(1, Math.round(map.width * k));
  out.h = Math.max(1, Math.round(map.height * k));
  return out;
}

/**
 * The minimap at the bottom right: `wallsImage` (the map's walls pre-drawn at `w` x `h`, see Renderer), the part
 * of the world on screen (`view`: `{x0, y0, x1, y1}` world units), other players as dots and the own player (or
 * `ring`, the player a spectator follows) as a ring. Dead players are left out.
 */
export function drawMinimap(ctx, scene, map, wallsImage, w, h, screenW, screenH, view, ring = scene.own) {
  const x = screenW - w - MARGIN;
  const y = screenH - h - MARGIN;
  const k = w / map.width;
  ctx.fillStyle = PANEL;
  ctx.fillRect(x - 4, y - 4, w + 8, h + 8);
  if (wallsImage !== null) ctx.drawImage(wallsImage, x, y, w, h);
  ctx.strokeStyle = 'rgba(229, 233, 240, 0.35)';
  ctx.lineWidth = 1;
  const vx0 = Math.max(view.x0, 0);
  const vy0 = Math.max(view.y0, 0);
  const vx1 = Math.min(view.x1, map.width);
  const vy1 = Math.min(view.y1, map.height);
  if (vx1 > vx0 && vy1 > vy0) ctx.strokeRect(x + vx0 * k, y + vy0 * k, (vx1 - vx0) * k, (vy1 - vy0) * k);
  ctx.fillStyle = OTHER;
  ctx.beginPath();
  for (let i = 0; i < scene.playerCount; i++) {
    const p = scene.players[i];
    if (p === ring || p.hp <= 0) continue;
    const px = x + p.x * k;
    const py = y + p.y * k;
    ctx.moveTo(px + 2, py);
    ctx.arc(px, py, 2, 0, Math.PI * 2);
  }
  ctx.fill();
  const own = ring;
  if (own !== null) {
    ctx.fillStyle = SELF;
    ctx.strokeStyle = SELF;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.arc(x + own.x * k, y + own.y * k, 3, 0, Math.PI * 2);
    ctx.fill();
    ctx.beginPath();
    ctx.arc(x + own.x * k, y + own.y * k, 6, 0, Math.PI * 2);
    ctx.stroke();
  }
}

/** Network overlay at the bottom left: one monospace line per entry of `lines`. */
export function drawOverlay(ctx, lines, height) {
  const lineH = 16;
  const h = lines.length * lineH + 12;
  const y = height - h - MARGIN;
  ctx.fillStyle = PANEL;
  ctx.fillRect(MARGIN, y, 270, h);
  ctx.font = FONT_MONO;
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillStyle = TEXT;
  for (let i = 0; i < lines.length; i++) ctx.fillText(lines[i], MARGIN + 8, y + 6 + i * lineH);
}

/**
 * A message in the middle of the screen (death countdown, desync notice). `progress` in 0..1 draws a bar under it
 * (the respawn countdown); a negative value draws none.
 */
export function drawBanner(ctx, text, width, height, progress) {
  ctx.font = FONT_BANNER;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  const w = Math.max(ctx.measureText(text).width + 40, 220);
  const cy = height * 0.28;
  const bar = progress >= 0;
  ctx.fillStyle = PANEL;
  ctx.fillRect(width / 2 - w / 2, cy - 22, w, bar ? 58 : 44);
  ctx.fillStyle = TEXT;
  ctx.fillText(text, width / 2, cy);
  if (bar) {
    const bw = w - 40;
    ctx.fillStyle = 'rgba(255, 255, 255, 0.15)';
    ctx.fillRect(width / 2 - bw / 2, cy + 22, bw, 6);
    ctx.fillStyle = SELF;
    ctx.fillRect(width / 2 - bw / 2, cy + 22, bw * (progress > 1 ? 1 : progress), 6);
  }
}

/**
 * A spectator's bar at the bottom centre: `title` ("Spectating ana", "Free camera") in bold, `hint` (the keys) under
 * it.
 */
export function drawSpectatorBar(ctx, title, hint, width, height) {
  ctx.font = FONT_BOLD;
  const tw = ctx.measureText(title).width;
  ctx.font = FONT;
  const hw = ctx.measureText(hint).width;
  const w = Math.max(tw, hw) + 32;
  const h = 50;
  const x = width / 2 - w / 2;
  const y = height - h - MARGIN;
  ctx.fillStyle = PANEL;
  ctx.fillRect(x, y, w, h);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.font = FONT_BOLD;
  ctx.fillStyle = SELF;
  ctx.fillText(title, width / 2, y + 8);
  ctx.font = FONT;
  ctx.fillStyle = DIM;
  ctx.fillText(hint, width / 2, y + 28);
}

/** A red frame around the screen, `strength` 0..1 (the own player was just hit). */
export function drawHitFlash(ctx, width, height, strength) {
  if (strength <= 0) return;
  ctx.globalAlpha = strength * 0.6;
  ctx.strokeStyle = '#e05a4a';
  ctx.lineWidth = 24;
  ctx.strokeRect(0, 0, width, height);
  ctx.globalAlpha = 1;
}

/** The hit marker's colours: a hit, and a hit that killed. */
const HIT_MARKER = '#f5f7fa';
const KILL_MARKER = '#ffd36a';

/**
 * The hit marker: an X of four strokes around (`x`, `y`) (the crosshair, CSS pixels), `strength` 0..1 (fading, and
 * spreading a little as it fades), larger and gold when the hit killed.
 */
export function drawHitMarker(ctx, x, y, strength, kill) {
  if (strength <= 0) return;
  const spread = 1 - strength;
  const inner = (kill ? 7 : 5) + 4 * spread;
  const outer = inner + (kill ? 11 : 8);
  const d = Math.SQRT1_2;
  ctx.globalAlpha = strength < 1 ? strength : 1;
  ctx.strokeStyle = kill ? KILL_MARKER : HIT_MARKER;
  ctx.lineWidth = kill ? 3 : 2;
  ctx.lineCap = 'round';
  ctx.beginPath();
  for (let k = 0; k < 4; k++) {
    const sx = k & 1 ? -d : d;
    const sy = k & 2 ? -d : d;
    ctx.moveTo(x + sx * inner, y + sy * inner);
    ctx.lineTo(x + sx * outer, y + sy * outer);
  }
  ctx.stroke();
  ctx.lineCap = 'butt';
  ctx.globalAlpha = 1;
}

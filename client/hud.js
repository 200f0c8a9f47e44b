// hud.js: screen-space drawing on top of the world: scoreboard, kill feed, network overlay, centre banner.
//
// Drawing only; the text it shows is prepared elsewhere (feed.js, main.js) and changes rarely, so a frame builds
// no strings except score numbers, which are cached.

const FONT = '14px system-ui, sans-serif';
const FONT_BOLD = 'bold 14px system-ui, sans-serif';
const FONT_MONO = '12px ui-monospace, Menlo, Consolas, monospace';
const FONT_BANNER = 'bold 22px system-ui, sans-serif';
const PANEL = 'rgba(10, 12, 18, 0.62)';
const TEXT = '#e5e9f0';
const DIM = '#9aa3b5';
const SELF = '#5fd3a8';
const SCOREBOARD_ROWS = 8;

/** Reused for sorting the scoreboard. */
const sorted = [];
/** Cached decimal strings of small scores. */
const numbers = [];

function byScore(a, b) {
  return b.score - a.score || a.id - b.id;
}

function numberLabel(n) {
  if (n >= 0 && n < 1000) {
    let s = numbers[n];
    if (s === undefined) s = numbers[n] = String(n);
    return s;
  }
  return String(n);
}

/** Top players by score at the top right; the own player is always listed. */
export function drawScoreboard(ctx, scene, width) {
  sorted.length = 0;
  for (let i = 0; i < scene.playerCount; i++) sorted.push(scene.players[i]);
  sorted.sort(byScore);
  let rows = Math.min(sorted.length, SCOREBOARD_ROWS);
  let ownRank = -1;
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i].own) {
      ownRank = i;
      break;
    }
  }
  const extraOwn = ownRank >= rows;
  const lineH = 20;
  const w = 200;
  const x = width - w - 12;
  const y = 12;
  const h = 30 + (rows + (extraOwn ? 1 : 0)) * lineH;
  ctx.fillStyle = PANEL;
  ctx.fillRect(x, y, w, h);
  ctx.font = FONT_BOLD;
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillStyle = DIM;
  ctx.fillText('Player', x + 10, y + 8);
  ctx.textAlign = 'right';
  ctx.fillText('Kills', x + w - 10, y + 8);
  ctx.font = FONT;
  for (let i = 0; i < rows + (extraOwn ? 1 : 0); i++) {
    const p = i < rows ? sorted[i] : sorted[ownRank];
    const ry = y + 30 + i * lineH;
    ctx.fillStyle = p.own ? SELF : TEXT;
    ctx.textAlign = 'left';
    ctx.fillText(p.name, x + 10, ry, w - 60);
    ctx.textAlign = 'right';
    ctx.fillText(numberLabel(p.score), x + w - 10, ry);
  }
  sorted.length = 0;
}

/** Kill feed lines at the top left, fading during their last second. */
export function drawFeed(ctx, feed, now) {
  const entries = feed.entries;
  ctx.font = FONT;
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const left = feed.ttlMs - (now - e.time);
    ctx.globalAlpha = left < 1000 ? Math.max(left, 0) / 1000 : 1;
    const y = 12 + i * 24;
    if (e.width < 0) e.width = ctx.measureText(e.text).width;
    const w = e.width + 16;
    ctx.fillStyle = PANEL;
    ctx.fillRect(12, y, w, 22);
    ctx.fillStyle = e.own ? SELF : TEXT;
    ctx.fillText(e.text, 20, y + 4);
  }
  ctx.globalAlpha = 1;
}

/** Network overlay at the bottom left: one monospace line per entry of `lines`. */
export function drawOverlay(ctx, lines, height) {
  const lineH = 16;
  const h = lines.length * lineH + 12;
  const y = height - h - 12;
  ctx.fillStyle = PANEL;
  ctx.fillRect(12, y, 250, h);
  ctx.font = FONT_MONO;
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillStyle = TEXT;
  for (let i = 0; i < lines.length; i++) ctx.fillText(lines[i], 20, y + 6 + i * lineH);
}

/** A message in the middle of the screen (death countdown, desync notice). */
export function drawBanner(ctx, text, width, height) {
  ctx.font = FONT_BANNER;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  const w = ctx.measureText(text).width + 40;
  ctx.fillStyle = PANEL;
  ctx.fillRect(width / 2 - w / 2, height * 0.28 - 22, w, 44);
  ctx.fillStyle = TEXT;
  ctx.fillText(text, width / 2, height * 0.28);
}

/**
 * The prediction-trajectory heatmap of the original (plotting/trajectory_plotting.py)
 * without plotly: x = input tokens, y = layers 0..L-1 then "output" (drawn top-down
 * from the output, as plotly's y axis runs upwards), cell text = the top-1 token,
 * colour = a statistic on the reversed RdBu scale, hover = the top-k tokens with their
 * probabilities. Self-contained: an SVG with <title> tooltips, or an HTML page with the
 * same SVG, a statistic selector and a styled tooltip, no external assets.
 */
import { TRAJECTORY_STATS, formatToken, rowLabel, statisticGrid, type Trajectory, type TrajectoryStat } from './trajectory';

export interface PlotOptions {
  stat?: TrajectoryStat;
  title?: string;
  /** Top tokens in the hover text; default 10. */
  hoverTopK?: number;
}

/** ColorBrewer RdBu (11 classes) reversed: low = blue, high = red (plotly's "rdbu_r"). */
const RDBU_R = ['#053061', '#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7', '#fddbc7', '#f4a582', '#d6604d', '#b2182b', '#67001f'];

function hexToRgb(h: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

/** Colour of x in [0, 1] on the scale (NaN: light grey). */
export function colourAt(x: number): string {
  if (!Number.isFinite(x)) return '#e0e0e0';
  const t = Math.min(1, Math.max(0, x)) * (RDBU_R.length - 1);
  const i = Math.min(RDBU_R.length - 2, Math.floor(t));
  const f = t - i;
  const a = hexToRgb(RDBU_R[i]), b = hexToRgb(RDBU_R[i + 1]);
  const c = a.map((v, k) => Math.round(v + (b[k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Black or white text, whichever reads better on the colour at x. */
function textColourAt(x: number): string {
  if (!Number.isFinite(x)) return '#000';
  return x < 0.22 || x > 0.8 ? '#fff' : '#000';
}

interface Scale {
  /** Maps a value to [0, 1]. */
  norm(v: number): number;
  min: number;
  max: number;
  log: boolean;
}

/** The colour range of a statistic: [0, 1] for probabilities, log10 for ranks, else [0, max]. */
export function statScale(values: number[][], stat: TrajectoryStat): Scale {
  const finite = values.flat().filter(Number.isFinite);
  if (stat === 'max_probability') return { norm: (v) => v, min: 0, max: 1, log: false };
  if (stat === 'rank') {
    const max = Math.max(10, ...finite);
    return { norm: (v) => Math.log10(v) / Math.log10(max), min: 1, max, log: true };
  }
  const max = Math.max(1e-9, ...finite);
  return { norm: (v) => v / max, min: 0, max, log: false };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function fmtValue(v: number, stat: TrajectoryStat): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (stat === 'rank') return String(Math.round(v));
  return v.toFixed(stat === 'max_probability' ? 3 : 2);
}

/** The hover text of a cell: where, the statistic, the top-k tokens with percentages. */
function hoverText(t: Trajectory, r: number, p: number, stat: TrajectoryStat, k: number): string {
  const c = t.cells[r][p];
  const s = TRAJECTORY_STATS[stat];
  const lines = [
    `layer ${rowLabel(t, t.rows[r])}, position ${p} (input ${formatToken(t.tokens[p], 12)})`,
    `${s.title}: ${fmtValue(s.get(c), stat)} ${s.units === 'rank' ? '' : s.units}`.trimEnd(),
    ...c.top.slice(0, k).map((x, i) => `${String(i + 1).padStart(2)}. ${formatToken(x.text, 12).padEnd(12)} ${(100 * x.prob).toFixed(2).padStart(6)}%`),
  ];
  return lines.join('\n');
}

const CELL_W = 68, CELL_H = 24, LEFT = 64, TOP = 36, BOTTOM = 64, RIGHT = 96;

/** Geometry shared by the SVG and the HTML page's script. */
function layout(t: Trajectory) {
  const nRows = t.rows.length, nCols = t.tokens.length;
  return { nRows, nCols, width: LEFT + nCols * CELL_W + RIGHT, height: TOP + nRows * CELL_H + BOTTOM };
}

/** The heatmap as a standalone SVG document (tooltips through <title>). */
export function renderTrajectorySvg(t: Trajectory, opts: PlotOptions = {}): string {
  const stat = opts.stat ?? 'entropy';
  const k = opts.hoverTopK ?? 10;
  const values = statisticGrid(t, stat);
  const scale = statScale(values, stat);
  const { nRows, nCols, width, height } = layout(t);
  const title = opts.title ?? `${TRAJECTORY_STATS[stat].title} (${TRAJECTORY_STATS[stat].units}), ${t.lens} lens, ${t.modelName}`;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="ui-monospace, Menlo, Consolas, monospace" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text id="plot-title" x="${LEFT}" y="22" font-size="14" font-family="sans-serif">${esc(title)}</text>`);
  // Rows top-down: output first, as the original's figure (y grows upwards).
  for (let r = 0; r < nRows; r++) {
    const y = TOP + (nRows - 1 - r) * CELL_H;
    out.push(`<text x="${LEFT - 6}" y="${y + CELL_H / 2 + 4}" text-anchor="end">${esc(rowLabel(t, t.rows[r]))}</text>`);
    for (let p = 0; p < nCols; p++) {
      const x = LEFT + p * CELL_W;
      const v = values[r][p];
      const n = scale.norm(v);
      const label = formatToken(t.cells[r][p].top[0]?.text ?? '', 7);
      out.push(
        `<g class="cell" data-r="${r}" data-p="${p}"><title>${esc(hoverText(t, r, p, stat, k))}</title>` +
        `<rect x="${x}" y="${y}" width="${CELL_W - 1}" height="${CELL_H - 1}" fill="${colourAt(n)}"/>` +
        `<text x="${x + CELL_W / 2}" y="${y + CELL_H / 2 + 4}" text-anchor="middle" font-weight="bold" fill="${textColourAt(n)}">${esc(label)}</text></g>`,
      );
    }
  }
  const yAxis = TOP + nRows * CELL_H;
  for (let p = 0; p < nCols; p++) {
    const x = LEFT + p * CELL_W + CELL_W / 2;
    out.push(`<text x="${x}" y="${yAxis + 16}" text-anchor="middle">${esc(formatToken(t.tokens[p], 7))}</text>`);
    out.push(`<text x="${x}" y="${yAxis + 30}" text-anchor="middle" fill="#888" font-size="9">${p}</text>`);
  }
  out.push(`<text x="${LEFT + (nCols * CELL_W) / 2}" y="${yAxis + 52}" text-anchor="middle" font-family="sans-serif" font-size="12">Input</text>`);
  out.push(`<text transform="translate(14 ${TOP + (nRows * CELL_H) / 2}) rotate(-90)" text-anchor="middle" font-family="sans-serif" font-size="12">Layer</text>`);
  // Colour bar.
  const cbX = LEFT + nCols * CELL_W + 20, cbH = Math.max(60, nRows * CELL_H);
  out.push('<defs><linearGradient id="cb" x1="0" y1="1" x2="0" y2="0">');
  RDBU_R.forEach((c, i) => out.push(`<stop offset="${(i / (RDBU_R.length - 1)).toFixed(3)}" stop-color="${c}"/>`));
  out.push('</linearGradient></defs>');
  out.push(`<rect x="${cbX}" y="${TOP}" width="14" height="${cbH}" fill="url(#cb)" stroke="#999" stroke-width="0.5"/>`);
  out.push(`<text id="cb-max" x="${cbX + 18}" y="${TOP + 8}">${esc(fmtValue(scale.max, stat))}</text>`);
  out.push(`<text id="cb-min" x="${cbX + 18}" y="${TOP + cbH}">${esc(fmtValue(scale.min, stat))}</text>`);
  out.push(`<text id="cb-units" x="${cbX + 18}" y="${TOP + cbH / 2 + 4}" fill="#666">${esc(scale.log ? 'log' : TRAJECTORY_STATS[stat].units)}</text>`);
  out.push('</svg>');
  return out.join('\n');
}

/**
 * The heatmap as a self-contained HTML page: the SVG above, a selector that recolours
 * it by another statistic, and a tooltip with the top-k tokens. Works offline.
 */
export function renderTrajectoryHtml(t: Trajectory, opts: PlotOptions = {}): string {
  const stat = opts.stat ?? 'entropy';
  const k = opts.hoverTopK ?? 10;
  const stats = Object.keys(TRAJECTORY_STATS) as TrajectoryStat[];
  const data = {
    stats: Object.fromEntries(stats.map((s) => {
      const values = statisticGrid(t, s);
      const scale = statScale(values, s);
      return [s, {
        title: TRAJECTORY_STATS[s].title, units: TRAJECTORY_STATS[s].units,
        norm: values.map((row) => row.map((v) => (Number.isFinite(v) ? Number(scale.norm(v).toFixed(5)) : null))),
        text: values.map((row) => row.map((v) => fmtValue(v, s))),
        min: fmtValue(scale.min, s), max: fmtValue(scale.max, s), log: scale.log,
      }];
    })),
    hover: t.cells.map((row, r) => row.map((c, p) => ({
      where: `layer ${rowLabel(t, t.rows[r])}, position ${p} (input ${formatToken(t.tokens[p], 12)})`,
      top: c.top.slice(0, k).map((x) => [formatToken(x.text, 16), (100 * x.prob).toFixed(2)]),
    }))),
    lens: t.lens, model: t.modelName,
    colours: RDBU_R,
  };
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const title = opts.title ?? `Prediction trajectory: ${t.lens} lens, ${t.modelName}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)}</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 16px; color: #222; }
  h1 { font-size: 16px; font-weight: 600; margin: 0 0 8px; }
  .controls { margin: 0 0 8px; font-size: 13px; }
  #plot { overflow-x: auto; }
  #tip { position: fixed; pointer-events: none; display: none; background: rgb(42,42,50); color: #eee;
         font: 12px ui-monospace, Menlo, Consolas, monospace; padding: 8px 10px; border-radius: 4px;
         white-space: pre; box-shadow: 0 2px 8px rgba(0,0,0,.3); z-index: 10; }
  .cell { cursor: default; }
  .cell:hover rect { stroke: #222; stroke-width: 1.5; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<div class="controls"><label>Statistic <select id="stat">${stats.map((s) => `<option value="${s}"${s === stat ? ' selected' : ''}>${esc(TRAJECTORY_STATS[s].title)}</option>`).join('')}</select></label></div>
<div id="plot">
${renderTrajectorySvg(t, { ...opts, stat, title: `${TRAJECTORY_STATS[stat].title} (${TRAJECTORY_STATS[stat].units})` })}
</div>
<div id="tip"></div>
<script type="application/json" id="trajectory-data">${json}</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById('trajectory-data').textContent);
  var cols = data.colours.map(function (h) { return [1, 3, 5].map(function (i) { return parseInt(h.slice(i, i + 2), 16); }); });
  function colour(x) {
    if (x === null) return '#e0e0e0';
    var t = Math.min(1, Math.max(0, x)) * (cols.length - 1), i = Math.min(cols.length - 2, Math.floor(t)), f = t - i;
    var c = cols[i].map(function (v, k) { return Math.round(v + (cols[i + 1][k] - v) * f); });
    return 'rgb(' + c.join(',') + ')';
  }
  var cells = Array.prototype.slice.call(document.querySelectorAll('g.cell'));
  cells.forEach(function (g) { var t = g.querySelector('title'); if (t) t.remove(); });
  var current = document.getElementById('stat').value;
  function paint(stat) {
    current = stat;
    var s = data.stats[stat];
    cells.forEach(function (g) {
      var r = +g.getAttribute('data-r'), p = +g.getAttribute('data-p'), x = s.norm[r][p];
      g.querySelector('rect').setAttribute('fill', colour(x));
      g.querySelector('text').setAttribute('fill', x !== null && (x < 0.22 || x > 0.8) ? '#fff' : '#000');
    });
    document.getElementById('cb-min').textContent = s.min;
    document.getElementById('cb-max').textContent = s.max;
    document.getElementById('cb-units').textContent = s.log ? 'log' : s.units;
    document.getElementById('plot-title').textContent = s.title + ' (' + s.units + ')';
  }
  document.getElementById('stat').addEventListener('change', function (e) { paint(e.target.value); });
  var tip = document.getElementById('tip');
  cells.forEach(function (g) {
    g.addEventListener('mousemove', function (e) {
      var r = +g.getAttribute('data-r'), p = +g.getAttribute('data-p'), h = data.hover[r][p], s = data.stats[current];
      var lines = [h.where, s.title + ': ' + s.text[r][p] + (s.units === 'rank' ? '' : ' ' + s.units), ''];
      h.top.forEach(function (x, i) { lines.push((i < 9 ? ' ' : '') + (i + 1) + '. ' + (x[0] + '                ').slice(0, 16) + ' ' + x[1] + '%'); });
      tip.textContent = lines.join('\\n');
      tip.style.display = 'block';
      tip.style.left = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + 'px';
      tip.style.top = Math.min(e.clientY + 14, window.innerHeight - tip.offsetHeight - 8) + 'px';
    });
    g.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  });
})();
</script>
</body>
</html>
`;
}

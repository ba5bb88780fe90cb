// The per-layer table and the heatmap files: layout, escaping, self-containment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  colourAt, formatToken, formatTrajectoryTable, renderTrajectoryHtml, renderTrajectorySvg, statisticGrid, statScale,
  type Trajectory, type TrajectoryCell,
} from '../src/predict/index';

function cell(text: string, prob: number, extra: Partial<TrajectoryCell> = {}): TrajectoryCell {
  return {
    top: [{ id: 1, text, prob }, { id: 2, text: '<b>&', prob: (1 - prob) / 2 }],
    entropy: 1 - prob, crossEntropy: 2 * (1 - prob), targetRank: 1, klToModel: 0.5 - prob / 2, maxProb: prob, ...extra,
  };
}

// 2 lensed layers + output, 3 positions
const traj: Trajectory = {
  lens: 'tuned', modelName: 'tiny', tokens: ['The', ' cat', '\n'], tokenIds: [10, 11, 12], rows: [0, 1, 2], numLayers: 2,
  cells: [
    [cell(' the', 0.1), cell(' a', 0.2), cell('x', 0.05, { crossEntropy: NaN, targetRank: 0 })],
    [cell(' dog', 0.4), cell(' sat', 0.5), cell('</svg>', 0.3, { crossEntropy: NaN, targetRank: 0 })],
    [cell(' cat', 0.9), cell(' sat', 0.8), cell('The', 0.7, { crossEntropy: NaN, targetRank: 0 })],
  ],
};

test('formatToken: spaces, newlines, control characters, long tokens, empty', () => {
  assert.equal(formatToken(' the'), '·the');
  assert.equal(formatToken('a\nb\t'), 'a↵b→');
  assert.equal(formatToken('\u0001'), '�');
  assert.equal(formatToken('abcdefghij'), 'abcdef…');
  assert.equal(formatToken('abcdefghij', 4), 'abc…');
  assert.equal(formatToken(''), '∅');
});

test('the per-layer table: rows = layers then output, columns = positions, top-1 per cell', () => {
  assert.equal(formatTrajectoryTable(traj), [
    'pos     | 0       | 1       | 2',
    'input   | The     | ·cat    | ↵',
    '--------+---------+---------+--------',
    'layer 0 | ·the    | ·a      | x',
    'layer 1 | ·dog    | ·sat    | </svg>',
    'output  | ·cat    | ·sat    | The',
  ].join('\n'));
  // narrow terminals: positions wrap into blocks with their own headers
  const wrapped = formatTrajectoryTable(traj, { width: 30 }).split('\n');
  assert.equal(wrapped.filter((l) => l.startsWith('pos ')).length, 2);
  assert.ok(wrapped.every((l) => [...l].length <= 30), wrapped.join('\n'));
});

test('statistics grids and colour scales', () => {
  assert.deepEqual(statisticGrid(traj, 'max_probability').map((r) => r.map((x) => x)), [[0.1, 0.2, 0.05], [0.4, 0.5, 0.3], [0.9, 0.8, 0.7]]);
  const ce = statisticGrid(traj, 'cross_entropy');
  assert.ok(Number.isNaN(ce[0][2]));
  const s = statScale(ce, 'cross_entropy');
  assert.equal(s.min, 0);
  assert.ok(Math.abs(s.max - 1.8) < 1e-12);
  assert.equal(colourAt(0), 'rgb(5,48,97)');
  assert.equal(colourAt(1), 'rgb(103,0,31)');
  assert.equal(colourAt(NaN), '#e0e0e0');
  assert.equal(statScale([[1, 100]], 'rank').norm(100), 1);
});

/** Tags open and close in order (enough to catch broken escaping). */
function assertBalanced(xml: string) {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, selfClose] = m;
    if (selfClose) continue;
    if (['meta', 'br', 'input'].includes(name)) continue;
    if (close) assert.equal(stack.pop(), name, `</${name}> closes <${stack.at(-1)}>`);
    else stack.push(name);
  }
  assert.deepEqual(stack, []);
}

test('SVG: one cell per (row, position), escaped labels and hover text, output on top', () => {
  const svg = renderTrajectorySvg(traj, { stat: 'entropy' });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.equal([...svg.matchAll(/<g class="cell"/g)].length, 9);
  assert.ok(svg.includes('&lt;/svg&gt;'), 'a token that looks like markup is escaped');
  assert.ok(!svg.includes('<b>'));
  assertBalanced(svg.replace(/<title>[\s\S]*?<\/title>/g, ''));
  assertBalanced(svg);
  // hover: where, the statistic, the top tokens with percentages
  assert.match(svg, /<title>layer output, position 0 \(input The\)\nEntropy: 0\.10 nats\n 1\. ·cat {10}90\.00%\n 2\. &lt;b&gt;&amp; {11}5\.00%<\/title>/);
  // rows top-down from the output: "output" label above layer 0
  const yOf = (label: string) => Number(new RegExp(`<text x="\\d+" y="(\\d+)" text-anchor="end">${label}</text>`).exec(svg)![1]);
  assert.ok(yOf('output') < yOf('1') && yOf('1') < yOf('0'));
  // no external references
  assert.doesNotMatch(svg.replace('xmlns="http://www.w3.org/2000/svg"', ''), /https?:|href=|src=/);
});

test('HTML: self-contained page with the SVG, a statistic selector and the data for hover', () => {
  const html = renderTrajectoryHtml(traj, { stat: 'forward_kl' });
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html.replace('xmlns="http://www.w3.org/2000/svg"', ''), /https?:|<link|src=|@import/);
  assert.match(html, /<option value="forward_kl" selected>Forward KL<\/option>/);
  const json = /<script type="application\/json" id="trajectory-data">([\s\S]*?)<\/script>/.exec(html)![1];
  assert.ok(!json.includes('</'), 'no closing tags inside the embedded JSON');
  const data = JSON.parse(json);
  assert.deepEqual(Object.keys(data.stats), ['entropy', 'cross_entropy', 'forward_kl', 'max_probability', 'rank']);
  assert.equal(data.stats.cross_entropy.norm[0][2], null);
  assert.deepEqual(data.hover[1][2].top[0], ['</svg>', '30.00']);
  assertBalanced(html.replace(/<script[\s\S]*?<\/script>/g, '').replace(/<style[\s\S]*?<\/style>/g, ''));
});

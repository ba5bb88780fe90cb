/**
 * A prediction trajectory as a client holds it: per row (lensed layers, then the model
 * output) and input position, the top tokens with their text and the cell statistics.
 * Compact (top-k only), so it is what tables and plots are drawn from. Also the token
 * formatting shared by them and the per-layer table the CLI prints.
 */

export interface TrajectoryToken {
  id: number;
  text: string;
  prob: number;
}

export interface TrajectoryCell {
  /** Most probable first. */
  top: TrajectoryToken[];
  entropy: number;
  /** NaN at the last position. */
  crossEntropy: number;
  /** 0 at the last position. */
  targetRank: number;
  klToModel: number;
  maxProb: number;
}

export interface Trajectory {
  /** 'tuned', 'logit', ... (names the lens in titles). */
  lens: string;
  modelName: string;
  /** Input tokens, each decoded on its own. */
  tokens: string[];
  tokenIds: number[];
  /** Layer of each row: lensed layers, then numLayers for the model output. */
  rows: number[];
  numLayers: number;
  /** [row][position]. */
  cells: TrajectoryCell[][];
  vocabSize?: number;
}

/** The statistics a trajectory can be coloured by (the original's names in `title`). */
export const TRAJECTORY_STATS = {
  entropy: { title: 'Entropy', units: 'nats', get: (c: TrajectoryCell) => c.entropy },
  cross_entropy: { title: 'Cross Entropy', units: 'nats', get: (c: TrajectoryCell) => c.crossEntropy },
  forward_kl: { title: 'Forward KL', units: 'nats', get: (c: TrajectoryCell) => c.klToModel },
  max_probability: { title: 'Max Probability', units: 'probs', get: (c: TrajectoryCell) => c.maxProb },
  rank: { title: 'Rank', units: 'rank', get: (c: TrajectoryCell) => (c.targetRank > 0 ? c.targetRank : NaN) },
} as const;

export type TrajectoryStat = keyof typeof TRAJECTORY_STATS;

export function isTrajectoryStat(s: string): s is TrajectoryStat {
  return Object.prototype.hasOwnProperty.call(TRAJECTORY_STATS, s);
}

/** [row][position] values of a statistic (NaN where undefined, e.g. CE at the end). */
export function statisticGrid(t: Trajectory, stat: TrajectoryStat): number[][] {
  const get = TRAJECTORY_STATS[stat].get;
  return t.cells.map((row) => row.map(get));
}

/** "0", "1", ... for lensed layers, "output" for the model row. */
export function rowLabel(t: Pick<Trajectory, 'numLayers'>, layer: number): string {
  return layer === t.numLayers ? 'output' : String(layer);
}

/**
 * A token for display in a cell: spaces as "·", newlines as "↵", tabs as "→", other
 * control characters as "�"; longer than `maxLen` characters: cut with "…" (the
 * original's TokenFormatter shows 7).
 */
export function formatToken(text: string, maxLen = 7): string {
  let s = '';
  for (const ch of text) {
    if (ch === ' ') s += '·';
    else if (ch === '\n') s += '↵';
    else if (ch === '\t') s += '→';
    else if (ch === '\r') s += '⏎';
    else if (/\p{Cc}/u.test(ch)) s += '�';
    else s += ch;
  }
  if (s === '') return '∅';
  const chars = [...s];
  return chars.length > maxLen ? chars.slice(0, Math.max(1, maxLen - 1)).join('') + '…' : s;
}

export interface TableOptions {
  /** Characters per line before positions wrap into another block; default 100. */
  width?: number;
  /** Characters per token column; default 7. */
  cellWidth?: number;
}

/** Display width: code points (the symbols used here are all one column wide). */
const widthOf = (s: string) => [...s].length;
const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - widthOf(s)));

/**
 * The per-layer table: rows = layers 0..L-1 then "output", columns = positions (headed
 * by the input token), cell = the top-1 token. Wide inputs wrap into blocks of columns.
 */
export function formatTrajectoryTable(t: Trajectory, opts: TableOptions = {}): string {
  const cw = opts.cellWidth ?? 7;
  const width = opts.width ?? 100;
  const labels = t.rows.map((l) => (l === t.numLayers ? 'output' : `layer ${l}`));
  const lw = Math.max(5, ...labels.map(widthOf));
  const perBlock = Math.max(1, Math.floor((width - lw - 1) / (cw + 3)));
  const lines: string[] = [];
  for (let p0 = 0; p0 < t.tokens.length; p0 += perBlock) {
    const ps = Array.from({ length: Math.min(perBlock, t.tokens.length - p0) }, (_, i) => p0 + i);
    const row = (label: string, cells: string[]) => `${pad(label, lw)} | ${cells.map((c) => pad(c, cw)).join(' | ')}`.trimEnd();
    if (lines.length) lines.push('');
    lines.push(row('pos', ps.map(String)));
    lines.push(row('input', ps.map((p) => formatToken(t.tokens[p], cw))));
    lines.push(`${'-'.repeat(lw)}-+-${ps.map(() => '-'.repeat(cw)).join('-+-')}`);
    t.rows.forEach((_, r) => {
      lines.push(row(labels[r], ps.map((p) => formatToken(t.cells[r][p].top[0]?.text ?? '', cw))));
    });
  }
  return lines.join('\n');
}

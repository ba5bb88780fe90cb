/**
 * Trajectory statistics of one prediction cell (one layer at one position), computed on
 * the host from a single row of log-probabilities in two passes over the vocabulary,
 * in float64: top-k, entropy, cross-entropy and rank of the next token, KL to the
 * model, max probability. And the distances between two distributions, with the true
 * definitions (the original's "JS divergence" is half the symmetric KL and its "total
 * variation" the largest |p - q|; both are fixed here).
 *
 * Rows come from an engine's log_softmax in f32; they are renormalised in float64
 * first, so the statistics are exact for the f32 log-probabilities given.
 */

/** A token and its probability. */
export interface TokenScore {
  id: number;
  prob: number;
}

/** The statistics of one cell (the original's PredictionTrajectory per-cell values). */
export interface CellStats {
  /** Most probable first; ties by lower id. */
  top: TokenScore[];
  /** -sum p log p, nats. */
  entropy: number;
  /** -log p(target), nats; NaN without a target. */
  crossEntropy: number;
  /** 1 + the number of tokens strictly more probable than the target; 0 without one. */
  targetRank: number;
  /** KL(p_model || p), nats; NaN without a model row. */
  klToModel: number;
  maxProb: number;
}

export interface RowStatisticsOptions {
  topK: number;
  /** The next token, or -1 (last position). */
  target?: number;
  /** The model's log-probabilities at the same position, for KL(model || this). */
  modelLogProbs?: Float32Array;
}

/** log sum exp over a row, in float64. */
export function logSumExp(row: ArrayLike<number>): number {
  let max = -Infinity;
  for (let v = 0; v < row.length; v++) if (row[v] > max) max = row[v];
  if (max === -Infinity || !Number.isFinite(max)) return max;
  let s = 0;
  for (let v = 0; v < row.length; v++) s += Math.exp(row[v] - max);
  return max + Math.log(s);
}

/**
 * Keeps the k largest values seen, largest first (ties: the earlier index wins, as ids
 * arrive in increasing order). Insertion into a sorted array: O(V) for a typical row
 * since most values fall below the current k-th.
 */
export class TopK {
  readonly ids: Int32Array;
  readonly values: Float64Array;
  size = 0;

  constructor(readonly k: number) {
    this.ids = new Int32Array(k);
    this.values = new Float64Array(k);
  }

  push(id: number, value: number): void {
    const k = this.k;
    if (k === 0) return;
    if (this.size === k && !(value > this.values[k - 1])) return;
    let i = this.size < k ? this.size++ : k - 1;
    while (i > 0 && value > this.values[i - 1]) {
      this.values[i] = this.values[i - 1];
      this.ids[i] = this.ids[i - 1];
      i--;
    }
    this.values[i] = value;
    this.ids[i] = id;
  }
}

/** Statistics of one row of log-probabilities (length = vocabulary). */
export function rowStatistics(logq: Float32Array, opts: RowStatisticsOptions): CellStats {
  const V = logq.length;
  const k = Math.min(opts.topK, V);
  const target = opts.target ?? -1;
  if (target >= V) throw new RangeError(`target ${target} is outside the vocabulary of ${V}`);
  const lp = opts.modelLogProbs;
  if (lp && lp.length !== V) throw new RangeError(`model row has ${lp.length} entries, the lens row ${V}`);
  const zq = logSumExp(logq);
  const zp = lp ? logSumExp(lp) : 0;
  const top = new TopK(k);
  const targetRaw = target >= 0 ? logq[target] : NaN;
  let entropy = 0, kl = 0, greater = 0, max = -Infinity;
  for (let v = 0; v < V; v++) {
    const raw = logq[v];
    const lq = raw - zq;
    const p = Math.exp(lq);
    if (p > 0) entropy -= p * lq;
    if (raw > max) max = raw;
    if (raw > targetRaw) greater++;
    top.push(v, raw);
    if (lp) {
      const lpv = lp[v] - zp;
      const pm = Math.exp(lpv);
      if (pm > 0) kl += pm * (lpv - lq);
    }
  }
  const out: TokenScore[] = [];
  for (let i = 0; i < top.size; i++) out.push({ id: top.ids[i], prob: Math.exp(top.values[i] - zq) });
  return {
    top: out,
    entropy,
    crossEntropy: target >= 0 ? -(targetRaw - zq) : NaN,
    targetRank: target >= 0 ? greater + 1 : 0,
    klToModel: lp ? kl : NaN,
    maxProb: Math.exp(max - zq),
  };
}

/** A token whose probability changed between two distributions. */
export interface TokenDelta {
  id: number;
  /** q - p. */
  delta: number;
}

/** Distances between two distributions P and Q over the same vocabulary. */
export interface Distances {
  /** KL(P || Q), nats. */
  kl: number;
  /** 1/2 KL(P || M) + 1/2 KL(Q || M), M = (P + Q) / 2; nats, in [0, ln 2]. */
  js: number;
  /** 1/2 sum |p - q|, in [0, 1]. */
  tv: number;
  /** The `topK` tokens with the largest |q - p|, largest first. */
  largestDeltas: TokenDelta[];
}

/** KL, Jensen-Shannon and total variation between two rows of log-probabilities. */
export function distributionDistances(logp: Float32Array, logq: Float32Array, topK = 0): Distances {
  const V = logp.length;
  if (logq.length !== V) throw new RangeError(`rows differ in length: ${V} vs ${logq.length}`);
  const zp = logSumExp(logp), zq = logSumExp(logq);
  const top = new TopK(Math.min(topK, V));
  const deltas = new Float64Array(topK > 0 ? V : 0);
  let kl = 0, jsP = 0, jsQ = 0, l1 = 0;
  for (let v = 0; v < V; v++) {
    const lp = logp[v] - zp, lq = logq[v] - zq;
    const p = Math.exp(lp), q = Math.exp(lq);
    if (p > 0) kl += p * (lp - lq);
    if (p > 0 || q > 0) {
      // log m = log((p + q) / 2) = logaddexp(lp, lq) - ln 2, stable for tiny p and q.
      const hi = Math.max(lp, lq), lo = Math.min(lp, lq);
      const lm = hi + Math.log1p(Math.exp(lo - hi)) - Math.LN2;
      if (p > 0) jsP += p * (lp - lm);
      if (q > 0) jsQ += q * (lq - lm);
    }
    const d = q - p;
    l1 += Math.abs(d);
    if (topK > 0) {
      deltas[v] = d;
      top.push(v, Math.abs(d));
    }
  }
  const largestDeltas: TokenDelta[] = [];
  for (let i = 0; i < top.size; i++) largestDeltas.push({ id: top.ids[i], delta: deltas[top.ids[i]] });
  return { kl, js: 0.5 * jsP + 0.5 * jsQ, tv: 0.5 * l1, largestDeltas };
}

// An independent float64 oracle for lens predictions and metrics, written from the
// definitions with plain loops (no engine, no code shared with src/predict or
// src/eval): translator, final norm, unembedding, log-softmax, and the statistics.
import type { Unembedding } from '../src/math/index';
import type { Translator } from '../src/io/index';

/** log-softmax of W_U norm(h + W h + b) + b_U for every row of h [n, d] (float64). */
export function oracleLogProbs(u: Unembedding, h: Float32Array, t?: Translator | null, opts: { normed?: boolean } = {}): Float64Array[] {
  const d = u.dModel, V = u.vocabSize, n = h.length / d;
  const rows: Float64Array[] = [];
  for (let r = 0; r < n; r++) {
    const z = new Float64Array(d);
    for (let o = 0; o < d; o++) {
      let s = h[r * d + o];
      if (t) {
        s += t.bias ? t.bias[o] : 0;
        for (let i = 0; i < d; i++) s += t.weight[o * d + i] * h[r * d + i];
      }
      z[o] = s;
    }
    let x: Float64Array;
    if (opts.normed) {
      x = z; // already through the final norm (HF hidden state L)
    } else if (u.norm === 'layer_norm') {
      const mean = z.reduce((a, b) => a + b, 0) / d;
      const v = z.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
      x = z.map((zi, i) => ((zi - mean) / Math.sqrt(v + u.eps)) * u.normWeight[i] + (u.normBias ? u.normBias[i] : 0));
    } else {
      const ms = z.reduce((a, b) => a + b * b, 0) / d;
      const w = (i: number) => (u.norm === 'rms_norm_plus_one' ? 1 + u.normWeight[i] : u.normWeight[i]);
      x = z.map((zi, i) => (zi / Math.sqrt(ms + u.eps)) * w(i));
    }
    const logits = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let s = u.lmHeadBias ? u.lmHeadBias[v] : 0;
      for (let i = 0; i < d; i++) s += u.lmHead[v * d + i] * x[i];
      logits[v] = s;
    }
    const max = Math.max(...logits);
    const z2 = Math.log(logits.reduce((a, b) => a + Math.exp(b - max), 0)) + max;
    rows.push(logits.map((l) => l - z2));
  }
  return rows;
}

export interface OracleCell {
  entropy: number;
  crossEntropy: number;
  rank: number;
  kl: number;
  maxProb: number;
  /** Ids by descending probability (ties: lower id). */
  order: number[];
  probs: number[];
}

export function oracleCell(logq: Float64Array, target: number, model?: Float64Array): OracleCell {
  const probs = Array.from(logq, Math.exp);
  const entropy = -probs.reduce((a, p, v) => a + (p > 0 ? p * logq[v] : 0), 0);
  const order = probs.map((_, v) => v).sort((a, b) => probs[b] - probs[a] || a - b);
  let rank = 0;
  if (target >= 0) rank = 1 + probs.filter((p) => p > probs[target]).length;
  const kl = model ? model.reduce((a, lp, v) => a + Math.exp(lp) * (lp - logq[v]), 0) : NaN;
  return { entropy, crossEntropy: target >= 0 ? -logq[target] : NaN, rank, kl, maxProb: Math.max(...probs), order, probs };
}

/** JS and TV from the textbook definitions. */
export function oracleDistances(logp: ArrayLike<number>, logq: ArrayLike<number>): { kl: number; js: number; tv: number } {
  const p = Array.from(logp, Math.exp), q = Array.from(logq, Math.exp);
  const zp = p.reduce((a, b) => a + b, 0), zq = q.reduce((a, b) => a + b, 0);
  const P = p.map((x) => x / zp), Q = q.map((x) => x / zq);
  const M = P.map((x, i) => (x + Q[i]) / 2);
  const kl = (A: number[], B: number[]) => A.reduce((s, a, i) => s + (a > 0 ? a * Math.log(a / B[i]) : 0), 0);
  return { kl: kl(P, Q), js: 0.5 * kl(P, M) + 0.5 * kl(Q, M), tv: 0.5 * P.reduce((s, a, i) => s + Math.abs(a - Q[i]), 0) };
}

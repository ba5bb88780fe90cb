// The independent computation the service is checked against: plain float64 loops from
// the definitions, over hidden states extracted in-process (no engine, no code shared
// with libs/lens's evaluator or predictor).
import type { LoadedModel, UnembeddingTensors } from '@tuned-lens/models';

export interface OracleTranslator {
  weight: Float32Array;
  bias: Float32Array | null;
}

/** log-softmax(W_U norm(h + W h + b) + b_U) of one row; `normed` = h is already through the final norm. */
export function lensRow(u: UnembeddingTensors, d: number, h: ArrayLike<number>, t: OracleTranslator | null, normed = false): Float64Array {
  const V = u.lmHead.length / d;
  const z = new Float64Array(d);
  for (let o = 0; o < d; o++) {
    let s = h[o];
    if (t) {
      s += t.bias ? t.bias[o] : 0;
      for (let i = 0; i < d; i++) s += t.weight[o * d + i] * h[i];
    }
    z[o] = s;
  }
  let x: Float64Array;
  if (normed) x = z;
  else if (u.spec.norm === 'layer_norm') {
    const mean = z.reduce((a, b) => a + b, 0) / d;
    const v = z.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
    x = z.map((zi, i) => ((zi - mean) / Math.sqrt(v + u.spec.eps)) * u.normWeight[i] + (u.normBias ? u.normBias[i] : 0));
  } else {
    const ms = z.reduce((a, b) => a + b * b, 0) / d;
    const w = (i: number) => (u.spec.norm === 'rms_norm_plus_one' ? 1 + u.normWeight[i] : u.normWeight[i]);
    x = z.map((zi, i) => (zi / Math.sqrt(ms + u.spec.eps)) * w(i));
  }
  const logits = new Float64Array(V);
  let max = -Infinity;
  for (let v = 0; v < V; v++) {
    let s = u.lmHeadBias ? u.lmHeadBias[v] : 0;
    for (let i = 0; i < d; i++) s += u.lmHead[v * d + i] * x[i];
    logits[v] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[v] - max);
  const lz = max + Math.log(sum);
  return logits.map((l) => l - lz);
}

export const entropyOf = (lp: Float64Array) => lp.reduce((a, l) => a + (l > -Infinity ? -Math.exp(l) * l : 0), 0);
export const klOf = (lp: Float64Array, lq: Float64Array) => lp.reduce((a, l, v) => a + Math.exp(l) * (l - lq[v]), 0);

export interface OracleMetrics {
  /** [lens][metric][layer] means over batches of per-batch means, nats. */
  logit: { ce: number[]; entropy: number[]; kl: number[] };
  tuned?: { ce: number[]; entropy: number[]; kl: number[] };
  baseline: { ce: number; entropy: number };
  /** transfer[i][j] for the tuned lens. */
  transfer?: { ce: number[][]; kl: number[][] };
  /** Mean model distribution over all tokens (a few ids). */
  baselineMarginal: Float64Array;
}

/**
 * The original eval_loop's numbers for batches of token rows: hidden states from the
 * model run in-process, every metric per batch (mean over positions; CE over the
 * first T-1), then the mean over batches.
 */
export async function oracleEval(model: LoadedModel, forward: (ids: Int32Array, b: number, t: number) => Promise<Map<number, Float32Array>>, batches: Int32Array[][], tuned?: OracleTranslator[]): Promise<OracleMetrics> {
  const { dModel: d, numLayers: L, vocabSize: V } = model.dims;
  const u = model.unembedding();
  const zeros = (n: number) => new Array<number>(n).fill(0);
  const acc = { logit: { ce: zeros(L), entropy: zeros(L), kl: zeros(L) }, tuned: tuned ? { ce: zeros(L), entropy: zeros(L), kl: zeros(L) } : undefined };
  const base = { ce: 0, entropy: 0 };
  const transfer = tuned ? { ce: Array.from({ length: L }, () => zeros(L)), kl: Array.from({ length: L }, () => zeros(L)) } : undefined;
  const marginal = new Float64Array(V);
  let tokens = 0;
  for (const rows of batches) {
    const B = rows.length, T = rows[0].length;
    const ids = new Int32Array(B * T);
    rows.forEach((r, i) => ids.set(r, i * T));
    const hs = await forward(ids, B, T);
    const row = (l: number, b: number, t: number) => hs.get(l)!.subarray((b * T + t) * d, (b * T + t + 1) * d);
    const model = rows.map((_, b) => Array.from({ length: T }, (_, t) => lensRow(u, d, row(L, b, t), null, true)));
    let ce = 0, ent = 0;
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
      ent += entropyOf(model[b][t]);
      if (t < T - 1) ce -= model[b][t][rows[b][t + 1]];
      model[b][t].forEach((l, v) => { marginal[v] += Math.exp(l); });
    }
    base.ce += ce / (B * (T - 1));
    base.entropy += ent / (B * T);
    tokens += B * T;
    for (let j = 0; j < L; j++) {
      for (const lens of tuned ? ['logit', 'tuned'] as const : ['logit'] as const) {
        const tr = lens === 'tuned' ? tuned![j] : null;
        let c = 0, e = 0, k = 0;
        const own: Float64Array[][] = [];
        for (let b = 0; b < B; b++) {
          own.push([]);
          for (let t = 0; t < T; t++) {
            const lq = lensRow(u, d, row(j, b, t), tr);
            own[b].push(lq);
            e += entropyOf(lq);
            k += klOf(model[b][t], lq);
            if (t < T - 1) c -= lq[rows[b][t + 1]];
          }
        }
        const m = acc[lens]!;
        m.ce[j] += c / (B * (T - 1)); m.entropy[j] += e / (B * T); m.kl[j] += k / (B * T);
        if (lens === 'tuned' && transfer) {
          for (let i = 0; i < L; i++) {
            let tc = 0, tk = 0;
            for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
              const lq = lensRow(u, d, row(j, b, t), tuned![i]);
              tk += klOf(own[b][t], lq);
              if (t < T - 1) tc -= lq[rows[b][t + 1]];
            }
            transfer.ce[i][j] += tc / (B * (T - 1));
            transfer.kl[i][j] += tk / (B * T);
          }
        }
      }
    }
  }
  const n = batches.length;
  const mean = (m: { ce: number[]; entropy: number[]; kl: number[] }) => ({ ce: m.ce.map((x) => x / n), entropy: m.entropy.map((x) => x / n), kl: m.kl.map((x) => x / n) });
  return {
    logit: mean(acc.logit),
    tuned: acc.tuned ? mean(acc.tuned) : undefined,
    baseline: { ce: base.ce / n, entropy: base.entropy / n },
    transfer: transfer ? { ce: transfer.ce.map((r) => r.map((x) => x / n)), kl: transfer.kl.map((r) => r.map((x) => x / n)) } : undefined,
    baselineMarginal: marginal.map((x) => x / tokens),
  };
}

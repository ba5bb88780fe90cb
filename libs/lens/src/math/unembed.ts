/**
 * The unembedding (the model's final norm + LM head) over engine-neutral ops, and the
 * host-side description of it that lens programs take as params.
 */
import type { HostArray, Ops } from '@tuned-lens/engine';

export type NormKind = 'layer_norm' | 'rms_norm' | 'rms_norm_plus_one';

/** What a lens needs of the model: everything that turns a hidden state into logits. */
export interface Unembedding {
  norm: NormKind;
  eps: number;
  /** [d] */
  normWeight: Float32Array;
  /** [d], LayerNorm only. */
  normBias?: Float32Array;
  /** W_U as [vocab, d] (HF / nn.Linear layout). */
  lmHead: Float32Array;
  /** [vocab] */
  lmHeadBias?: Float32Array;
  dModel: number;
  vocabSize: number;
}

/** [rows, cols] -> [cols, rows]. */
function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/**
 * Program params of an unembedding: 'u.norm_w' [d] (1 + w for Gemma, so every norm is
 * x_hat * w), 'u.norm_b' [d] (zeros for RMSNorm), 'u.head' [d, vocab] (the [in, out] layout
 * of Ops.linear), 'u.head_b' [vocab] only when the model has an LM-head bias (most do not,
 * and adding zeros would cost a full pass over [rows, vocab] per call).
 */
export function unembeddingParams(u: Unembedding): Map<string, HostArray> {
  const d = u.dModel, v = u.vocabSize;
  const w = u.norm === 'rms_norm_plus_one' ? u.normWeight.map((x) => 1 + x) : u.normWeight;
  return new Map<string, HostArray>([
    ['u.norm_w', { shape: [d], data: w }],
    ['u.norm_b', { shape: [d], data: u.normBias ?? new Float32Array(d) }],
    ['u.head', { shape: [d, v], data: transpose(u.lmHead, v, d) }],
    ...(u.lmHeadBias ? [['u.head_b', { shape: [v], data: u.lmHeadBias }] as [string, HostArray]] : []),
  ]);
}

/** The LM-head bias [vocab] as a program param, or null when the model has none. */
export function headBias<T>(ops: Ops<T>, u: Pick<Unembedding, 'lmHeadBias'>): T | null {
  return u.lmHeadBias ? ops.param('u.head_b') : null;
}

/** final_norm(x): LayerNorm or RMSNorm over the last axis. */
export function finalNorm<T>(ops: Ops<T>, u: Pick<Unembedding, 'norm' | 'eps'>, x: T): T {
  return u.norm === 'layer_norm'
    ? ops.layerNorm(x, ops.param('u.norm_w'), ops.param('u.norm_b'), u.eps)
    : ops.rmsNorm(x, ops.param('u.norm_w'), u.eps, false);
}

/** logits = W_U final_norm(x) + b_U. x [..., d] -> [..., vocab]. */
export function unembed<T>(ops: Ops<T>, u: Pick<Unembedding, 'norm' | 'eps' | 'lmHeadBias'>, x: T): T {
  return ops.linear(finalNorm(ops, u, x), ops.param('u.head'), headBias(ops, u));
}

/**
 * Backward of final_norm at z: given dL/dn, returns dL/dz. x_hat = (z - mu) * rstd for
 * LayerNorm, z * r for RMSNorm; n = x_hat * w (+ b).
 *   LayerNorm: dz = rstd * (a - mean(a) - x_hat * mean(a * x_hat)),  a = dn * w
 *   RMSNorm:   dz = r * a - z * r^3 * mean(a * z)
 */
export function finalNormBackward<T>(ops: Ops<T>, u: Pick<Unembedding, 'norm' | 'eps'>, z: T, dn: T): T {
  const a = ops.mul(dn, ops.param('u.norm_w'));
  if (u.norm === 'layer_norm') {
    const zc = ops.sub(z, ops.meanLast(z));
    const rstd = ops.rsqrt(ops.addScalar(ops.meanLast(ops.mul(zc, zc)), u.eps));
    const xhat = ops.mul(zc, rstd);
    return ops.mul(rstd, ops.sub(ops.sub(a, ops.meanLast(a)), ops.mul(xhat, ops.meanLast(ops.mul(a, xhat)))));
  }
  const r = ops.rsqrt(ops.addScalar(ops.meanLast(ops.mul(z, z)), u.eps));
  const r3 = ops.mul(ops.mul(r, r), r);
  return ops.sub(ops.mul(r, a), ops.mul(ops.mul(z, r3), ops.meanLast(ops.mul(a, z))));
}

/** Building blocks shared by the decoder-only architectures, over engine-neutral Ops. */
import type { Ops } from '@tuned-lens/engine';

/** [B, T, H*Dh] -> [B, H, T, Dh]. */
export function splitHeads<T>(ops: Ops<T>, x: T, heads: number, headDim: number): T {
  return ops.transpose(ops.reshapeTail(x, 2, [heads, headDim]), [0, 2, 1, 3]);
}

/** [B, H, T, Dh] -> [B, T, H*Dh]. */
export function mergeHeads<T>(ops: Ops<T>, x: T, heads: number, headDim: number): T {
  return ops.reshapeTail(ops.transpose(x, [0, 2, 1, 3]), 2, [heads * headDim]);
}

/**
 * Causal scaled dot-product attention. q [B, H, T, Dh], k/v [B, Hkv, T, Dh] with
 * H = Hkv * groups (grouped-query attention repeats each kv head `groups` times).
 * `bias` is the [T, T] additive causal mask input. Returns [B, H, T, Dh].
 */
export function attention<T>(ops: Ops<T>, q: T, k: T, v: T, bias: T, headDim: number, groups: number): T {
  const kk = groups > 1 ? ops.repeatHeads(k, groups) : k;
  const vv = groups > 1 ? ops.repeatHeads(v, groups) : v;
  return ops.causalAttention(q, kk, vv, bias, 1 / Math.sqrt(headDim));
}

/**
 * Rotary position embedding, rotate-half convention, on the first `rotaryDim` features
 * of each head (the rest pass through, as GPT-NeoX's partial rotary).
 * x [B, H, T, Dh]; cos/sin [T, rotaryDim].
 */
export function applyRotary<T>(ops: Ops<T>, x: T, cos: T, sin: T, rotaryDim: number, headDim: number): T {
  const rot = rotaryDim === headDim ? x : ops.sliceLast(x, 0, rotaryDim);
  const half = rotaryDim / 2;
  const rotated = ops.concatLast([ops.neg(ops.sliceLast(rot, half, rotaryDim)), ops.sliceLast(rot, 0, half)]);
  const embedded = ops.add(ops.mul(rot, cos), ops.mul(rotated, sin));
  return rotaryDim === headDim ? embedded : ops.concatLast([embedded, ops.sliceLast(x, rotaryDim, headDim)]);
}

/** The final norm + LM head, as every architecture's unembedding. */
export function finalNormAndHead<T>(ops: Ops<T>, h: T, norm: (x: T) => T, lmHead: T, lmHeadBias: T | null): { normed: T; logits: () => T } {
  const normed = norm(h);
  return { normed, logits: () => ops.linear(normed, lmHead, lmHeadBias) };
}

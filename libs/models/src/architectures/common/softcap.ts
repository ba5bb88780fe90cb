/**
 * Gemma 2's tanh soft-capping, x -> cap * tanh(x / cap), over the engine op set.
 *
 * The op set has no tanh (libs/engine would need it in three engines), so it is composed:
 * tanh(y) = 1 - 2 / (1 + e^(2y)), with 1 / u = rsqrt(u)^2 for u >= 1. For large y, e^(2y)
 * overflows to +Infinity and rsqrt gives 0: tanh = 1 exactly; for very negative y the
 * result is -1. The absolute error is a few f32 ulps of 1 (~2e-7) everywhere, i.e. ~2e-7
 * x cap after scaling, far below the golden tolerance (2e-5 x (1 + |x|)).
 */
import type { Ops } from '@tuned-lens/engine';

/** tanh(s * x), elementwise. */
export function scaledTanh<T>(ops: Ops<T>, x: T, s: number): T {
  const r = ops.rsqrt(ops.addScalar(ops.exp(ops.scale(x, 2 * s)), 1));
  return ops.addScalar(ops.scale(ops.mul(r, r), -2), 1);
}

/** cap * tanh(x / cap), elementwise. */
export function softcap<T>(ops: Ops<T>, x: T, cap: number): T {
  return ops.scale(scaledTanh(ops, x, 1 / cap), cap);
}

/**
 * Causal attention with soft-capped scores, softmax(cap * tanh(q kᵀ · scale / cap) + bias) v,
 * as transformers' eager Gemma 2 attention (the cap applies before the mask). q [B, H, T, Dh],
 * k/v [B, Hkv, T, Dh] with H = Hkv * groups, bias [T, T]; returns [B, H, T, Dh]. Composed from
 * plain ops (Ops.causalAttention has no place for the tanh), so masked blocks are computed too.
 */
export function softcappedAttention<T>(ops: Ops<T>, q: T, k: T, v: T, bias: T, scale: number, groups: number, cap: number): T {
  const kk = groups > 1 ? ops.repeatHeads(k, groups) : k;
  const vv = groups > 1 ? ops.repeatHeads(v, groups) : v;
  // scale / cap folded into the tanh's argument: one scale of the scores instead of two.
  const scores = ops.scale(scaledTanh(ops, ops.matmulTransposeB(q, kk), scale / cap), cap);
  return ops.matmul(ops.softmax(ops.add(scores, bias)), vv);
}

/**
 * The components the families' blocks are made of, over engine-neutral Ops. A family's
 * forward composes them; what only one family does stays in its folder.
 *
 * Params have the same names in every family (weights.ts of each maps its checkpoint onto
 * them): per layer, under {@link layer}(i) = `l{i}.`, norms `ln1` and `ln2` (`.w`, plus
 * `.b` for LayerNorm), per-head norms `q_norm` and `k_norm`, attention projections `q`,
 * `k`, `v` (or one fused `qkv`) and `o`, MLP `up`, `down` and `gate`, each `.w` [in, out]
 * and `.b` [out] when the config has biases; and once, `embed` [vocab, d] (token
 * embeddings), `pos` (learned positions), `ln_f` (the final norm), `lm_head` [d, vocab]
 * (and `lm_head.b`).
 *
 * Shapes: x, h [B, T, D]; heads [B, H, T, Dh].
 */
import type { Ops } from '@tuned-lens/engine';
import type { ArchConfig, NormKind } from './types';
import { activate } from './activation';
import { softcappedAttention } from './softcap';

/** The param prefix of layer i. */
export const layer = (i: number): string => `l${i}.`;

/** Param `name`, or null when absent (an optional bias). */
export const optionalParam = <T>(ops: Ops<T>, name: string, present: boolean): T | null => (present ? ops.param(name) : null);

/** x @ `${name}.w` (+ `${name}.b` when `bias`): [..., in] -> [..., out]. */
export function linear<T>(ops: Ops<T>, x: T, name: string, bias: boolean): T {
  return ops.linear(x, ops.param(`${name}.w`), optionalParam(ops, `${name}.b`, bias));
}

/** A norm of `kind` over the last axis, weight w (bias b, LayerNorm only). */
export function applyNorm<T>(ops: Ops<T>, kind: NormKind, x: T, w: T, b: T | null, eps: number): T {
  switch (kind) {
    case 'layer_norm': return ops.layerNorm(x, w, b, eps);
    case 'rms_norm': return ops.rmsNorm(x, w, eps, false);
    case 'rms_norm_plus_one': return ops.rmsNorm(x, w, eps, true);
  }
}

/** The norm with params `${name}.w` (and `${name}.b`). */
export type Norm<T> = (x: T, name: string) => T;

/** A family's norm: of `kind` (the same as its unembedding's), epsilon `eps`. */
export function norms<T>(ops: Ops<T>, kind: NormKind, eps: number): Norm<T> {
  return (x, name) => applyNorm(ops, kind, x, ops.param(`${name}.w`), kind === 'layer_norm' ? ops.param(`${name}.b`) : null, eps);
}

/** [B, T, H*Dh] -> [B, H, T, Dh]. */
export function splitHeads<T>(ops: Ops<T>, x: T, heads: number, headDim: number): T {
  return ops.transpose(ops.reshapeTail(x, 2, [heads, headDim]), [0, 2, 1, 3]);
}

/** [B, H, T, Dh] -> [B, T, H*Dh]. */
export function mergeHeads<T>(ops: Ops<T>, x: T, heads: number, headDim: number): T {
  return ops.reshapeTail(ops.transpose(x, [0, 2, 1, 3]), 2, [heads * headDim]);
}

/**
 * Causal attention softmax(q kᵀ · scale + bias) v. q [B, H, T, Dh], k/v [B, Hkv, T, Dh]
 * with H = Hkv * groups (grouped-query attention repeats each kv head `groups` times).
 * `bias` is the additive mask input, [T, T] or [H, T, T]. Returns [B, H, T, Dh].
 */
export function attend<T>(ops: Ops<T>, q: T, k: T, v: T, bias: T, scale: number, groups: number): T {
  const kk = groups > 1 ? ops.repeatHeads(k, groups) : k;
  const vv = groups > 1 ? ops.repeatHeads(v, groups) : v;
  return ops.causalAttention(q, kk, vv, bias, scale);
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

/** The rotary of this forward pass (inputs 'rope_cos' / 'rope_sin' [T, c.rotaryDim]) for [B, H, T, Dh] heads. */
export function rotary<T>(ops: Ops<T>, c: ArchConfig): (x: T) => T {
  const cos = ops.input('rope_cos'), sin = ops.input('rope_sin');
  return (x) => applyRotary(ops, x, cos, sin, c.rotaryDim, c.headDim);
}

/** A transform of the q heads and of the k heads (per-head norms, rotary), applied as each is projected. */
export type QkTransform<T> = (x: T, which: 'q' | 'k') => T;

/** How q, k, v [B, H(kv), T, Dh] come from x of layer prefix `l`, q and k through `qk`. */
export type QkvProjection<T> = (ops: Ops<T>, x: T, l: string, c: ArchConfig, qk: QkTransform<T>) => [T, T, T];

/** Three projections q, k, v (biases when c.qkvBias), each split into heads. */
export function separateQkv<T>(ops: Ops<T>, x: T, l: string, c: ArchConfig, qk: QkTransform<T>): [T, T, T] {
  const heads = (name: string, n: number) => splitHeads(ops, linear(ops, x, `${l}${name}`, c.qkvBias), n, c.headDim);
  const q = qk(heads('q', c.numHeads), 'q');
  const k = qk(heads('k', c.numKvHeads), 'k');
  return [q, k, heads('v', c.numKvHeads)];
}

/**
 * One projection `qkv` (with bias) whose output is laid out per head: [q, k, v] of head 0,
 * then of head 1, ... (GPT-NeoX, BLOOM).
 */
export function fusedQkvPerHead<T>(ops: Ops<T>, x: T, l: string, c: ArchConfig, qk: QkTransform<T>): [T, T, T] {
  const H = c.numHeads, Dh = c.headDim;
  // [B, T, 3D] -> [B, T, H, 3*Dh] -> per head [q | k | v] -> [B, H, T, Dh] each.
  const qkv = ops.reshapeTail(linear(ops, x, `${l}qkv`, true), 2, [H, 3 * Dh]);
  const head = (j: number) => ops.transpose(ops.sliceLast(qkv, j * Dh, (j + 1) * Dh), [0, 2, 1, 3]);
  const q = qk(head(0), 'q');
  const k = qk(head(1), 'k');
  return [q, k, head(2)];
}

export interface AttentionOptions<T> {
  /** This layer's additive mask: [T, T], or [H, T, T] (ALiBi). */
  bias: T;
  /** How q, k, v come from x (default {@link separateQkv}). */
  project?: QkvProjection<T>;
  /** Applied to the q and to the k heads as they are projected (per-head norms, rotary). */
  qk?: QkTransform<T>;
  /** Scale of the scores (default 1 / sqrt(headDim)). */
  scale?: number;
  /** Scores -> cap * tanh(scores / cap) before the mask (Gemma 2). */
  softcap?: number;
  /** Bias on the output projection `o` (default c.outputBias). */
  outBias?: boolean;
}

/** Self-attention of layer prefix `l`: x [B, T, D] -> o(heads merged) [B, T, D]. */
export function selfAttention<T>(ops: Ops<T>, x: T, l: string, c: ArchConfig, o: AttentionOptions<T>): T {
  const H = c.numHeads, Dh = c.headDim, groups = H / c.numKvHeads;
  const [q, k, v] = (o.project ?? separateQkv)(ops, x, l, c, o.qk ?? ((y) => y));
  const scale = o.scale ?? 1 / Math.sqrt(Dh);
  const a = o.softcap === undefined ? attend(ops, q, k, v, o.bias, scale, groups) : softcappedAttention(ops, q, k, v, o.bias, scale, groups, o.softcap);
  // [B, H, T, Dh] -> [B, T, H*Dh]; H*Dh need not equal dModel (o maps back).
  return linear(ops, mergeHeads(ops, a, H, Dh), `${l}o`, o.outBias ?? c.outputBias);
}

/** up -> activation -> down (biases when c.mlpBias): [B, T, D] -> [B, T, D]. */
export function mlp<T>(ops: Ops<T>, x: T, l: string, c: ArchConfig): T {
  return linear(ops, activate(ops, linear(ops, x, `${l}up`, c.mlpBias), c.activation), `${l}down`, c.mlpBias);
}

/** down(act(gate(x)) * up(x)), SwiGLU / GeGLU (biases when c.mlpBias): [B, T, D] -> [B, T, D]. */
export function gatedMlp<T>(ops: Ops<T>, x: T, l: string, c: ArchConfig): T {
  const gate = activate(ops, linear(ops, x, `${l}gate`, c.mlpBias), c.activation);
  return linear(ops, ops.mul(gate, linear(ops, x, `${l}up`, c.mlpBias)), `${l}down`, c.mlpBias);
}

/** The pre-norm block: h + attn(norm(h, ln1)), then that + mlp(norm(that, ln2)). */
export function preNormBlock<T>(ops: Ops<T>, h: T, l: string, norm: Norm<T>, attn: (x: T) => T, ffn: (x: T) => T): T {
  const a = ops.add(h, attn(norm(h, `${l}ln1`)));
  return ops.add(a, ffn(norm(a, `${l}ln2`)));
}

/** Attention and MLP side by side off one norm (GPT-J, Phi): (attn(x) + mlp(x)) + h, x = norm(h, ln1). */
export function parallelBlock<T>(ops: Ops<T>, h: T, l: string, norm: Norm<T>, attn: (x: T) => T, ffn: (x: T) => T): T {
  const x = norm(h, `${l}ln1`);
  return ops.add(ops.add(attn(x), ffn(x)), h);
}

/** Token embeddings [B, T, D] of input 'input_ids' [B, T] i32. */
export const tokenEmbedding = <T>(ops: Ops<T>): T => ops.embedding(ops.param('embed'), ops.input('input_ids'));

/** h + learned position embeddings `pos` of input 'positions' [T] i32. */
export const addPositions = <T>(ops: Ops<T>, h: T): T => ops.add(h, ops.embedding(ops.param('pos'), ops.input('positions')));

/**
 * The Llama layout, shared by every family whose config.json and checkpoint follow
 * `LlamaForCausalLM` (llama, mistral, qwen2, gemma, gemma2, qwen3, phi3):
 * - config: the field names (hidden_size, num_key_value_heads, rms_norm_eps, ...) with a
 *   family's own defaults, and rotary over whole heads at rope_theta;
 * - weights: HF names under a prefix (usually "model."): embeddings, per layer
 *   input/post-attention norms, q/k/v/o projections with the optional biases, the
 *   gate/up/down MLP, the final norm and the head (separate or tied). Norm weights are
 *   returned as stored; a family that applies (1 + w) does so in its forward;
 * - forward: the pre-norm block with rotary GQA attention and a gated MLP.
 */
import type { Ops } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from './types';
import { ParamReader } from './params';
import { gatedMlp, layer, preNormBlock, rotary, selfAttention, type Norm } from './blocks';
import type { ConfigFields } from './configFields';
import type { RopeConfig, RopeScaling } from './configTypes';
import type { FieldTable } from './readConfig';
import { parseRopeScaling, ropeTheta } from './ropeConfig';

/**
 * The field table of a Llama-like config.json: `contextLength` is the family's default
 * max_position_embeddings; `overrides` replace the Llama defaults (rms_norm_eps 1e-6,
 * silu, untied, no biases, head_dim = hidden / heads unless the config says).
 */
export function llamaFields(contextLength: number, overrides: Partial<FieldTable> = {}): FieldTable {
  return {
    numLayers: 'num_hidden_layers',
    dModel: 'hidden_size',
    numHeads: 'num_attention_heads',
    numKvHeads: 'num_key_value_heads',
    // head_dim is explicit in gemma and newer mistral configs; otherwise hidden / heads.
    headDim: { field: 'head_dim' },
    contextLength: ['max_position_embeddings', contextLength],
    intermediateSize: 'intermediate_size',
    normType: 'rmsnorm',
    normEps: ['rms_norm_eps', 1e-6],
    activation: ['hidden_act', 'silu'],
    tieWordEmbeddings: false,
    biases: [false, false, false],
    ...overrides,
  };
}

/** Rotary over whole heads at rope_theta; `scaling` reads the rope scaling (default: the types every family shares, see ropeConfig.ts). */
export function llamaRope(f: ConfigFields, headDim: number, scaling: (f: ConfigFields) => RopeScaling | null = parseRopeScaling): RopeConfig {
  return { theta: ropeTheta(f), rotaryDim: headDim, scaling: scaling(f) };
}

/** How a checkpoint stores layer `l`'s q/k/v and gate/up projections (`h`: its tensor-name prefix). */
export interface LlamaProjections {
  qkv(r: ParamReader, l: string, h: string, c: ArchConfig): void;
  gateUp(r: ParamReader, l: string, h: string, c: ArchConfig): void;
}

/** One Linear each: self_attn.{q,k,v}_proj and mlp.{gate,up}_proj, with the config's biases. */
export const separateProjections: LlamaProjections = {
  qkv(r, l, h, c) {
    const D = c.dModel, Dh = c.headDim;
    r.linear(`${l}q`, `${h}self_attn.q_proj`, D, c.numHeads * Dh, c.qkvBias);
    r.linear(`${l}k`, `${h}self_attn.k_proj`, D, c.numKvHeads * Dh, c.qkvBias);
    r.linear(`${l}v`, `${h}self_attn.v_proj`, D, c.numKvHeads * Dh, c.qkvBias);
  },
  gateUp(r, l, h, c) {
    r.linear(`${l}gate`, `${h}mlp.gate_proj`, c.dModel, c.intermediateSize, c.mlpBias);
    r.linear(`${l}up`, `${h}mlp.up_proj`, c.dModel, c.intermediateSize, c.mlpBias);
  },
};

/**
 * Reads a Llama-layout checkpoint with tensor names under prefix `p` into our param names
 * (blocks.ts). Returns the reader, so a family can add its own tensors to the same params.
 */
export function readLlamaLayout(weights: WeightSource, c: ArchConfig, p: string, projections = separateProjections): ParamReader {
  const D = c.dModel, I = c.intermediateSize, H = c.numHeads, Dh = c.headDim;
  const r = new ParamReader(weights, `hidden_size ${D}, heads ${H}, kv heads ${c.numKvHeads}, head_dim ${Dh}, intermediate_size ${I}, vocab ${c.vocabSize}`);
  r.take('embed', `${p}embed_tokens.weight`, [c.vocabSize, D]);
  for (let i = 0; i < c.numLayers; i++) {
    const h = `${p}layers.${i}.`, l = layer(i);
    r.norm(`${l}ln1`, `${h}input_layernorm`, D);
    r.norm(`${l}ln2`, `${h}post_attention_layernorm`, D);
    projections.qkv(r, l, h, c);
    r.linear(`${l}o`, `${h}self_attn.o_proj`, H * Dh, D, c.outputBias);
    projections.gateUp(r, l, h, c);
    r.linear(`${l}down`, `${h}mlp.down_proj`, I, D, c.mlpBias);
  }
  r.norm('ln_f', `${p}norm`, D);
  if (!c.tieWordEmbeddings && !r.has('lm_head.weight')) throw new Error(`${weights.describe()}: lm_head.weight is missing and tie_word_embeddings is false`);
  r.head('lm_head.weight', D, c.vocabSize, c.tieWordEmbeddings);
  return r;
}

/** Checkpoints saved from the base model (not ...ForCausalLM) have no "model." prefix. */
export const llamaPrefix = (weights: WeightSource): string => (weights.has('model.embed_tokens.weight') ? 'model.' : '');

/**
 * The Llama block of layer i: h + attention(norm(h, ln1)) with GQA and rotary (after
 * `qkNorm`, when the family norms q and k per head), then + gated MLP(norm(., ln2)).
 * `bias(i)` is layer i's mask.
 */
export function llamaBlock<T>(ops: Ops<T>, c: ArchConfig, norm: Norm<T>, bias: (i: number) => T, qkNorm?: (x: T, name: string) => T): (i: number, h: T) => T {
  const rope = rotary(ops, c);
  return (i, h) => {
    const l = layer(i);
    const qk = qkNorm ? (x: T, which: 'q' | 'k') => rope(qkNorm(x, `${l}${which}_norm`)) : rope;
    return preNormBlock(ops, h, l, norm, (x) => selfAttention(ops, x, l, c, { bias: bias(i), qk }), (x) => gatedMlp(ops, x, l, c));
  };
}

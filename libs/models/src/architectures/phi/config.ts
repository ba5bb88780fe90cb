/** HF `PhiConfig` (Phi-1, Phi-1.5, Phi-2) -> {@link PhiConfig} -> {@link PhiArchConfig}: parallel attention + MLP, partial rotary, LayerNorm. */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig, RopeConfig } from '../common/configTypes';
import { readBaseConfig, type FieldTable } from '../common/readConfig';
import { parseRopeScaling } from '../common/ropeConfig';
import { archConfigBase, UnsupportedModelError } from '../common/archConfig';
import type { ArchConfig } from '../common/types';

export interface PhiConfig extends BaseModelConfig {
  modelType: 'phi';
  /** rotaryDim = int(headDim * partial_rotary_factor), the first features of each head. */
  rope: RopeConfig;
  /** `partial_rotary_factor` (default 0.5). */
  partialRotaryFactor: number;
  /** LayerNorm over head_dim on each query and key head before the rotary (`qk_layernorm`). */
  qkLayernorm: boolean;
}

/** The Phi fields the forward pass reads beyond the shared ArchConfig. */
export interface PhiArchConfig extends ArchConfig {
  /** LayerNorm over head_dim on each query and key head, before the rotary (qk_layernorm). */
  qkLayernorm: boolean;
}

const FIELDS: FieldTable = {
  numLayers: 'num_hidden_layers', dModel: 'hidden_size', numHeads: 'num_attention_heads', numKvHeads: 'num_key_value_heads',
  contextLength: ['max_position_embeddings', 2048], intermediateSize: 'intermediate_size',
  normType: 'layernorm', normEps: ['layer_norm_eps', 1e-5], activation: ['hidden_act', 'gelu_new'],
  // q/k/v, dense, fc1/fc2 and the LM head all have biases in Phi.
  tieWordEmbeddings: false, biases: [true, true, true],
};

export function readConfig(f: ConfigFields): PhiConfig {
  const base = readBaseConfig(f, 'phi', FIELDS);
  const factor = f.optPositive('partial_rotary_factor', 0.5);
  if (factor > 1) throw f.invalid('partial_rotary_factor', `field "partial_rotary_factor" must be in (0, 1], got ${factor}`);
  // transformers: rotary_ndims = int(head_dim * partial_rotary_factor); rotate-half needs it even.
  const rotaryDim = Math.floor(base.headDim * factor);
  if (rotaryDim % 2 !== 0) throw f.invalid('partial_rotary_factor', `head_dim ${base.headDim} x partial_rotary_factor ${factor} gives ${rotaryDim} rotary dims, which must be even`);
  return {
    ...base,
    rope: { theta: f.optPositive('rope_theta', 10000), rotaryDim, scaling: parseRopeScaling(f) },
    partialRotaryFactor: factor,
    qkLayernorm: f.optBool('qk_layernorm', false),
  };
}

export function archConfig(c: PhiConfig, file: string): PhiArchConfig {
  const base = archConfigBase(c, file);
  if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope_scaling ${c.rope.scaling.type} is not supported for phi`);
  return { ...base, qkLayernorm: c.qkLayernorm };
}

/** HF `PhiConfig` (Phi-1, Phi-1.5, Phi-2): parallel attention + MLP, partial rotary, LayerNorm. */
import type { ConfigFields } from './fields.js';
import { base, splitHeads } from './families.js';
import { parseRopeScaling } from './rope.js';
import type { BaseModelConfig, RopeConfig } from './types.js';

export interface PhiConfig extends BaseModelConfig {
  modelType: 'phi';
  /** rotaryDim = int(headDim * partial_rotary_factor), the first features of each head. */
  rope: RopeConfig;
  /** `partial_rotary_factor` (default 0.5). */
  partialRotaryFactor: number;
  /** LayerNorm over head_dim on each query and key head before the rotary (`qk_layernorm`). */
  qkLayernorm: boolean;
}

export function parsePhi(f: ConfigFields): PhiConfig {
  const dModel = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const headDim = splitHeads(f, 'hidden_size', dModel, 'num_attention_heads', numHeads);
  const numKvHeads = f.optInt('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw f.invalid('num_key_value_heads', `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  const factor = f.optPositive('partial_rotary_factor', 0.5);
  if (factor > 1) throw f.invalid('partial_rotary_factor', `field "partial_rotary_factor" must be in (0, 1], got ${factor}`);
  // transformers: rotary_ndims = int(head_dim * partial_rotary_factor); rotate-half needs it even.
  const rotaryDim = Math.floor(headDim * factor);
  if (rotaryDim % 2 !== 0) throw f.invalid('partial_rotary_factor', `head_dim ${headDim} x partial_rotary_factor ${factor} gives ${rotaryDim} rotary dims, which must be even`);
  return {
    ...base(f, 'phi', {
      numLayers: f.int('num_hidden_layers'),
      dModel,
      numHeads,
      numKvHeads,
      headDim,
      vocabSize: f.int('vocab_size'),
      contextLength: f.optInt('max_position_embeddings', 2048),
      intermediateSize: f.int('intermediate_size'),
      normType: 'layernorm',
      normEps: f.optPositive('layer_norm_eps', 1e-5),
      activation: f.optString('hidden_act', 'gelu_new'),
      tieWordEmbeddings: f.optBool('tie_word_embeddings', false),
      // q/k/v, dense, fc1/fc2 and the LM head all have biases in Phi.
      qkvBias: true,
      attnOutBias: true,
      mlpBias: true,
    }),
    rope: { theta: f.optPositive('rope_theta', 10000), rotaryDim, scaling: parseRopeScaling(f) },
    partialRotaryFactor: factor,
    qkLayernorm: f.optBool('qk_layernorm', false),
  };
}

/** HF `GPT2Config` -> {@link Gpt2Config} -> what the GPT-2 forward reads (the shared ArchConfig). */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig } from '../common/configTypes';
import { readBaseConfig, type FieldTable } from '../common/readConfig';
import { archConfigBase, UnsupportedModelError } from '../common/archConfig';
import type { ArchConfig } from '../common/types';

/** GPT-2: learned positions, pre-LayerNorm blocks, Conv1D weights stored [in, out]. */
export interface Gpt2Config extends BaseModelConfig {
  modelType: 'gpt2';
  /** Divide attention scores by sqrt(headDim) (`scale_attn_weights`, default true). */
  scaleAttnWeights: boolean;
  /** Also divide by (layer index + 1) (`scale_attn_by_inverse_layer_idx`, default false). */
  scaleAttnByInverseLayerIdx: boolean;
}

const FIELDS: FieldTable = {
  numLayers: 'n_layer', dModel: 'n_embd', numHeads: 'n_head', contextLength: 'n_positions',
  // `n_inner: null` means 4 * n_embd.
  intermediateSize: ['n_inner', (d) => 4 * d],
  normType: 'layernorm', normEps: ['layer_norm_epsilon', 1e-5], activation: ['activation_function', 'gelu_new'],
  tieWordEmbeddings: true, biases: [true, true, true],
};

export function readConfig(f: ConfigFields): Gpt2Config {
  return {
    ...readBaseConfig(f, 'gpt2', FIELDS),
    scaleAttnWeights: f.optBool('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: f.optBool('scale_attn_by_inverse_layer_idx', false),
  };
}

export function archConfig(c: Gpt2Config, file: string): ArchConfig {
  const base = archConfigBase(c, file);
  if (!c.scaleAttnWeights || c.scaleAttnByInverseLayerIdx) {
    throw new UnsupportedModelError(`${file}: scale_attn_weights=false or scale_attn_by_inverse_layer_idx=true is not supported`);
  }
  return base;
}

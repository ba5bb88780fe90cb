/**
 * HF `BloomConfig` -> {@link BloomConfig} -> {@link BloomArchConfig}: ALiBi instead of
 * positions, LayerNorm on the embeddings, fused q|k|v per head.
 */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig } from '../common/configTypes';
import { readBaseConfig, type FieldTable } from '../common/readConfig';
import { archConfigBase } from '../common/archConfig';
import type { ArchConfig } from '../common/types';

export interface BloomConfig extends BaseModelConfig {
  modelType: 'bloom';
  /** Residuals taken after the block's layer norms (`apply_residual_connection_post_layernorm`, default false). */
  residualPostLayernorm: boolean;
}

/** The BLOOM fields the forward pass reads beyond the shared ArchConfig. */
export interface BloomArchConfig extends ArchConfig {
  /** Residuals taken from the layer norms' outputs (apply_residual_connection_post_layernorm). */
  residualPostLayernorm: boolean;
}

const FIELDS: FieldTable = {
  // transformers reads the legacy `n_embed` in preference to `hidden_size` when present.
  numLayers: 'n_layer', dModel: ['n_embed', 'hidden_size'], numHeads: 'n_head',
  // ALiBi has no position table, so no hard limit; BLOOM was trained on 2048 tokens.
  contextLength: ['seq_length', 2048], intermediateSize: (d) => 4 * d,
  // BloomGelu is the tanh approximation (its 0.79788456 is sqrt(2/pi) to 8 digits).
  normType: 'layernorm', normEps: ['layer_norm_epsilon', 1e-5], activation: { fixed: 'gelu_pytorch_tanh' },
  tieWordEmbeddings: true, biases: [true, true, true],
};

export function readConfig(f: ConfigFields): BloomConfig {
  return { ...readBaseConfig(f, 'bloom', FIELDS), residualPostLayernorm: f.optBool('apply_residual_connection_post_layernorm', false) };
}

export function archConfig(c: BloomConfig, file: string): BloomArchConfig {
  return { ...archConfigBase(c, file), residualPostLayernorm: c.residualPostLayernorm };
}

/**
 * HF `OPTConfig` -> {@link OptConfig} -> {@link OptArchConfig}: learned positions (offset 2),
 * pre- or post-LN blocks, optional embedding projections.
 */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig } from '../common/configTypes';
import { readBaseConfig, type FieldTable, type FlagField } from '../common/readConfig';
import { archConfigBase } from '../common/archConfig';
import type { ArchConfig } from '../common/types';

export interface OptConfig extends BaseModelConfig {
  modelType: 'opt';
  /** Pre-LN blocks (`do_layer_norm_before`, default true); false = post-LN (opt-350m). */
  doLayerNormBefore: boolean;
  /** Width of the token embeddings (`word_embed_proj_dim`, default hidden_size); project_in/out when it differs. */
  wordEmbedProjDim: number;
  /** Whether the decoder ends with final_layer_norm: pre-LN and not `_remove_final_layer_norm`. */
  finalLayerNorm: boolean;
  /** LayerNorms with weight and bias (`layer_norm_elementwise_affine`, default true). */
  layerNormAffine: boolean;
}

/** The OPT fields the forward pass reads beyond the shared ArchConfig. */
export interface OptArchConfig extends ArchConfig {
  /** Pre-LN blocks (do_layer_norm_before); false = post-LN, each sublayer's norm after its residual add. */
  preLayerNorm: boolean;
  /** The decoder ends with final_layer_norm (pre-LN and not _remove_final_layer_norm). */
  finalLayerNorm: boolean;
  /** Token embedding width; project_in / project_out map it to and from dModel when it differs. */
  wordEmbedProjDim: number;
  /** LayerNorms have weight and bias (layer_norm_elementwise_affine); else plain normalisation. */
  layerNormAffine: boolean;
}

/** OPT's learned position table starts at row 2 (fairseq reserved rows 0-1 for padding). */
export const OPT_POSITION_OFFSET = 2;

// enable_bias covers q/k/v/out_proj and fc1/fc2.
const enableBias: FlagField = ['enable_bias', true];
const FIELDS: FieldTable = {
  numLayers: 'num_hidden_layers', dModel: 'hidden_size', numHeads: 'num_attention_heads',
  contextLength: ['max_position_embeddings', 2048], intermediateSize: 'ffn_dim',
  // OPT's nn.LayerNorm uses torch's default eps; the config has no field for it.
  normType: 'layernorm', normEps: 1e-5, activation: ['activation_function', 'relu'],
  tieWordEmbeddings: true, biases: [enableBias, enableBias, enableBias],
};

export function readConfig(f: ConfigFields): OptConfig {
  const base = readBaseConfig(f, 'opt', FIELDS);
  const doLayerNormBefore = f.optBool('do_layer_norm_before', true);
  return {
    ...base,
    doLayerNormBefore,
    wordEmbedProjDim: f.optInt('word_embed_proj_dim', base.dModel),
    finalLayerNorm: doLayerNormBefore && !f.optBool('_remove_final_layer_norm', false),
    layerNormAffine: f.optBool('layer_norm_elementwise_affine', true),
  };
}

export function archConfig(c: OptConfig, file: string): OptArchConfig {
  return {
    ...archConfigBase(c, file), preLayerNorm: c.doLayerNormBefore, finalLayerNorm: c.finalLayerNorm, wordEmbedProjDim: c.wordEmbedProjDim, layerNormAffine: c.layerNormAffine,
  };
}

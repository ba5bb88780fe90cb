/** HF `OPTConfig`: learned positions (offset 2), pre- or post-LN blocks, optional embedding projections. */
import type { ConfigFields } from './fields.js';
import { base, splitHeads } from './families.js';
import type { BaseModelConfig } from './types.js';

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

export function parseOpt(f: ConfigFields): OptConfig {
  const dModel = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const headDim = splitHeads(f, 'hidden_size', dModel, 'num_attention_heads', numHeads);
  const doLayerNormBefore = f.optBool('do_layer_norm_before', true);
  // enable_bias covers q/k/v/out_proj and fc1/fc2.
  const bias = f.optBool('enable_bias', true);
  return {
    ...base(f, 'opt', {
      numLayers: f.int('num_hidden_layers'),
      dModel,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      vocabSize: f.int('vocab_size'),
      contextLength: f.optInt('max_position_embeddings', 2048),
      intermediateSize: f.int('ffn_dim'),
      normType: 'layernorm',
      // OPT's nn.LayerNorm uses torch's default eps; the config has no field for it.
      normEps: 1e-5,
      activation: f.optString('activation_function', 'relu'),
      tieWordEmbeddings: f.optBool('tie_word_embeddings', true),
      qkvBias: bias,
      attnOutBias: bias,
      mlpBias: bias,
    }),
    doLayerNormBefore,
    wordEmbedProjDim: f.optInt('word_embed_proj_dim', dModel),
    finalLayerNorm: doLayerNormBefore && !f.optBool('_remove_final_layer_norm', false),
    layerNormAffine: f.optBool('layer_norm_elementwise_affine', true),
  };
}

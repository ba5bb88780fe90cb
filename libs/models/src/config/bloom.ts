/** HF `BloomConfig`: ALiBi instead of positions, LayerNorm on the embeddings, fused q|k|v per head. */
import type { ConfigFields } from './fields.js';
import { base, splitHeads } from './families.js';
import type { BaseModelConfig } from './types.js';

export interface BloomConfig extends BaseModelConfig {
  modelType: 'bloom';
  /** Residuals taken after the block's layer norms (`apply_residual_connection_post_layernorm`, default false). */
  residualPostLayernorm: boolean;
}

export function parseBloom(f: ConfigFields): BloomConfig {
  // transformers reads the legacy `n_embed` in preference to `hidden_size` when present.
  const widthField = f.has('n_embed') ? 'n_embed' : 'hidden_size';
  const dModel = f.int(widthField);
  const numHeads = f.int('n_head');
  const headDim = splitHeads(f, widthField, dModel, 'n_head', numHeads);
  return {
    ...base(f, 'bloom', {
      numLayers: f.int('n_layer'),
      dModel,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      vocabSize: f.int('vocab_size'),
      // ALiBi has no position table, so no hard limit; BLOOM was trained on 2048 tokens.
      contextLength: f.optInt('seq_length', 2048),
      intermediateSize: 4 * dModel,
      normType: 'layernorm',
      normEps: f.optPositive('layer_norm_epsilon', 1e-5),
      // BloomGelu is the tanh approximation (its 0.79788456 is sqrt(2/pi) to 8 digits).
      activation: 'gelu_pytorch_tanh',
      tieWordEmbeddings: f.optBool('tie_word_embeddings', true),
      qkvBias: true,
      attnOutBias: true,
      mlpBias: true,
    }),
    residualPostLayernorm: f.optBool('apply_residual_connection_post_layernorm', false),
  };
}

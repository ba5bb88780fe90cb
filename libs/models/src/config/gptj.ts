/** HF `GPTJConfig`: parallel attention + MLP, interleaved rotary on the first rotary_dim features. */
import type { ConfigFields } from './fields.js';
import { base, splitHeads } from './families.js';
import type { BaseModelConfig, RopeConfig } from './types.js';

export interface GptjConfig extends BaseModelConfig {
  modelType: 'gptj';
  /** rotaryDim = `rotary_dim` (default 64); GPT-J rotates interleaved pairs (x[2i], x[2i+1]), base 10000. */
  rope: RopeConfig;
}

export function parseGptj(f: ConfigFields): GptjConfig {
  const dModel = f.int('n_embd');
  const numHeads = f.int('n_head');
  const headDim = splitHeads(f, 'n_embd', dModel, 'n_head', numHeads);
  if (f.raw.rotary_dim === null) {
    // transformers then builds sinusoids over the whole model width, which only fits heads
    // when n_head is 1; no released checkpoint does this.
    throw f.unsupported('rotary_dim', 'rotary_dim null (rotary over the whole width) is not supported');
  }
  const rotaryDim = f.optInt('rotary_dim', 64);
  if (rotaryDim > headDim || rotaryDim % 2 !== 0) {
    throw f.invalid('rotary_dim', `rotary_dim ${rotaryDim} must be even and at most the head size ${headDim} (n_embd / n_head)`);
  }
  return {
    ...base(f, 'gptj', {
      numLayers: f.int('n_layer'),
      dModel,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      vocabSize: f.int('vocab_size'),
      contextLength: f.optInt('n_positions', 2048),
      // `n_inner: null` means 4 * n_embd.
      intermediateSize: f.optInt('n_inner', 4 * dModel),
      normType: 'layernorm',
      normEps: f.optPositive('layer_norm_epsilon', 1e-5),
      activation: f.optString('activation_function', 'gelu_new'),
      tieWordEmbeddings: f.optBool('tie_word_embeddings', false),
      // No biases in attention; the MLP (fc_in / fc_out) and the LM head have them.
      qkvBias: false,
      attnOutBias: false,
      mlpBias: true,
    }),
    rope: { theta: 10000, rotaryDim, scaling: null },
  };
}

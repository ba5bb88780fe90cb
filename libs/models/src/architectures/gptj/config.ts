/** HF `GPTJConfig` -> {@link GptjConfig} -> what the GPT-J forward reads: parallel attention + MLP, interleaved rotary on the first rotary_dim features. */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig, RopeConfig } from '../common/configTypes';
import { readBaseConfig, type FieldTable } from '../common/readConfig';
import { archConfigBase } from '../common/archConfig';
import type { ArchConfig } from '../common/types';

export interface GptjConfig extends BaseModelConfig {
  modelType: 'gptj';
  /** rotaryDim = `rotary_dim` (default 64); GPT-J rotates interleaved pairs (x[2i], x[2i+1]), base 10000. */
  rope: RopeConfig;
}

const FIELDS: FieldTable = {
  numLayers: 'n_layer', dModel: 'n_embd', numHeads: 'n_head', contextLength: ['n_positions', 2048],
  // `n_inner: null` means 4 * n_embd.
  intermediateSize: ['n_inner', (d) => 4 * d],
  normType: 'layernorm', normEps: ['layer_norm_epsilon', 1e-5], activation: ['activation_function', 'gelu_new'],
  // No biases in attention; the MLP (fc_in / fc_out) and the LM head have them.
  tieWordEmbeddings: false, biases: [false, false, true],
};

export function readConfig(f: ConfigFields): GptjConfig {
  const base = readBaseConfig(f, 'gptj', FIELDS);
  if (f.raw.rotary_dim === null) {
    // transformers then builds sinusoids over the whole model width, which only fits heads
    // when n_head is 1; no released checkpoint does this.
    throw f.unsupported('rotary_dim', 'rotary_dim null (rotary over the whole width) is not supported');
  }
  const rotaryDim = f.optInt('rotary_dim', 64);
  if (rotaryDim > base.headDim || rotaryDim % 2 !== 0) {
    throw f.invalid('rotary_dim', `rotary_dim ${rotaryDim} must be even and at most the head size ${base.headDim} (n_embd / n_head)`);
  }
  return { ...base, rope: { theta: 10000, rotaryDim, scaling: null } };
}

export const archConfig = (c: GptjConfig, file: string): ArchConfig => archConfigBase(c, file);

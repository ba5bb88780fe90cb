/** HF `GemmaConfig` (Gemma 1) -> {@link GemmaConfig} -> what the Gemma forward reads. */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig, RopeConfig } from '../common/configTypes';
import { readBaseConfig, type FlagField } from '../common/readConfig';
import { llamaFields, llamaRope } from '../common/llama';
import { archConfigBase, UnsupportedModelError } from '../common/archConfig';
import type { ArchConfig } from '../common/types';

/**
 * Gemma: llama-like, but embeddings scaled by sqrt(dModel), RMSNorm weights applied as
 * (1 + w), head_dim independent of dModel, tied embeddings by default.
 */
export interface GemmaConfig extends BaseModelConfig {
  modelType: 'gemma';
  rope: RopeConfig;
}

const attentionBias: FlagField = ['attention_bias', false];
/** Gemma's field table (Gemma 2 has the same). */
export const GEMMA_FIELDS = llamaFields(8192, {
  headDim: { field: 'head_dim', fallback: 256 },
  // transformers' Gemma uses hidden_activation, and gelu_pytorch_tanh when it is unset,
  // whatever hidden_act says (early configs said "gelu" by mistake).
  activation: ['hidden_activation', 'gelu_pytorch_tanh'],
  tieWordEmbeddings: true,
  biases: [attentionBias, attentionBias, false],
});

export function readConfig(f: ConfigFields): GemmaConfig {
  const base = readBaseConfig(f, 'gemma', GEMMA_FIELDS);
  return { ...base, rope: llamaRope(f, base.headDim) };
}

export function archConfig(c: GemmaConfig, file: string): ArchConfig {
  const base = archConfigBase(c, file);
  if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope_scaling ${c.rope.scaling.type} is not supported for gemma`);
  return base;
}

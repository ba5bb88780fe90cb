/** HF `LlamaConfig`, `MistralConfig`, `Qwen2Config` -> {@link LlamaConfig} -> what the Llama forward reads. */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig, RopeConfig } from '../common/configTypes';
import type { FieldTable, FlagField } from '../common/readConfig';
import { readBaseConfig } from '../common/readConfig';
import { llamaFields, llamaRope } from '../common/llama';
import { archConfigBase, UnsupportedModelError } from '../common/archConfig';
import type { ArchConfig } from '../common/types';

/** Llama, Mistral and Qwen2: RMSNorm, rotary over full heads, gated MLP, optional GQA. */
export interface LlamaConfig extends BaseModelConfig {
  modelType: 'llama' | 'mistral' | 'qwen2';
  rope: RopeConfig;
  /**
   * Sliding attention window in tokens, or null for full causal attention. Mistral's
   * `sliding_window`; Qwen2's only when `use_sliding_window` is true.
   */
  slidingWindow: number | null;
}

// attention_bias covers q, k, v and o; mlp_bias the three MLP projections.
const attentionBias: FlagField = ['attention_bias', false];
const FIELDS: Record<LlamaConfig['modelType'], FieldTable> = {
  llama: llamaFields(2048, { biases: [attentionBias, attentionBias, ['mlp_bias', false]] }),
  mistral: llamaFields(4096 * 32),
  // Qwen2 always has q/k/v biases (and none on o_proj); the config has no field for it.
  qwen2: llamaFields(32768, { biases: [true, false, false] }),
};

export function readConfig(f: ConfigFields, modelType: string): LlamaConfig {
  const type = modelType as LlamaConfig['modelType'];
  const base = readBaseConfig(f, type, FIELDS[type]);
  const rope = llamaRope(f, base.headDim);
  let slidingWindow: number | null = null;
  if (type === 'mistral') {
    // Mistral 7B v0.1 attends within 4096 tokens; later configs set null (full attention).
    slidingWindow = f.has('sliding_window') ? f.int('sliding_window') : f.raw.sliding_window === null ? null : 4096;
  } else if (type === 'qwen2' && f.optBool('use_sliding_window', false)) {
    // Qwen2 windows only the layers from max_window_layers on; no implementation here.
    throw f.unsupported('use_sliding_window', 'qwen2 with use_sliding_window true is not supported');
  }
  return { ...base, rope, slidingWindow };
}

export function archConfig(c: LlamaConfig, file: string): ArchConfig {
  const base = archConfigBase(c, file);
  if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope_scaling ${c.rope.scaling.type} is not supported yet`);
  return { ...base, slidingWindow: c.slidingWindow ?? undefined };
}

/**
 * HF `GPTNeoConfig` -> {@link GptNeoConfig} -> what the GPT-Neo forward reads: learned
 * positions, global and local (windowed) attention layers, which the forward runs as the
 * `layer_types` of later families (local = sliding_attention within window_size).
 */
import { describe, type ConfigFields } from '../common/configFields';
import type { BaseModelConfig } from '../common/configTypes';
import { readBaseConfig, type FieldTable } from '../common/readConfig';
import type { LayerTypesArchConfig } from '../common/layerTypes';
import { archConfigBase } from '../common/archConfig';

export type GptNeoAttentionKind = 'global' | 'local';

export interface GptNeoConfig extends BaseModelConfig {
  modelType: 'gpt_neo';
  /** Per layer, from `attention_types` ([[kinds, repeat], ...] expanded in order). */
  attentionLayers: GptNeoAttentionKind[];
  /** Local layers see the last `window_size` keys, the query's own included (default 256). */
  windowSize: number;
}

const FIELDS: FieldTable = {
  numLayers: 'num_layers', dModel: 'hidden_size', numHeads: 'num_heads', contextLength: ['max_position_embeddings', 2048],
  // `intermediate_size: null` means 4 * hidden_size.
  intermediateSize: ['intermediate_size', (d) => 4 * d],
  normType: 'layernorm', normEps: ['layer_norm_epsilon', 1e-5], activation: ['activation_function', 'gelu_new'],
  // q/k/v projections have no bias; out_proj and the MLP do.
  tieWordEmbeddings: true, biases: [false, true, true],
};

/** transformers' expansion of `attention_types`: each [kinds, n] adds `kinds` n times. */
function expandAttentionTypes(f: ConfigFields): GptNeoAttentionKind[] {
  const v = f.get('attention_types') ?? [[['global', 'local'], 12]];
  const bad = () => f.wrongType('attention_types', 'a list of [["global" | "local", ...], repeat] pairs', v);
  if (!Array.isArray(v)) throw bad();
  const out: GptNeoAttentionKind[] = [];
  for (const item of v) {
    if (!Array.isArray(item) || item.length !== 2 || !Array.isArray(item[0]) || !Number.isSafeInteger(item[1]) || item[1] < 1) throw bad();
    const kinds = item[0] as unknown[];
    if (!kinds.every((k): k is GptNeoAttentionKind => k === 'global' || k === 'local')) throw bad();
    for (let i = 0; i < (item[1] as number); i++) out.push(...kinds);
  }
  return out;
}

export function readConfig(f: ConfigFields): GptNeoConfig {
  const base = readBaseConfig(f, 'gpt_neo', FIELDS);
  const attentionLayers = expandAttentionTypes(f);
  if (attentionLayers.length !== base.numLayers) {
    throw f.invalid('attention_types', `attention_types expands to ${attentionLayers.length} layers but num_layers is ${base.numLayers}`);
  }
  const saved = f.get('attention_layers');
  if (saved !== undefined && JSON.stringify(saved) !== JSON.stringify(attentionLayers)) {
    throw f.invalid('attention_layers', `attention_layers ${describe(saved)} disagrees with attention_types (which expand to ${describe(attentionLayers)})`);
  }
  return { ...base, attentionLayers, windowSize: f.optInt('window_size', 256) };
}

export function archConfig(c: GptNeoConfig, file: string): LayerTypesArchConfig {
  return {
    ...archConfigBase(c, file),
    layerTypes: c.attentionLayers.map((k) => (k === 'local' ? 'sliding_attention' : 'full_attention')),
    slidingWindow: c.windowSize,
  };
}

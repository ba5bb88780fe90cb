/** HF `GPTNeoConfig`: learned positions, global and local (windowed) attention layers. */
import { describe, type ConfigFields } from './fields.js';
import { base, splitHeads } from './families.js';
import type { BaseModelConfig } from './types.js';

export type GptNeoAttentionKind = 'global' | 'local';

export interface GptNeoConfig extends BaseModelConfig {
  modelType: 'gpt_neo';
  /** Per layer, from `attention_types` ([[kinds, repeat], ...] expanded in order). */
  attentionLayers: GptNeoAttentionKind[];
  /** Local layers see the last `window_size` keys, the query's own included (default 256). */
  windowSize: number;
}

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

export function parseGptNeo(f: ConfigFields): GptNeoConfig {
  const dModel = f.int('hidden_size');
  const numHeads = f.int('num_heads');
  const headDim = splitHeads(f, 'hidden_size', dModel, 'num_heads', numHeads);
  const numLayers = f.int('num_layers');
  const attentionLayers = expandAttentionTypes(f);
  if (attentionLayers.length !== numLayers) {
    throw f.invalid('attention_types', `attention_types expands to ${attentionLayers.length} layers but num_layers is ${numLayers}`);
  }
  const saved = f.get('attention_layers');
  if (saved !== undefined && JSON.stringify(saved) !== JSON.stringify(attentionLayers)) {
    throw f.invalid('attention_layers', `attention_layers ${describe(saved)} disagrees with attention_types (which expand to ${describe(attentionLayers)})`);
  }
  return {
    ...base(f, 'gpt_neo', {
      numLayers,
      dModel,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      vocabSize: f.int('vocab_size'),
      contextLength: f.optInt('max_position_embeddings', 2048),
      // `intermediate_size: null` means 4 * hidden_size.
      intermediateSize: f.optInt('intermediate_size', 4 * dModel),
      normType: 'layernorm',
      normEps: f.optPositive('layer_norm_epsilon', 1e-5),
      activation: f.optString('activation_function', 'gelu_new'),
      tieWordEmbeddings: f.optBool('tie_word_embeddings', true),
      // q/k/v projections have no bias; out_proj and the MLP do.
      qkvBias: false,
      attnOutBias: true,
      mlpBias: true,
    }),
    attentionLayers,
    windowSize: f.optInt('window_size', 256),
  };
}

/**
 * HF `Gemma2Config`: Gemma's (1 + w) RMSNorm, sqrt(d) embedding scale and GeGLU, plus
 * norms after attention and MLP too, alternating sliding-window / global layers, scores
 * scaled by query_pre_attn_scalar^-0.5, and tanh soft-capping of the attention scores and
 * of the final logits.
 */
import type { ConfigFields } from './fields.js';
import { base, llamaCommon } from './families.js';
import { checkSlidingWindow, parseLayerTypes, type LayerType } from './layerTypes.js';
import type { BaseModelConfig, RopeConfig } from './types.js';

export interface Gemma2Config extends BaseModelConfig {
  modelType: 'gemma2';
  rope: RopeConfig;
  /** Per layer (`layer_types`; else sliding for even layers 0, 2, ..., as transformers). */
  layerTypes: LayerType[];
  /** `sliding_window` (default 4096; null = none). */
  slidingWindow: number | null;
  /** Attention scores are q.k * query_pre_attn_scalar^-0.5 (default 256), not head_dim^-0.5. */
  queryPreAttnScalar: number;
  /** scores -> cap * tanh(scores / cap) before the mask (`attn_logit_softcapping`, default 50; null = off). */
  attnLogitSoftcapping: number | null;
  /** logits -> cap * tanh(logits / cap) (`final_logit_softcapping`, default 30; null = off). */
  finalLogitSoftcapping: number | null;
}

/** A positive number, its default when absent, null when the config says null (= off). */
function nullablePositive(f: ConfigFields, name: string, fallback: number): number | null {
  if (f.raw[name] === null) return null;
  return f.optPositive(name, fallback);
}

export function parseGemma2(f: ConfigFields): Gemma2Config {
  const { common, rope } = llamaCommon(f, 'gemma2', 256);
  // Gemma2's MLP reads hidden_activation (hidden_act, if present, is ignored by transformers).
  common.activation = f.optString('hidden_activation', 'gelu_pytorch_tanh');
  common.qkvBias = common.attnOutBias = f.optBool('attention_bias', false);
  if (f.optBool('use_bidirectional_attention', false)) {
    throw f.unsupported('use_bidirectional_attention', 'gemma2 with use_bidirectional_attention true (an encoder, not a causal LM) is not supported');
  }
  const slidingWindow = f.raw.sliding_window === null ? null : f.optInt('sliding_window', 4096);
  const layerTypes = parseLayerTypes(f, common.numLayers, (i) => ((i + 1) % 2 === 1 ? 'sliding_attention' : 'full_attention'));
  checkSlidingWindow(f, layerTypes, slidingWindow, 'sliding_window is null');
  return {
    ...base(f, 'gemma2', common),
    rope,
    layerTypes,
    slidingWindow,
    queryPreAttnScalar: f.optPositive('query_pre_attn_scalar', 256),
    attnLogitSoftcapping: nullablePositive(f, 'attn_logit_softcapping', 50),
    finalLogitSoftcapping: nullablePositive(f, 'final_logit_softcapping', 30),
  };
}

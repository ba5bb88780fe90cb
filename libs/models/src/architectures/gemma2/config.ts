/**
 * HF `Gemma2Config` -> {@link Gemma2Config} -> {@link Gemma2ArchConfig}: Gemma's (1 + w)
 * RMSNorm, sqrt(d) embedding scale and GeGLU, plus norms after attention and MLP too,
 * alternating sliding-window / global layers, scores scaled by query_pre_attn_scalar^-0.5,
 * and tanh soft-capping of the attention scores and of the final logits.
 */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig, RopeConfig } from '../common/configTypes';
import { readBaseConfig } from '../common/readConfig';
import { llamaRope } from '../common/llama';
import { checkSlidingWindow, parseLayerTypes, type LayerType, type LayerTypesArchConfig } from '../common/layerTypes';
import { archConfigBase, UnsupportedModelError } from '../common/archConfig';
import { GEMMA_FIELDS } from '../gemma/config';

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

/** The Gemma 2 fields the forward pass reads beyond the shared ArchConfig. */
export interface Gemma2ArchConfig extends LayerTypesArchConfig {
  /** Attention scores are q.k * queryPreAttnScalar^-0.5 (not head_dim^-0.5). */
  queryPreAttnScalar: number;
  /** scores -> cap * tanh(scores / cap) before the mask, or null. */
  attnLogitSoftcap: number | null;
  /** logits -> cap * tanh(logits / cap), or null. */
  finalLogitSoftcap: number | null;
}

/** A positive number, its default when absent, null when the config says null (= off). */
function nullablePositive(f: ConfigFields, name: string, fallback: number): number | null {
  if (f.raw[name] === null) return null;
  return f.optPositive(name, fallback);
}

export function readConfig(f: ConfigFields): Gemma2Config {
  // Gemma2's MLP reads hidden_activation (hidden_act, if present, is ignored by transformers).
  const base = readBaseConfig(f, 'gemma2', GEMMA_FIELDS);
  const rope = llamaRope(f, base.headDim);
  if (f.optBool('use_bidirectional_attention', false)) {
    throw f.unsupported('use_bidirectional_attention', 'gemma2 with use_bidirectional_attention true (an encoder, not a causal LM) is not supported');
  }
  const slidingWindow = f.raw.sliding_window === null ? null : f.optInt('sliding_window', 4096);
  const layerTypes = parseLayerTypes(f, base.numLayers, (i) => ((i + 1) % 2 === 1 ? 'sliding_attention' : 'full_attention'));
  checkSlidingWindow(f, layerTypes, slidingWindow, 'sliding_window is null');
  return {
    ...base,
    rope,
    layerTypes,
    slidingWindow,
    queryPreAttnScalar: f.optPositive('query_pre_attn_scalar', 256),
    attnLogitSoftcapping: nullablePositive(f, 'attn_logit_softcapping', 50),
    finalLogitSoftcapping: nullablePositive(f, 'final_logit_softcapping', 30),
  };
}

export function archConfig(c: Gemma2Config, file: string): Gemma2ArchConfig {
  const base = archConfigBase(c, file);
  if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope scaling ${c.rope.scaling.type} is not supported for gemma2`);
  return {
    ...base, layerTypes: c.layerTypes, slidingWindow: c.slidingWindow ?? undefined,
    queryPreAttnScalar: c.queryPreAttnScalar, attnLogitSoftcap: c.attnLogitSoftcapping, finalLogitSoftcap: c.finalLogitSoftcapping,
  };
}

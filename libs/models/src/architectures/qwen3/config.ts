/** HF `Qwen3Config` -> {@link Qwen3Config} -> what the Qwen3 forward reads: the Llama layout plus a per-head RMSNorm on queries and keys. */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig, RopeConfig } from '../common/configTypes';
import { readBaseConfig, type FlagField } from '../common/readConfig';
import { llamaFields, llamaRope } from '../common/llama';
import { checkSlidingWindow, parseLayerTypes, type LayerType, type LayerTypesArchConfig } from '../common/layerTypes';
import { archConfigBase, UnsupportedModelError } from '../common/archConfig';

export interface Qwen3Config extends BaseModelConfig {
  modelType: 'qwen3';
  /** Rotary on whole heads (head_dim, default 128, is its own field). */
  rope: RopeConfig;
  /** Per layer (`layer_types`; else sliding from `max_window_layers` on when the window is used). */
  layerTypes: LayerType[];
  /** Window of the sliding layers: `sliding_window` when `use_sliding_window`, else null. */
  slidingWindow: number | null;
}

// attention_bias puts biases on q, k, v and o alike.
const attentionBias: FlagField = ['attention_bias', false];
const FIELDS = llamaFields(32768, { headDim: { field: 'head_dim', fallback: 128 }, biases: [attentionBias, attentionBias, false] });

export function readConfig(f: ConfigFields): Qwen3Config {
  const base = readBaseConfig(f, 'qwen3', FIELDS);
  const rope = llamaRope(f, base.headDim);
  // transformers: sliding_window = sliding_window if use_sliding_window else None
  // (absent: 4096; an explicit null: no window).
  const useWindow = f.optBool('use_sliding_window', false);
  const slidingWindow = !useWindow ? null : f.has('sliding_window') ? f.int('sliding_window') : f.raw.sliding_window === null ? null : 4096;
  const maxWindowLayers = f.optInt('max_window_layers', 28, 0);
  const layerTypes = parseLayerTypes(f, base.numLayers, (i) => (slidingWindow !== null && i >= maxWindowLayers ? 'sliding_attention' : 'full_attention'));
  checkSlidingWindow(f, layerTypes, slidingWindow, useWindow ? 'sliding_window is null' : 'use_sliding_window is false');
  return { ...base, rope, layerTypes, slidingWindow };
}

export function archConfig(c: Qwen3Config, file: string): LayerTypesArchConfig {
  const base = archConfigBase(c, file);
  if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope scaling ${c.rope.scaling.type} is not supported for qwen3`);
  return { ...base, layerTypes: c.layerTypes, slidingWindow: c.slidingWindow ?? undefined };
}

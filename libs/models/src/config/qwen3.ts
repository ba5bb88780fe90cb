/** HF `Qwen3Config`: the Llama layout plus a per-head RMSNorm on queries and keys. */
import type { ConfigFields } from './fields.js';
import { base, llamaCommon } from './families.js';
import { checkSlidingWindow, parseLayerTypes, type LayerType } from './layerTypes.js';
import type { BaseModelConfig, RopeConfig } from './types.js';

export interface Qwen3Config extends BaseModelConfig {
  modelType: 'qwen3';
  /** Rotary on whole heads (head_dim, default 128, is its own field). */
  rope: RopeConfig;
  /** Per layer (`layer_types`; else sliding from `max_window_layers` on when the window is used). */
  layerTypes: LayerType[];
  /** Window of the sliding layers: `sliding_window` when `use_sliding_window`, else null. */
  slidingWindow: number | null;
}

export function parseQwen3(f: ConfigFields): Qwen3Config {
  const { common, rope } = llamaCommon(f, 'qwen3', 128);
  // attention_bias puts biases on q, k, v and o alike.
  common.qkvBias = common.attnOutBias = f.optBool('attention_bias', false);
  // transformers: sliding_window = sliding_window if use_sliding_window else None
  // (absent: 4096; an explicit null: no window).
  const useWindow = f.optBool('use_sliding_window', false);
  const slidingWindow = !useWindow ? null : f.has('sliding_window') ? f.int('sliding_window') : f.raw.sliding_window === null ? null : 4096;
  const maxWindowLayers = f.optInt('max_window_layers', 28, 0);
  const layerTypes = parseLayerTypes(f, common.numLayers, (i) => (slidingWindow !== null && i >= maxWindowLayers ? 'sliding_attention' : 'full_attention'));
  checkSlidingWindow(f, layerTypes, slidingWindow, useWindow ? 'sliding_window is null' : 'use_sliding_window is false');
  return { ...base(f, 'qwen3', common), rope, layerTypes, slidingWindow };
}

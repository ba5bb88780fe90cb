/**
 * Per-layer attention spans (HF `layer_types`): 'full_attention' layers are causal over
 * every earlier key, 'sliding_attention' layers over the last `slidingWindow` keys only
 * (the query's own included). transformers 5 writes `layer_types` for every family with
 * windowed layers; older configs leave it out and each family derives it. In the forward
 * pass each kind is one [T, T] additive bias input, built on the host per call; a layer
 * reads the one of its kind.
 */
import type { Ops, RuntimeInputs } from '@tuned-lens/engine';
import { describe, type ConfigFields } from './configFields';
import type { ArchConfig } from './types';
import { causalBias } from './runtimeInputs';

/** The layer types this project runs: causal over all keys, or over the last `sliding_window`. */
export type LayerType = 'full_attention' | 'sliding_attention';
const LAYER_TYPES: readonly string[] = ['full_attention', 'sliding_attention'];

/**
 * `layer_types` when present (one entry per layer, each a {@link LayerType}), else
 * `fallback(i)` for every layer, as the family's config class derives it.
 */
export function parseLayerTypes(f: ConfigFields, numLayers: number, fallback: (i: number) => LayerType): LayerType[] {
  const v = f.get('layer_types');
  if (v === undefined) return Array.from({ length: numLayers }, (_, i) => fallback(i));
  if (!Array.isArray(v) || !v.every((t) => typeof t === 'string')) throw f.wrongType('layer_types', 'a list of strings', v);
  const unknown = v.filter((t) => !LAYER_TYPES.includes(t));
  if (unknown.length > 0) {
    throw f.unsupported('layer_types', `layer_types ${describe([...new Set(unknown)])} are not supported (supported: ${LAYER_TYPES.join(', ')})`);
  }
  if (v.length !== numLayers) throw f.invalid('layer_types', `layer_types has ${v.length} entries but num_hidden_layers is ${numLayers}`);
  return v as LayerType[];
}

/**
 * The window of the sliding layers: a sliding layer needs one. `window` is null when the
 * config has none (sliding_window null, or qwen3's use_sliding_window false).
 */
export function checkSlidingWindow(f: ConfigFields, layerTypes: readonly LayerType[], window: number | null, why: string): void {
  if (window === null && layerTypes.includes('sliding_attention')) {
    throw f.invalid('layer_types', `layer_types has sliding_attention layers but there is no sliding window (${why})`);
  }
}

export interface LayerTypesArchConfig extends ArchConfig {
  /** One per layer. A sliding layer needs `slidingWindow` (checked when the config is parsed). */
  layerTypes: readonly LayerType[];
}

const hasSlidingLayers = (c: LayerTypesArchConfig) => c.slidingWindow !== undefined && c.layerTypes.includes('sliding_attention');

/** 'causal_bias' [T, T], and 'sliding_bias' [T, T] only when some layer reads it (every program input is used). */
export function layerBiasInputs(c: LayerTypesArchConfig, seq: number): RuntimeInputs {
  const inputs: RuntimeInputs = { causal_bias: causalBias(seq) };
  if (hasSlidingLayers(c)) inputs.sliding_bias = causalBias(seq, c.slidingWindow);
  return inputs;
}

/** In a forward pass: layer i -> the bias input of its kind. */
export function layerBiases<T>(ops: Ops<T>, c: LayerTypesArchConfig): (layer: number) => T {
  const full = ops.input('causal_bias');
  const sliding = hasSlidingLayers(c) ? ops.input('sliding_bias') : full;
  return (i) => (c.layerTypes[i] === 'sliding_attention' ? sliding : full);
}

/**
 * HF `layer_types`: which attention each layer uses (transformers 5 writes it for every
 * family with windowed layers; older configs leave it out and each family derives it).
 */
import { describe, type ConfigFields } from './fields.js';

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

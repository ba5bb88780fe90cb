/**
 * Per-layer attention spans (HF `layer_types`): 'full_attention' layers are causal over
 * every earlier key, 'sliding_attention' layers over the last `slidingWindow` keys only
 * (the query's own included). Each kind is one [T, T] additive bias input, built on the
 * host per call; a layer reads the one of its kind.
 */
import type { Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { ArchConfig } from './types';
import { causalBias } from './runtimeInputs';

export interface LayerTypesArchConfig extends ArchConfig {
  /** One per layer. A sliding layer needs `slidingWindow` (checked when the config is parsed). */
  layerTypes: ReadonlyArray<'full_attention' | 'sliding_attention'>;
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

/** The Gemma 2 fields the forward pass reads beyond the shared ArchConfig. */
import type { LayerTypesArchConfig } from '../common/layerTypes';

export interface Gemma2ArchConfig extends LayerTypesArchConfig {
  /** Attention scores are q.k * queryPreAttnScalar^-0.5 (not head_dim^-0.5). */
  queryPreAttnScalar: number;
  /** scores -> cap * tanh(scores / cap) before the mask, or null. */
  attnLogitSoftcap: number | null;
  /** logits -> cap * tanh(logits / cap), or null. */
  finalLogitSoftcap: number | null;
}

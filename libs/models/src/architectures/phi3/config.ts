/** The Phi-3 fields the forward pass reads beyond the shared ArchConfig. */
import type { ArchConfig } from '../common/types';

/** LongRoPE as resolved from the config (see config/types.ts LongRopeScaling). */
export interface LongRope {
  /** rotaryDim / 2 divisors of the inverse frequencies: short up to originalMaxPositionEmbeddings tokens, long beyond. */
  shortFactor: readonly number[];
  longFactor: readonly number[];
  originalMaxPositionEmbeddings: number;
  /** cos and sin are multiplied by it. */
  attentionFactor: number;
}

export interface Phi3ArchConfig extends ArchConfig {
  /** null: plain rope at rotaryBase on the first rotaryDim features of each head. */
  longrope: LongRope | null;
}

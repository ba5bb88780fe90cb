/** The Phi fields the forward pass reads beyond the shared ArchConfig. */
import type { ArchConfig } from '../common/types';

export interface PhiArchConfig extends ArchConfig {
  /** LayerNorm over head_dim on every query and key head, before the rotary. */
  qkLayernorm: boolean;
}

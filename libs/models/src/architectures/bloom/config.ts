/** The BLOOM fields the forward pass reads beyond the shared ArchConfig. */
import type { ArchConfig } from '../common/types';

export interface BloomArchConfig extends ArchConfig {
  /** Residuals taken from the layer norms' outputs (apply_residual_connection_post_layernorm). */
  residualPostLayernorm: boolean;
}

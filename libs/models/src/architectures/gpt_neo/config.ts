/** The GPT-Neo fields the forward pass reads beyond the shared ArchConfig. */
import type { ArchConfig } from '../common/types';

export interface GptNeoArchConfig extends ArchConfig {
  /** Per layer: 'global' (causal) or 'local' (causal within the last windowSize keys). */
  attentionLayers: ReadonlyArray<'global' | 'local'>;
  windowSize: number;
}

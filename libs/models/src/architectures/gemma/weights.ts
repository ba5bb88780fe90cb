/**
 * Gemma checkpoint tensors -> our params: the Llama layout. Norm weights stay as stored
 * (w); the forward applies them as (1 + w).
 */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from '../common/types';
import { llamaPrefix, readLlamaLayout } from '../common/llama';

export const loadParams = (weights: WeightSource, c: ArchConfig): Map<string, HostArray> => readLlamaLayout(weights, c, llamaPrefix(weights)).params;

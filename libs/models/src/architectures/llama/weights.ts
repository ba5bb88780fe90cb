/** Llama, Mistral and Qwen2 checkpoint tensors -> our params: the Llama layout under "model.". */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from '../common/types';
import { readLlamaLayout } from '../common/llama';

export const loadParams = (weights: WeightSource, c: ArchConfig): Map<string, HostArray> => readLlamaLayout(weights, c, 'model.').params;

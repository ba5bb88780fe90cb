/** Qwen3 checkpoint tensors -> our params: the Llama layout plus each layer's q/k norms [head_dim]. */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { layer } from '../common/blocks';
import { llamaPrefix, readLlamaLayout } from '../common/llama';

export function loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
  const p = llamaPrefix(weights);
  const r = new ParamReader(weights, `head_dim ${c.headDim}`, readLlamaLayout(weights, c, p).params);
  for (let i = 0; i < c.numLayers; i++) {
    r.norm(`${layer(i)}q_norm`, `${p}layers.${i}.self_attn.q_norm`, c.headDim);
    r.norm(`${layer(i)}k_norm`, `${p}layers.${i}.self_attn.k_norm`, c.headDim);
  }
  return r.params;
}

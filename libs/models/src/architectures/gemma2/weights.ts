/**
 * Gemma 2 checkpoint tensors -> our params: the Llama layout (whose ln2 is
 * post_attention_layernorm, which Gemma 2 applies to the attention OUTPUT) plus each
 * layer's pre- and post-feedforward norms. Norm weights stay w, applied as 1 + w.
 */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { layer } from '../common/blocks';
import { llamaPrefix, readLlamaLayout } from '../common/llama';

export function loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
  const p = llamaPrefix(weights);
  const r = new ParamReader(weights, `hidden_size ${c.dModel}`, readLlamaLayout(weights, c, p).params);
  for (let i = 0; i < c.numLayers; i++) {
    r.norm(`${layer(i)}ln_pre_ff`, `${p}layers.${i}.pre_feedforward_layernorm`, c.dModel);
    r.norm(`${layer(i)}ln_post_ff`, `${p}layers.${i}.post_feedforward_layernorm`, c.dModel);
  }
  return r.params;
}

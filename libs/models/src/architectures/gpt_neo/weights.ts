/** GPT-Neo checkpoint tensors -> our params (blocks.ts names). */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { layer } from '../common/blocks';

export function loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
  const D = c.dModel, I = c.intermediateSize;
  const r = new ParamReader(weights, `hidden_size ${D}, intermediate_size ${I}, vocab ${c.vocabSize}, max_position_embeddings ${c.contextLength}`);
  // Checkpoints saved from GPTNeoModel (not ...ForCausalLM) have no "transformer." prefix.
  const p = weights.has('transformer.wte.weight') ? 'transformer.' : '';
  r.take('embed', `${p}wte.weight`, [c.vocabSize, D]);
  r.take('pos', `${p}wpe.weight`, [c.contextLength, D]);
  for (let i = 0; i < c.numLayers; i++) {
    const h = `${p}h.${i}.`, l = layer(i);
    r.layerNorm(`${l}ln1`, `${h}ln_1`, D);
    for (const x of ['q', 'k', 'v']) r.linear(`${l}${x}`, `${h}attn.attention.${x}_proj`, D, D, c.qkvBias);
    r.linear(`${l}o`, `${h}attn.attention.out_proj`, D, D, c.outputBias);
    r.layerNorm(`${l}ln2`, `${h}ln_2`, D);
    r.linear(`${l}up`, `${h}mlp.c_fc`, D, I, c.mlpBias);
    r.linear(`${l}down`, `${h}mlp.c_proj`, I, D, c.mlpBias);
  }
  r.layerNorm('ln_f', `${p}ln_f`, D);
  r.head('lm_head.weight', D, c.vocabSize, c.tieWordEmbeddings);
  return r.params;
}

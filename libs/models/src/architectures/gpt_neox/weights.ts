/** GPT-NeoX checkpoint tensors -> our params (blocks.ts names). */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { layer } from '../common/blocks';

export function loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
  const D = c.dModel, I = c.intermediateSize;
  const r = new ParamReader(weights, `hidden_size ${D}, intermediate_size ${I}, vocab ${c.vocabSize}`);
  r.take('embed', 'gpt_neox.embed_in.weight', [c.vocabSize, D]);
  for (let i = 0; i < c.numLayers; i++) {
    const h = `gpt_neox.layers.${i}.`, l = layer(i);
    r.layerNorm(`${l}ln1`, `${h}input_layernorm`, D);
    r.layerNorm(`${l}ln2`, `${h}post_attention_layernorm`, D);
    // The attention's biases are read whatever attention_bias says: released checkpoints all
    // have them, and attention_bias false is not implemented.
    r.linear(`${l}qkv`, `${h}attention.query_key_value`, D, 3 * D, true);
    r.linear(`${l}o`, `${h}attention.dense`, D, D, true);
    r.linear(`${l}up`, `${h}mlp.dense_h_to_4h`, D, I, c.mlpBias);
    r.linear(`${l}down`, `${h}mlp.dense_4h_to_h`, I, D, c.mlpBias);
  }
  r.layerNorm('ln_f', 'gpt_neox.final_layer_norm', D);
  r.head('embed_out.weight', D, c.vocabSize, c.tieWordEmbeddings, true);
  return r.params;
}

/** BLOOM checkpoint tensors -> our params (blocks.ts names; `embed_ln` is the LayerNorm on the embeddings). */
import type { HostArray } from '@tuned-lens/engine';
import type { WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { layer } from '../common/blocks';
import type { BloomArchConfig } from './config';

export function loadParams(weights: WeightSource, c: BloomArchConfig): Map<string, HostArray> {
  const D = c.dModel, I = c.intermediateSize;
  const r = new ParamReader(weights, `hidden_size ${D}, n_head ${c.numHeads}, vocab ${c.vocabSize}`);
  // Checkpoints saved from BloomModel (not ...ForCausalLM) have no "transformer." prefix.
  const p = weights.has('transformer.word_embeddings.weight') ? 'transformer.' : '';
  r.take('embed', `${p}word_embeddings.weight`, [c.vocabSize, D]);
  r.layerNorm('embed_ln', `${p}word_embeddings_layernorm`, D);
  for (let i = 0; i < c.numLayers; i++) {
    const h = `${p}h.${i}.`, l = layer(i);
    r.layerNorm(`${l}ln1`, `${h}input_layernorm`, D);
    r.linear(`${l}qkv`, `${h}self_attention.query_key_value`, D, 3 * D, true);
    r.linear(`${l}o`, `${h}self_attention.dense`, D, D, c.outputBias);
    r.layerNorm(`${l}ln2`, `${h}post_attention_layernorm`, D);
    r.linear(`${l}up`, `${h}mlp.dense_h_to_4h`, D, I, c.mlpBias);
    r.linear(`${l}down`, `${h}mlp.dense_4h_to_h`, I, D, c.mlpBias);
  }
  r.layerNorm('ln_f', `${p}ln_f`, D);
  r.head('lm_head.weight', D, c.vocabSize, c.tieWordEmbeddings);
  return r.params;
}

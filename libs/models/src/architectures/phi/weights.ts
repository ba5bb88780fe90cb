/** Phi checkpoint tensors -> our params (blocks.ts names). */
import type { HostArray } from '@tuned-lens/engine';
import type { WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { layer } from '../common/blocks';
import type { PhiArchConfig } from './config';

export function loadParams(weights: WeightSource, c: PhiArchConfig): Map<string, HostArray> {
  const D = c.dModel, I = c.intermediateSize, H = c.numHeads, Hkv = c.numKvHeads, Dh = c.headDim;
  const r = new ParamReader(weights, `hidden_size ${D}, heads ${H}, kv heads ${Hkv}, intermediate_size ${I}, vocab ${c.vocabSize}`);
  // Checkpoints saved from PhiModel (not ...ForCausalLM) have no "model." prefix.
  const p = weights.has('model.embed_tokens.weight') ? 'model.' : '';
  r.take('embed', `${p}embed_tokens.weight`, [c.vocabSize, D]);
  for (let i = 0; i < c.numLayers; i++) {
    const h = `${p}layers.${i}.`, l = layer(i);
    r.layerNorm(`${l}ln1`, `${h}input_layernorm`, D);
    r.linear(`${l}q`, `${h}self_attn.q_proj`, D, H * Dh, c.qkvBias);
    r.linear(`${l}k`, `${h}self_attn.k_proj`, D, Hkv * Dh, c.qkvBias);
    r.linear(`${l}v`, `${h}self_attn.v_proj`, D, Hkv * Dh, c.qkvBias);
    r.linear(`${l}o`, `${h}self_attn.dense`, H * Dh, D, c.outputBias);
    if (c.qkLayernorm) {
      r.layerNorm(`${l}q_norm`, `${h}self_attn.q_layernorm`, Dh);
      r.layerNorm(`${l}k_norm`, `${h}self_attn.k_layernorm`, Dh);
    }
    r.linear(`${l}up`, `${h}mlp.fc1`, D, I, c.mlpBias);
    r.linear(`${l}down`, `${h}mlp.fc2`, I, D, c.mlpBias);
  }
  r.layerNorm('ln_f', `${p}final_layernorm`, D);
  r.head('lm_head.weight', D, c.vocabSize, c.tieWordEmbeddings);
  // The head's bias is its own parameter even when the weight is tied.
  r.take('lm_head.b', 'lm_head.bias', [c.vocabSize]);
  return r.params;
}

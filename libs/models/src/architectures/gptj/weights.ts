/** GPT-J checkpoint tensors -> our params (blocks.ts names), q/k reordered to the rotate-half layout (rotaryLayout.ts). */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { layer } from '../common/blocks';
import { deinterleaveRotaryColumns } from './rotaryLayout';

export function loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
  const D = c.dModel, I = c.intermediateSize, H = c.numHeads, Dh = c.headDim;
  const r = new ParamReader(weights, `n_embd ${D}, n_inner ${I}, vocab ${c.vocabSize}`);
  // Checkpoints saved from GPTJModel (not ...ForCausalLM) have no "transformer." prefix.
  const p = weights.has('transformer.wte.weight') ? 'transformer.' : '';
  r.take('embed', `${p}wte.weight`, [c.vocabSize, D]);
  const rotaryLayout = (as: string) => {
    const w = r.params.get(as)!;
    r.set(as, { shape: w.shape, data: deinterleaveRotaryColumns(w.data as Float32Array, D, H, Dh, c.rotaryDim) });
  };
  for (let i = 0; i < c.numLayers; i++) {
    const h = `${p}h.${i}.`, l = layer(i);
    r.layerNorm(`${l}ln1`, `${h}ln_1`, D);
    r.linear(`${l}q`, `${h}attn.q_proj`, D, D, c.qkvBias);
    r.linear(`${l}k`, `${h}attn.k_proj`, D, D, c.qkvBias);
    rotaryLayout(`${l}q.w`);
    rotaryLayout(`${l}k.w`);
    r.linear(`${l}v`, `${h}attn.v_proj`, D, D, c.qkvBias);
    r.linear(`${l}o`, `${h}attn.out_proj`, D, D, c.outputBias);
    r.linear(`${l}up`, `${h}mlp.fc_in`, D, I, c.mlpBias);
    r.linear(`${l}down`, `${h}mlp.fc_out`, I, D, c.mlpBias);
  }
  r.layerNorm('ln_f', `${p}ln_f`, D);
  r.head('lm_head.weight', D, c.vocabSize, c.tieWordEmbeddings);
  r.take('lm_head.b', 'lm_head.bias', [c.vocabSize]);
  return r.params;
}

/** GPT-2 checkpoint tensors -> our params (blocks.ts names). */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { layer } from '../common/blocks';

export function loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
  // Checkpoints saved from GPT2Model (not ...LMHeadModel) have no "transformer." prefix.
  const p = weights.has('transformer.wte.weight') ? 'transformer.' : '';
  const D = c.dModel, I = c.intermediateSize;
  const r = new ParamReader(weights, `n_embd ${D}, n_inner ${I}, vocab ${c.vocabSize}, n_positions ${c.contextLength}`);
  r.take('embed', `${p}wte.weight`, [c.vocabSize, D]);
  r.take('pos', `${p}wpe.weight`, [c.contextLength, D]);
  for (let i = 0; i < c.numLayers; i++) {
    const h = `${p}h.${i}.`, l = layer(i);
    r.layerNorm(`${l}ln1`, `${h}ln_1`, D);
    // c_attn is q | k | v by columns: read as three params, so the forward runs three
    // products instead of slicing [B, T, 3D] apart (slices are single-threaded copies in ORT).
    r.takeInOutColumns(l, ['q.w', 'k.w', 'v.w'], `${h}attn.c_attn.weight`, D, 3 * D);
    r.takeColumns(l, ['q.b', 'k.b', 'v.b'], `${h}attn.c_attn.bias`, 3 * D);
    r.conv1d(`${l}o`, `${h}attn.c_proj`, D, D);
    r.layerNorm(`${l}ln2`, `${h}ln_2`, D);
    r.conv1d(`${l}up`, `${h}mlp.c_fc`, D, I);
    r.conv1d(`${l}down`, `${h}mlp.c_proj`, I, D);
  }
  r.layerNorm('ln_f', `${p}ln_f`, D);
  r.head('lm_head.weight', D, c.vocabSize, c.tieWordEmbeddings, true);
  return r.params;
}

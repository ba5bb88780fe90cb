/** OPT checkpoint tensors -> our params (blocks.ts names). */
import type { HostArray } from '@tuned-lens/engine';
import type { WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { layer } from '../common/blocks';
import { OPT_POSITION_OFFSET, type OptArchConfig } from './config';

/** Token embeddings of their own width, mapped to and from dModel by project_in / project_out. */
export const hasProjection = (c: OptArchConfig): boolean => c.wordEmbedProjDim !== c.dModel;

export function loadParams(weights: WeightSource, c: OptArchConfig): Map<string, HostArray> {
  const D = c.dModel, I = c.intermediateSize, E = c.wordEmbedProjDim, V = c.vocabSize;
  const r = new ParamReader(weights, `hidden_size ${D}, ffn_dim ${I}, word_embed_proj_dim ${E}, vocab ${V}, max_position_embeddings ${c.contextLength}`);
  // Checkpoints saved from OPTModel (not ...ForCausalLM) have no "model." prefix.
  const p = weights.has('model.decoder.embed_tokens.weight') ? 'model.decoder.' : 'decoder.';
  r.take('embed', `${p}embed_tokens.weight`, [V, E]);
  r.take('pos', `${p}embed_positions.weight`, [c.contextLength + OPT_POSITION_OFFSET, D]);
  if (hasProjection(c)) {
    r.takeLinear('project_in', `${p}project_in.weight`, E, D);
    r.takeLinear('project_out', `${p}project_out.weight`, D, E);
  }
  // Without elementwise affine, a LayerNorm is plain normalisation: weight 1, no bias.
  if (!c.layerNormAffine) r.set('ones', { shape: [D], data: new Float32Array(D).fill(1) });
  const norm = (as: string, name: string) => {
    if (c.layerNormAffine) r.layerNorm(as, name, D);
  };
  for (let i = 0; i < c.numLayers; i++) {
    const h = `${p}layers.${i}.`, l = layer(i);
    norm(`${l}ln1`, `${h}self_attn_layer_norm`);
    for (const x of ['q', 'k', 'v']) r.linear(`${l}${x}`, `${h}self_attn.${x}_proj`, D, D, c.qkvBias);
    r.linear(`${l}o`, `${h}self_attn.out_proj`, D, D, c.outputBias);
    norm(`${l}ln2`, `${h}final_layer_norm`);
    r.linear(`${l}up`, `${h}fc1`, D, I, c.mlpBias);
    r.linear(`${l}down`, `${h}fc2`, I, D, c.mlpBias);
  }
  if (c.finalLayerNorm) norm('ln_f', `${p}final_layer_norm`);
  r.head('lm_head.weight', E, V, c.tieWordEmbeddings);
  return r.params;
}

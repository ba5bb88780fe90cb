/**
 * GPT-Neo (HF `GPTNeoForCausalLM`): GPT-2's layout (learned positions, pre-LN blocks,
 * gelu_new MLP, tied head) with torch Linear weights, separate q/k/v projections without
 * bias, layers alternating global and local (windowed) causal attention, and attention
 * scores NOT divided by sqrt(head_dim).
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { mergeHeads, splitHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { positions } from '../common/runtimeInputs';
import { archConfig, readConfig, type GptNeoConfig } from './config';
import { layerBiasInputs, layerBiases, type LayerTypesArchConfig } from '../common/layerTypes';

export const gptNeo: Architecture<LayerTypesArchConfig, GptNeoConfig> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: LayerTypesArchConfig): Map<string, HostArray> {
    const D = c.dModel, I = c.intermediateSize;
    const r = new ParamReader(weights, `hidden_size ${D}, intermediate_size ${I}, vocab ${c.vocabSize}, max_position_embeddings ${c.contextLength}`);
    // Checkpoints saved from GPTNeoModel (not ...ForCausalLM) have no "transformer." prefix.
    const p = weights.has('transformer.wte.weight') ? 'transformer.' : '';
    r.take('wte', `${p}wte.weight`, [c.vocabSize, D]);
    r.take('wpe', `${p}wpe.weight`, [c.contextLength, D]);
    for (let i = 0; i < c.numLayers; i++) {
      const h = `${p}h.${i}.`;
      r.take(`h${i}.ln1.w`, `${h}ln_1.weight`, [D]);
      r.take(`h${i}.ln1.b`, `${h}ln_1.bias`, [D]);
      r.takeLinear(`h${i}.q.w`, `${h}attn.attention.q_proj.weight`, D, D);
      r.takeLinear(`h${i}.k.w`, `${h}attn.attention.k_proj.weight`, D, D);
      r.takeLinear(`h${i}.v.w`, `${h}attn.attention.v_proj.weight`, D, D);
      r.takeLinear(`h${i}.o.w`, `${h}attn.attention.out_proj.weight`, D, D);
      r.take(`h${i}.o.b`, `${h}attn.attention.out_proj.bias`, [D]);
      r.take(`h${i}.ln2.w`, `${h}ln_2.weight`, [D]);
      r.take(`h${i}.ln2.b`, `${h}ln_2.bias`, [D]);
      r.takeLinear(`h${i}.fc.w`, `${h}mlp.c_fc.weight`, D, I);
      r.take(`h${i}.fc.b`, `${h}mlp.c_fc.bias`, [I]);
      r.takeLinear(`h${i}.proj.w`, `${h}mlp.c_proj.weight`, I, D);
      r.take(`h${i}.proj.b`, `${h}mlp.c_proj.bias`, [D]);
    }
    r.take('ln_f.w', `${p}ln_f.weight`, [D]);
    r.take('ln_f.b', `${p}ln_f.bias`, [D]);
    if (!c.tieWordEmbeddings) r.takeLinear('lm_head', 'lm_head.weight', D, c.vocabSize);
    else r.tieHead('lm_head', 'wte');
    return r.params;
  },

  runtimeInputs(c: LayerTypesArchConfig, _batch: number, seq: number): RuntimeInputs {
    return { positions: positions(seq), ...layerBiasInputs(c, seq) };
  },

  forward<T>(ops: Ops<T>, c: LayerTypesArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Dh = c.headDim, L = c.numLayers;
    const biasOf = layerBiases(ops, c);
    let h = ops.add(ops.embedding(ops.param('wte'), ops.input('input_ids')), ops.embedding(ops.param('wpe'), ops.input('positions')));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`h${i}.${n}`);
      const x = ops.layerNorm(h, P('ln1.w'), P('ln1.b'), c.normEps);
      const q = splitHeads(ops, ops.linear(x, P('q.w'), null), H, Dh);
      const k = splitHeads(ops, ops.linear(x, P('k.w'), null), H, Dh);
      const v = splitHeads(ops, ops.linear(x, P('v.w'), null), H, Dh);
      // GPT-Neo never scales its scores (scale 1, not 1/sqrt(Dh)).
      const a = ops.causalAttention(q, k, v, biasOf(i), 1);
      h = ops.add(h, ops.linear(mergeHeads(ops, a, H, Dh), P('o.w'), P('o.b')));
      const m = ops.layerNorm(h, P('ln2.w'), P('ln2.b'), c.normEps);
      h = ops.add(h, ops.linear(activate(ops, ops.linear(m, P('fc.w'), P('fc.b')), c.activation), P('proj.w'), P('proj.b')));
      if (i < L - 1) ops.output(`hidden_states.${i + 1}`, h);
    }
    ops.output(`residual.${L}`, h);
    const normed = ops.layerNorm(h, ops.param('ln_f.w'), ops.param('ln_f.b'), c.normEps);
    ops.output(`hidden_states.${L}`, normed);
    if (opts.logits) ops.output('logits', ops.linear(normed, ops.param('lm_head'), null));
  },

  unembedding: (c): UnembeddingSpec => ({
    norm: 'layer_norm', eps: c.normEps, normWeight: 'ln_f.w', normBias: 'ln_f.b', lmHead: 'lm_head', lmHeadBias: null,
  }),
};

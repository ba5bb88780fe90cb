/**
 * GPT-2 (HF `GPT2LMHeadModel`): learned positions, pre-LN blocks, fused q|k|v in
 * `c_attn`, Conv1D weights stored [in, out], gelu_new MLP, LM head tied to `wte`.
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { ArchConfig, Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { attention, mergeHeads, splitHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { causalBias, positions } from '../common/runtimeInputs';
import { archConfig, readConfig, type Gpt2Config } from './config';

export const gpt2: Architecture<ArchConfig, Gpt2Config> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
    // Checkpoints saved from GPT2Model (not ...LMHeadModel) have no "transformer." prefix.
    const p = weights.has('transformer.wte.weight') ? 'transformer.' : '';
    const D = c.dModel, I = c.intermediateSize;
    const r = new ParamReader(weights, `n_embd ${D}, n_inner ${I}, vocab ${c.vocabSize}, n_positions ${c.contextLength}`);
    r.take('wte', `${p}wte.weight`, [c.vocabSize, D]);
    r.take('wpe', `${p}wpe.weight`, [c.contextLength, D]);
    for (let i = 0; i < c.numLayers; i++) {
      const h = `${p}h.${i}.`;
      r.take(`h${i}.ln1.w`, `${h}ln_1.weight`, [D]);
      r.take(`h${i}.ln1.b`, `${h}ln_1.bias`, [D]);
      r.takeInOutColumns(`h${i}.`, ['q.w', 'k.w', 'v.w'], `${h}attn.c_attn.weight`, D, 3 * D);
      r.takeColumns(`h${i}.`, ['q.b', 'k.b', 'v.b'], `${h}attn.c_attn.bias`, 3 * D);
      r.takeInOut(`h${i}.o.w`, `${h}attn.c_proj.weight`, D, D);
      r.take(`h${i}.o.b`, `${h}attn.c_proj.bias`, [D]);
      r.take(`h${i}.ln2.w`, `${h}ln_2.weight`, [D]);
      r.take(`h${i}.ln2.b`, `${h}ln_2.bias`, [D]);
      r.takeInOut(`h${i}.fc.w`, `${h}mlp.c_fc.weight`, D, I);
      r.take(`h${i}.fc.b`, `${h}mlp.c_fc.bias`, [I]);
      r.takeInOut(`h${i}.proj.w`, `${h}mlp.c_proj.weight`, I, D);
      r.take(`h${i}.proj.b`, `${h}mlp.c_proj.bias`, [D]);
    }
    r.take('ln_f.w', `${p}ln_f.weight`, [D]);
    r.take('ln_f.b', `${p}ln_f.bias`, [D]);
    if (!c.tieWordEmbeddings && r.has('lm_head.weight')) r.takeLinear('lm_head', 'lm_head.weight', D, c.vocabSize);
    else r.tieHead('lm_head', 'wte');
    return r.params;
  },

  runtimeInputs(_c: ArchConfig, _batch: number, seq: number): RuntimeInputs {
    return { positions: positions(seq), causal_bias: causalBias(seq) };
  },

  forward<T>(ops: Ops<T>, c: ArchConfig, opts: ForwardOptions): void {
    const D = c.dModel, H = c.numHeads, Dh = c.headDim, L = c.numLayers;
    const bias = ops.input('causal_bias');
    let h = ops.add(ops.embedding(ops.param('wte'), ops.input('input_ids')), ops.embedding(ops.param('wpe'), ops.input('positions')));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`h${i}.${n}`);
      const x = ops.layerNorm(h, P('ln1.w'), P('ln1.b'), c.normEps);
      // Three products instead of c_attn's one and three slices of its output: the same
      // sums, without copying [B, T, 3D] apart (slices are single-threaded copies in ORT).
      const q = splitHeads(ops, ops.linear(x, P('q.w'), P('q.b')), H, Dh);
      const k = splitHeads(ops, ops.linear(x, P('k.w'), P('k.b')), H, Dh);
      const v = splitHeads(ops, ops.linear(x, P('v.w'), P('v.b')), H, Dh);
      const a = mergeHeads(ops, attention(ops, q, k, v, bias, Dh, 1), H, Dh);
      h = ops.add(h, ops.linear(a, P('o.w'), P('o.b')));
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

/**
 * GPT-J (HF `GPTJForCausalLM`): one LayerNorm per block feeding attention and MLP in
 * parallel (x + attn(ln_1(x)) + mlp(ln_1(x))), q/k/v/out projections without bias,
 * rotary on the first rotary_dim features of each head in the interleaved-pairs
 * convention (see rotaryLayout.ts), gelu_new MLP, final LayerNorm, LM head with a bias.
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { ArchConfig, Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { applyRotary, attention, mergeHeads, splitHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { causalBias, ropeTables } from '../common/runtimeInputs';
import { deinterleaveRotaryColumns } from './rotaryLayout';
import { archConfig, readConfig, type GptjConfig } from './config';

export const gptj: Architecture<ArchConfig, GptjConfig> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
    const D = c.dModel, I = c.intermediateSize, H = c.numHeads, Dh = c.headDim;
    const r = new ParamReader(weights, `n_embd ${D}, n_inner ${I}, vocab ${c.vocabSize}`);
    // Checkpoints saved from GPTJModel (not ...ForCausalLM) have no "transformer." prefix.
    const p = weights.has('transformer.wte.weight') ? 'transformer.' : '';
    r.take('wte', `${p}wte.weight`, [c.vocabSize, D]);
    const rotaryLayout = (as: string) => {
      const w = r.params.get(as)!;
      r.set(as, { shape: w.shape, data: deinterleaveRotaryColumns(w.data as Float32Array, D, H, Dh, c.rotaryDim) });
    };
    for (let i = 0; i < c.numLayers; i++) {
      const h = `${p}h.${i}.`;
      r.take(`h${i}.ln.w`, `${h}ln_1.weight`, [D]);
      r.take(`h${i}.ln.b`, `${h}ln_1.bias`, [D]);
      r.takeLinear(`h${i}.q.w`, `${h}attn.q_proj.weight`, D, D);
      r.takeLinear(`h${i}.k.w`, `${h}attn.k_proj.weight`, D, D);
      rotaryLayout(`h${i}.q.w`);
      rotaryLayout(`h${i}.k.w`);
      r.takeLinear(`h${i}.v.w`, `${h}attn.v_proj.weight`, D, D);
      r.takeLinear(`h${i}.o.w`, `${h}attn.out_proj.weight`, D, D);
      r.takeLinear(`h${i}.fc_in.w`, `${h}mlp.fc_in.weight`, D, I);
      r.take(`h${i}.fc_in.b`, `${h}mlp.fc_in.bias`, [I]);
      r.takeLinear(`h${i}.fc_out.w`, `${h}mlp.fc_out.weight`, I, D);
      r.take(`h${i}.fc_out.b`, `${h}mlp.fc_out.bias`, [D]);
    }
    r.take('ln_f.w', `${p}ln_f.weight`, [D]);
    r.take('ln_f.b', `${p}ln_f.bias`, [D]);
    if (!c.tieWordEmbeddings) r.takeLinear('lm_head', 'lm_head.weight', D, c.vocabSize);
    else r.tieHead('lm_head', 'wte');
    r.take('lm_head.b', 'lm_head.bias', [c.vocabSize]);
    return r.params;
  },

  runtimeInputs(c: ArchConfig, _batch: number, seq: number): RuntimeInputs {
    // Rotate-half tables: the q/k weights were reordered to that layout at load.
    const { cos, sin } = ropeTables(seq, c.rotaryDim, c.rotaryBase);
    return { causal_bias: causalBias(seq), rope_cos: cos, rope_sin: sin };
  },

  forward<T>(ops: Ops<T>, c: ArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Dh = c.headDim, L = c.numLayers, rd = c.rotaryDim;
    const bias = ops.input('causal_bias'), cos = ops.input('rope_cos'), sin = ops.input('rope_sin');
    let h = ops.embedding(ops.param('wte'), ops.input('input_ids'));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`h${i}.${n}`);
      const x = ops.layerNorm(h, P('ln.w'), P('ln.b'), c.normEps);
      const q = applyRotary(ops, splitHeads(ops, ops.linear(x, P('q.w'), null), H, Dh), cos, sin, rd, Dh);
      const k = applyRotary(ops, splitHeads(ops, ops.linear(x, P('k.w'), null), H, Dh), cos, sin, rd, Dh);
      const v = splitHeads(ops, ops.linear(x, P('v.w'), null), H, Dh);
      const attnOut = ops.linear(mergeHeads(ops, attention(ops, q, k, v, bias, Dh, 1), H, Dh), P('o.w'), null);
      const mlpOut = ops.linear(activate(ops, ops.linear(x, P('fc_in.w'), P('fc_in.b')), c.activation), P('fc_out.w'), P('fc_out.b'));
      h = ops.add(ops.add(attnOut, mlpOut), h);
      if (i < L - 1) ops.output(`hidden_states.${i + 1}`, h);
    }
    ops.output(`residual.${L}`, h);
    const normed = ops.layerNorm(h, ops.param('ln_f.w'), ops.param('ln_f.b'), c.normEps);
    ops.output(`hidden_states.${L}`, normed);
    if (opts.logits) ops.output('logits', ops.linear(normed, ops.param('lm_head'), ops.param('lm_head.b')));
  },

  unembedding: (c): UnembeddingSpec => ({
    norm: 'layer_norm', eps: c.normEps, normWeight: 'ln_f.w', normBias: 'ln_f.b', lmHead: 'lm_head', lmHeadBias: 'lm_head.b',
  }),
};

/**
 * Phi-1 / 1.5 / 2 (HF `PhiForCausalLM`): one LayerNorm per block feeding attention and
 * MLP in parallel (x + attn(ln(x)) + mlp(ln(x))), rotary (rotate-half) on the first
 * int(head_dim * partial_rotary_factor) features of each head, optional per-head q/k
 * LayerNorms, gelu_new MLP, final LayerNorm and an LM head with a bias.
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { applyRotary, attention, mergeHeads, splitHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { causalBias, ropeTables } from '../common/runtimeInputs';
import { archConfig, readConfig, type PhiArchConfig, type PhiConfig } from './config';

export const phi: Architecture<PhiArchConfig, PhiConfig> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: PhiArchConfig): Map<string, HostArray> {
    const D = c.dModel, I = c.intermediateSize, H = c.numHeads, Hkv = c.numKvHeads, Dh = c.headDim;
    const r = new ParamReader(weights, `hidden_size ${D}, heads ${H}, kv heads ${Hkv}, intermediate_size ${I}, vocab ${c.vocabSize}`);
    // Checkpoints saved from PhiModel (not ...ForCausalLM) have no "model." prefix.
    const p = weights.has('model.embed_tokens.weight') ? 'model.' : '';
    r.take('embed', `${p}embed_tokens.weight`, [c.vocabSize, D]);
    for (let i = 0; i < c.numLayers; i++) {
      const h = `${p}layers.${i}.`;
      r.take(`l${i}.ln.w`, `${h}input_layernorm.weight`, [D]);
      r.take(`l${i}.ln.b`, `${h}input_layernorm.bias`, [D]);
      r.takeLinear(`l${i}.q.w`, `${h}self_attn.q_proj.weight`, D, H * Dh);
      r.take(`l${i}.q.b`, `${h}self_attn.q_proj.bias`, [H * Dh]);
      r.takeLinear(`l${i}.k.w`, `${h}self_attn.k_proj.weight`, D, Hkv * Dh);
      r.take(`l${i}.k.b`, `${h}self_attn.k_proj.bias`, [Hkv * Dh]);
      r.takeLinear(`l${i}.v.w`, `${h}self_attn.v_proj.weight`, D, Hkv * Dh);
      r.take(`l${i}.v.b`, `${h}self_attn.v_proj.bias`, [Hkv * Dh]);
      r.takeLinear(`l${i}.o.w`, `${h}self_attn.dense.weight`, H * Dh, D);
      r.take(`l${i}.o.b`, `${h}self_attn.dense.bias`, [D]);
      if (c.qkLayernorm) {
        r.take(`l${i}.qln.w`, `${h}self_attn.q_layernorm.weight`, [Dh]);
        r.take(`l${i}.qln.b`, `${h}self_attn.q_layernorm.bias`, [Dh]);
        r.take(`l${i}.kln.w`, `${h}self_attn.k_layernorm.weight`, [Dh]);
        r.take(`l${i}.kln.b`, `${h}self_attn.k_layernorm.bias`, [Dh]);
      }
      r.takeLinear(`l${i}.fc1.w`, `${h}mlp.fc1.weight`, D, I);
      r.take(`l${i}.fc1.b`, `${h}mlp.fc1.bias`, [I]);
      r.takeLinear(`l${i}.fc2.w`, `${h}mlp.fc2.weight`, I, D);
      r.take(`l${i}.fc2.b`, `${h}mlp.fc2.bias`, [D]);
    }
    r.take('final.w', `${p}final_layernorm.weight`, [D]);
    r.take('final.b', `${p}final_layernorm.bias`, [D]);
    if (!c.tieWordEmbeddings) r.takeLinear('lm_head', 'lm_head.weight', D, c.vocabSize);
    else r.tieHead('lm_head', 'embed');
    // The head's bias is its own parameter even when the weight is tied.
    r.take('lm_head.b', 'lm_head.bias', [c.vocabSize]);
    return r.params;
  },

  runtimeInputs(c: PhiArchConfig, _batch: number, seq: number): RuntimeInputs {
    const { cos, sin } = ropeTables(seq, c.rotaryDim, c.rotaryBase);
    return { causal_bias: causalBias(seq), rope_cos: cos, rope_sin: sin };
  },

  forward<T>(ops: Ops<T>, c: PhiArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Hkv = c.numKvHeads, Dh = c.headDim, L = c.numLayers, rd = c.rotaryDim;
    const bias = ops.input('causal_bias'), cos = ops.input('rope_cos'), sin = ops.input('rope_sin');
    let h = ops.embedding(ops.param('embed'), ops.input('input_ids'));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`l${i}.${n}`);
      const x = ops.layerNorm(h, P('ln.w'), P('ln.b'), c.normEps);
      // [B, H, T, Dh] each; the q/k norms act per head, over Dh.
      let q = splitHeads(ops, ops.linear(x, P('q.w'), P('q.b')), H, Dh);
      let k = splitHeads(ops, ops.linear(x, P('k.w'), P('k.b')), Hkv, Dh);
      const v = splitHeads(ops, ops.linear(x, P('v.w'), P('v.b')), Hkv, Dh);
      if (c.qkLayernorm) {
        q = ops.layerNorm(q, P('qln.w'), P('qln.b'), c.normEps);
        k = ops.layerNorm(k, P('kln.w'), P('kln.b'), c.normEps);
      }
      q = applyRotary(ops, q, cos, sin, rd, Dh);
      k = applyRotary(ops, k, cos, sin, rd, Dh);
      const attnOut = ops.linear(mergeHeads(ops, attention(ops, q, k, v, bias, Dh, H / Hkv), H, Dh), P('o.w'), P('o.b'));
      const mlpOut = ops.linear(activate(ops, ops.linear(x, P('fc1.w'), P('fc1.b')), c.activation), P('fc2.w'), P('fc2.b'));
      h = ops.add(ops.add(attnOut, mlpOut), h);
      if (i < L - 1) ops.output(`hidden_states.${i + 1}`, h);
    }
    ops.output(`residual.${L}`, h);
    const normed = ops.layerNorm(h, ops.param('final.w'), ops.param('final.b'), c.normEps);
    ops.output(`hidden_states.${L}`, normed);
    if (opts.logits) ops.output('logits', ops.linear(normed, ops.param('lm_head'), ops.param('lm_head.b')));
  },

  unembedding: (c): UnembeddingSpec => ({
    norm: 'layer_norm', eps: c.normEps, normWeight: 'final.w', normBias: 'final.b', lmHead: 'lm_head', lmHeadBias: 'lm_head.b',
  }),
};

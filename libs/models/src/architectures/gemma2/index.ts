/**
 * Gemma 2 (HF `Gemma2ForCausalLM`): Gemma 1's pieces (embeddings times sqrt(d) rounded to
 * the model dtype, RMSNorm as (1 + w), GeGLU, own head_dim, tied head) with four more:
 * - sandwich norms: the attention output and the MLP output are each normed before they
 *   join the residual (post_attention_layernorm, post_feedforward_layernorm), and the MLP
 *   reads pre_feedforward_layernorm(h);
 * - scores scaled by query_pre_attn_scalar^-0.5;
 * - layers alternate sliding-window and global attention (`layer_types`);
 * - soft-capping cap * tanh(x / cap) of the attention scores (before the mask) and of the
 *   final logits.
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { loadLlamaLayout } from '../common/llama';
import { ParamReader } from '../common/params';
import { applyRotary, mergeHeads, splitHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { ropeTables } from '../common/runtimeInputs';
import { layerBiases, layerBiasInputs } from '../common/layerTypes';
import { softcap, softcappedAttention } from '../common/softcap';
import { archConfig, readConfig, type Gemma2ArchConfig, type Gemma2Config } from './config';

export const gemma2: Architecture<Gemma2ArchConfig, Gemma2Config> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: Gemma2ArchConfig): Map<string, HostArray> {
    // Checkpoints saved from Gemma2Model (not ...ForCausalLM) have no "model." prefix.
    // The Llama layout reads input_layernorm as ln1 and post_attention_layernorm as ln2
    // (which Gemma 2 applies to the attention OUTPUT); norm weights stay w, applied as 1 + w.
    const p = weights.has('model.embed_tokens.weight') ? 'model.' : '';
    const params = loadLlamaLayout(weights, c, p);
    const r = new ParamReader(weights, `hidden_size ${c.dModel}`);
    for (let i = 0; i < c.numLayers; i++) {
      r.take(`l${i}.ln_pre_ff`, `${p}layers.${i}.pre_feedforward_layernorm.weight`, [c.dModel]);
      r.take(`l${i}.ln_post_ff`, `${p}layers.${i}.post_feedforward_layernorm.weight`, [c.dModel]);
    }
    for (const [name, value] of r.params) params.set(name, value);
    return params;
  },

  runtimeInputs(c: Gemma2ArchConfig, _batch: number, seq: number): RuntimeInputs {
    const { cos, sin } = ropeTables(seq, c.rotaryDim, c.rotaryBase);
    return { ...layerBiasInputs(c, seq), rope_cos: cos, rope_sin: sin };
  },

  forward<T>(ops: Ops<T>, c: Gemma2ArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Hkv = c.numKvHeads, Dh = c.headDim, L = c.numLayers, groups = H / Hkv;
    const biasOf = layerBiases(ops, c);
    const cos = ops.input('rope_cos'), sin = ops.input('rope_sin');
    const optional = (name: string, present: boolean) => (present ? ops.param(name) : null);
    const norm = (x: T, w: T) => ops.rmsNorm(x, w, c.normEps, true);
    const scale = 1 / Math.sqrt(c.queryPreAttnScalar);
    // [B, H, T, Dh] each -> [B, H, T, Dh]
    const attend = (q: T, k: T, v: T, bias: T): T => {
      if (c.attnLogitSoftcap !== null) return softcappedAttention(ops, q, k, v, bias, scale, groups, c.attnLogitSoftcap);
      return ops.causalAttention(q, groups > 1 ? ops.repeatHeads(k, groups) : k, groups > 1 ? ops.repeatHeads(v, groups) : v, bias, scale);
    };
    // HF multiplies by a tensor of the hidden dtype: sqrt(d) rounded to f32, not the exact root.
    let h = ops.scale(ops.embedding(ops.param('embed'), ops.input('input_ids')), Math.fround(Math.sqrt(c.dModel)));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`l${i}.${n}`);
      const x = norm(h, P('ln1'));
      const headsOf = (n: string, heads: number) => splitHeads(ops, ops.linear(x, P(`${n}.w`), optional(`l${i}.${n}.b`, c.qkvBias)), heads, Dh);
      const q = applyRotary(ops, headsOf('q', H), cos, sin, c.rotaryDim, Dh);
      const k = applyRotary(ops, headsOf('k', Hkv), cos, sin, c.rotaryDim, Dh);
      // [B, T, H*Dh] -> o_proj -> [B, T, d], normed before the residual add.
      const a = ops.linear(mergeHeads(ops, attend(q, k, headsOf('v', Hkv), biasOf(i)), H, Dh), P('o.w'), optional(`l${i}.o.b`, c.outputBias));
      h = ops.add(h, norm(a, P('ln2')));
      const m = norm(h, P('ln_pre_ff'));
      const gate = activate(ops, ops.linear(m, P('gate.w'), null), c.activation);
      const mlp = ops.linear(ops.mul(gate, ops.linear(m, P('up.w'), null)), P('down.w'), null);
      h = ops.add(h, norm(mlp, P('ln_post_ff')));
      if (i < L - 1) ops.output(`hidden_states.${i + 1}`, h);
    }
    ops.output(`residual.${L}`, h);
    const normed = norm(h, ops.param('norm'));
    ops.output(`hidden_states.${L}`, normed);
    if (opts.logits) {
      const logits = ops.linear(normed, ops.param('lm_head'), null);
      ops.output('logits', c.finalLogitSoftcap !== null ? softcap(ops, logits, c.finalLogitSoftcap) : logits);
    }
  },

  unembedding: (c): UnembeddingSpec => ({
    norm: 'rms_norm_plus_one', eps: c.normEps, normWeight: 'norm', normBias: null, lmHead: 'lm_head', lmHeadBias: null,
    ...(c.finalLogitSoftcap !== null ? { logitSoftcap: c.finalLogitSoftcap } : {}),
  }),
};

/**
 * Gemma 1 (HF `GemmaForCausalLM`): the Llama layout with three differences that change
 * the math: token embeddings multiplied by sqrt(hidden_size) rounded to the model dtype,
 * RMSNorm weights applied as (1 + w), and a GeGLU MLP (gelu_pytorch_tanh gate). head_dim
 * is its own field (it need not be hidden_size / heads); the LM head is tied.
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { ArchConfig, Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { loadLlamaLayout } from '../common/llama';
import { applyRotary, attention, mergeHeads, splitHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { causalBias, ropeTables } from '../common/runtimeInputs';
import { archConfig, readConfig, type GemmaConfig } from './config';

export const gemma: Architecture<ArchConfig, GemmaConfig> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
    // Checkpoints saved from GemmaModel (not ...ForCausalLM) have no "model." prefix.
    // Norm weights stay as stored (w); rmsNorm(..., plusOne) applies 1 + w.
    return loadLlamaLayout(weights, c, weights.has('model.embed_tokens.weight') ? 'model.' : '');
  },

  runtimeInputs(c: ArchConfig, _batch: number, seq: number): RuntimeInputs {
    const { cos, sin } = ropeTables(seq, c.rotaryDim, c.rotaryBase);
    return { causal_bias: causalBias(seq), rope_cos: cos, rope_sin: sin };
  },

  forward<T>(ops: Ops<T>, c: ArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Hkv = c.numKvHeads, Dh = c.headDim, L = c.numLayers;
    const bias = ops.input('causal_bias'), cos = ops.input('rope_cos'), sin = ops.input('rope_sin');
    const optional = (name: string, present: boolean) => (present ? ops.param(name) : null);
    const norm = (x: T, w: T) => ops.rmsNorm(x, w, c.normEps, true);
    // HF multiplies by a tensor of the hidden dtype: sqrt(d) rounded to f32, not the exact root.
    let h = ops.scale(ops.embedding(ops.param('embed'), ops.input('input_ids')), Math.fround(Math.sqrt(c.dModel)));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`l${i}.${n}`);
      const x = norm(h, P('ln1'));
      const q = applyRotary(ops, splitHeads(ops, ops.linear(x, P('q.w'), optional(`l${i}.q.b`, c.qkvBias)), H, Dh), cos, sin, c.rotaryDim, Dh);
      const k = applyRotary(ops, splitHeads(ops, ops.linear(x, P('k.w'), optional(`l${i}.k.b`, c.qkvBias)), Hkv, Dh), cos, sin, c.rotaryDim, Dh);
      const v = splitHeads(ops, ops.linear(x, P('v.w'), optional(`l${i}.v.b`, c.qkvBias)), Hkv, Dh);
      // [B, H, T, Dh] -> [B, T, H*Dh]; H*Dh need not equal dModel (o_proj maps back).
      const a = mergeHeads(ops, attention(ops, q, k, v, bias, Dh, H / Hkv), H, Dh);
      h = ops.add(h, ops.linear(a, P('o.w'), optional(`l${i}.o.b`, c.outputBias)));
      const m = norm(h, P('ln2'));
      const gate = activate(ops, ops.linear(m, P('gate.w'), null), c.activation);
      h = ops.add(h, ops.linear(ops.mul(gate, ops.linear(m, P('up.w'), null)), P('down.w'), null));
      if (i < L - 1) ops.output(`hidden_states.${i + 1}`, h);
    }
    ops.output(`residual.${L}`, h);
    const normed = norm(h, ops.param('norm'));
    ops.output(`hidden_states.${L}`, normed);
    if (opts.logits) ops.output('logits', ops.linear(normed, ops.param('lm_head'), null));
  },

  unembedding: (c): UnembeddingSpec => ({
    norm: 'rms_norm_plus_one', eps: c.normEps, normWeight: 'norm', normBias: null, lmHead: 'lm_head', lmHeadBias: null,
  }),
};

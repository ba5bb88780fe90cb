/**
 * Llama family (HF `LlamaForCausalLM`; also Mistral and Qwen2, which share its layout):
 * RMSNorm, rotary on whole heads (rotate-half, rope_theta), grouped-query attention,
 * SwiGLU MLP, LM head separate or tied. Qwen2 adds q/k/v biases; Llama's
 * `attention_bias` adds biases on q/k/v/o; Mistral/Qwen2 sliding windows go into the
 * causal mask.
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { ArchConfig, Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { loadLlamaLayout } from '../common/llama';
import { applyRotary, attention, mergeHeads, splitHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { causalBias, ropeTables } from '../common/runtimeInputs';
import { archConfig, readConfig, type LlamaConfig } from './config';

export const llama: Architecture<ArchConfig, LlamaConfig> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
    return loadLlamaLayout(weights, c, 'model.');
  },

  runtimeInputs(c: ArchConfig, _batch: number, seq: number): RuntimeInputs {
    const { cos, sin } = ropeTables(seq, c.rotaryDim, c.rotaryBase);
    return { causal_bias: causalBias(seq, c.slidingWindow), rope_cos: cos, rope_sin: sin };
  },

  forward<T>(ops: Ops<T>, c: ArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Hkv = c.numKvHeads, Dh = c.headDim, L = c.numLayers;
    const bias = ops.input('causal_bias'), cos = ops.input('rope_cos'), sin = ops.input('rope_sin');
    const optional = (name: string, present: boolean) => (present ? ops.param(name) : null);
    let h = ops.embedding(ops.param('embed'), ops.input('input_ids'));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`l${i}.${n}`);
      const x = ops.rmsNorm(h, P('ln1'), c.normEps, false);
      const q = applyRotary(ops, splitHeads(ops, ops.linear(x, P('q.w'), optional(`l${i}.q.b`, c.qkvBias)), H, Dh), cos, sin, c.rotaryDim, Dh);
      const k = applyRotary(ops, splitHeads(ops, ops.linear(x, P('k.w'), optional(`l${i}.k.b`, c.qkvBias)), Hkv, Dh), cos, sin, c.rotaryDim, Dh);
      const v = splitHeads(ops, ops.linear(x, P('v.w'), optional(`l${i}.v.b`, c.qkvBias)), Hkv, Dh);
      const a = mergeHeads(ops, attention(ops, q, k, v, bias, Dh, H / Hkv), H, Dh);
      h = ops.add(h, ops.linear(a, P('o.w'), optional(`l${i}.o.b`, c.outputBias)));
      const m = ops.rmsNorm(h, P('ln2'), c.normEps, false);
      const gate = activate(ops, ops.linear(m, P('gate.w'), optional(`l${i}.gate.b`, c.mlpBias)), c.activation);
      const up = ops.linear(m, P('up.w'), optional(`l${i}.up.b`, c.mlpBias));
      h = ops.add(h, ops.linear(ops.mul(gate, up), P('down.w'), optional(`l${i}.down.b`, c.mlpBias)));
      if (i < L - 1) ops.output(`hidden_states.${i + 1}`, h);
    }
    ops.output(`residual.${L}`, h);
    const normed = ops.rmsNorm(h, ops.param('norm'), c.normEps, false);
    ops.output(`hidden_states.${L}`, normed);
    if (opts.logits) ops.output('logits', ops.linear(normed, ops.param('lm_head'), null));
  },

  unembedding: (c): UnembeddingSpec => ({
    norm: 'rms_norm', eps: c.normEps, normWeight: 'norm', normBias: null, lmHead: 'lm_head', lmHeadBias: null,
  }),
};

/**
 * Qwen3 (HF `Qwen3ForCausalLM`): the Llama layout and math plus an RMSNorm over head_dim
 * on every query and key head, applied after the projection and before the rotary.
 * head_dim is its own field (Qwen3-0.6B: 128 with hidden 1024 / 16 heads); q/k/v/o carry
 * biases when attention_bias is set; layers can be sliding-window ones (`layer_types`).
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { loadLlamaLayout } from '../common/llama';
import { ParamReader } from '../common/params';
import { applyRotary, attention, mergeHeads, splitHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { ropeTables } from '../common/runtimeInputs';
import { layerBiases, layerBiasInputs, type LayerTypesArchConfig } from '../common/layerTypes';
import { archConfig, readConfig, type Qwen3Config } from './config';

export const qwen3: Architecture<LayerTypesArchConfig, Qwen3Config> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: LayerTypesArchConfig): Map<string, HostArray> {
    // Checkpoints saved from Qwen3Model (not ...ForCausalLM) have no "model." prefix.
    const p = weights.has('model.embed_tokens.weight') ? 'model.' : '';
    const params = loadLlamaLayout(weights, c, p);
    const r = new ParamReader(weights, `head_dim ${c.headDim}`);
    for (let i = 0; i < c.numLayers; i++) {
      r.take(`l${i}.q_norm`, `${p}layers.${i}.self_attn.q_norm.weight`, [c.headDim]);
      r.take(`l${i}.k_norm`, `${p}layers.${i}.self_attn.k_norm.weight`, [c.headDim]);
    }
    for (const [name, value] of r.params) params.set(name, value);
    return params;
  },

  runtimeInputs(c: LayerTypesArchConfig, _batch: number, seq: number): RuntimeInputs {
    const { cos, sin } = ropeTables(seq, c.rotaryDim, c.rotaryBase);
    return { ...layerBiasInputs(c, seq), rope_cos: cos, rope_sin: sin };
  },

  forward<T>(ops: Ops<T>, c: LayerTypesArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Hkv = c.numKvHeads, Dh = c.headDim, L = c.numLayers;
    const biasOf = layerBiases(ops, c);
    const cos = ops.input('rope_cos'), sin = ops.input('rope_sin');
    const optional = (name: string, present: boolean) => (present ? ops.param(name) : null);
    let h = ops.embedding(ops.param('embed'), ops.input('input_ids'));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`l${i}.${n}`);
      const x = ops.rmsNorm(h, P('ln1'), c.normEps, false);
      // [B, H, T, Dh]: the q/k norms act per head over Dh, then the rotary.
      const headsOf = (n: string, heads: number) => splitHeads(ops, ops.linear(x, P(`${n}.w`), optional(`l${i}.${n}.b`, c.qkvBias)), heads, Dh);
      const q = applyRotary(ops, ops.rmsNorm(headsOf('q', H), P('q_norm'), c.normEps, false), cos, sin, c.rotaryDim, Dh);
      const k = applyRotary(ops, ops.rmsNorm(headsOf('k', Hkv), P('k_norm'), c.normEps, false), cos, sin, c.rotaryDim, Dh);
      const v = headsOf('v', Hkv);
      const a = mergeHeads(ops, attention(ops, q, k, v, biasOf(i), Dh, H / Hkv), H, Dh);
      h = ops.add(h, ops.linear(a, P('o.w'), optional(`l${i}.o.b`, c.outputBias)));
      const m = ops.rmsNorm(h, P('ln2'), c.normEps, false);
      const gate = activate(ops, ops.linear(m, P('gate.w'), null), c.activation);
      h = ops.add(h, ops.linear(ops.mul(gate, ops.linear(m, P('up.w'), null)), P('down.w'), null));
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

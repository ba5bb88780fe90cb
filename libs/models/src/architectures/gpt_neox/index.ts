/**
 * GPT-NeoX / Pythia (HF `GPTNeoXForCausalLM`): fused `query_key_value` interleaved per
 * head ([q, k, v] of head 0, then head 1, ...), rotary on the first `rotary_pct` of each
 * head, parallel (or sequential) residual, separate `embed_out` head.
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { ArchConfig, Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { applyRotary, attention, mergeHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { causalBias, ropeTables } from '../common/runtimeInputs';
import { archConfig, readConfig, type GptNeoxConfig } from './config';

export const gptNeox: Architecture<ArchConfig, GptNeoxConfig> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: ArchConfig): Map<string, HostArray> {
    const D = c.dModel, I = c.intermediateSize;
    const r = new ParamReader(weights, `hidden_size ${D}, intermediate_size ${I}, vocab ${c.vocabSize}`);
    r.take('embed', 'gpt_neox.embed_in.weight', [c.vocabSize, D]);
    for (let i = 0; i < c.numLayers; i++) {
      const h = `gpt_neox.layers.${i}.`;
      r.take(`l${i}.ln1.w`, `${h}input_layernorm.weight`, [D]);
      r.take(`l${i}.ln1.b`, `${h}input_layernorm.bias`, [D]);
      r.take(`l${i}.ln2.w`, `${h}post_attention_layernorm.weight`, [D]);
      r.take(`l${i}.ln2.b`, `${h}post_attention_layernorm.bias`, [D]);
      r.takeLinear(`l${i}.qkv.w`, `${h}attention.query_key_value.weight`, D, 3 * D);
      r.take(`l${i}.qkv.b`, `${h}attention.query_key_value.bias`, [3 * D]);
      r.takeLinear(`l${i}.o.w`, `${h}attention.dense.weight`, D, D);
      r.take(`l${i}.o.b`, `${h}attention.dense.bias`, [D]);
      r.takeLinear(`l${i}.up.w`, `${h}mlp.dense_h_to_4h.weight`, D, I);
      r.take(`l${i}.up.b`, `${h}mlp.dense_h_to_4h.bias`, [I]);
      r.takeLinear(`l${i}.down.w`, `${h}mlp.dense_4h_to_h.weight`, I, D);
      r.take(`l${i}.down.b`, `${h}mlp.dense_4h_to_h.bias`, [D]);
    }
    r.take('final.w', 'gpt_neox.final_layer_norm.weight', [D]);
    r.take('final.b', 'gpt_neox.final_layer_norm.bias', [D]);
    if (r.has('embed_out.weight') && !c.tieWordEmbeddings) r.takeLinear('lm_head', 'embed_out.weight', D, c.vocabSize);
    else r.tieHead('lm_head', 'embed');
    return r.params;
  },

  runtimeInputs(c: ArchConfig, _batch: number, seq: number): RuntimeInputs {
    const { cos, sin } = ropeTables(seq, c.rotaryDim, c.rotaryBase);
    return { causal_bias: causalBias(seq), rope_cos: cos, rope_sin: sin };
  },

  forward<T>(ops: Ops<T>, c: ArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Dh = c.headDim, L = c.numLayers, rd = c.rotaryDim;
    const bias = ops.input('causal_bias'), cos = ops.input('rope_cos'), sin = ops.input('rope_sin');
    let h = ops.embedding(ops.param('embed'), ops.input('input_ids'));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`l${i}.${n}`);
      const x = ops.layerNorm(h, P('ln1.w'), P('ln1.b'), c.normEps);
      // [B, T, 3D] -> [B, T, H, 3*Dh] -> per head [q | k | v] -> [B, H, T, Dh] each.
      const qkv = ops.reshapeTail(ops.linear(x, P('qkv.w'), P('qkv.b')), 2, [H, 3 * Dh]);
      const head = (j: number) => ops.transpose(ops.sliceLast(qkv, j * Dh, (j + 1) * Dh), [0, 2, 1, 3]);
      const q = applyRotary(ops, head(0), cos, sin, rd, Dh);
      const k = applyRotary(ops, head(1), cos, sin, rd, Dh);
      const a = mergeHeads(ops, attention(ops, q, k, head(2), bias, Dh, 1), H, Dh);
      const attnOut = ops.linear(a, P('o.w'), P('o.b'));
      const mlp = (y: T) => ops.linear(activate(ops, ops.linear(y, P('up.w'), P('up.b')), c.activation), P('down.w'), P('down.b'));
      if (c.parallelResidual) {
        h = ops.add(ops.add(h, attnOut), mlp(ops.layerNorm(h, P('ln2.w'), P('ln2.b'), c.normEps)));
      } else {
        h = ops.add(h, attnOut);
        h = ops.add(h, mlp(ops.layerNorm(h, P('ln2.w'), P('ln2.b'), c.normEps)));
      }
      if (i < L - 1) ops.output(`hidden_states.${i + 1}`, h);
    }
    ops.output(`residual.${L}`, h);
    const normed = ops.layerNorm(h, ops.param('final.w'), ops.param('final.b'), c.normEps);
    ops.output(`hidden_states.${L}`, normed);
    if (opts.logits) ops.output('logits', ops.linear(normed, ops.param('lm_head'), null));
  },

  unembedding: (c): UnembeddingSpec => ({
    norm: 'layer_norm', eps: c.normEps, normWeight: 'final.w', normBias: 'final.b', lmHead: 'lm_head', lmHeadBias: null,
  }),
};

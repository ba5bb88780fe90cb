/**
 * BLOOM (HF `BloomForCausalLM`): no position embeddings but ALiBi (see alibi.ts), a
 * LayerNorm on the token embeddings (so hidden_states.0 is already normed), fused
 * query_key_value laid out per head ([q, k, v] of head 0, then head 1, ...), tanh-GELU
 * MLP, final LayerNorm, head tied to the embeddings. With
 * apply_residual_connection_post_layernorm the residual branches start from the layer
 * norms' outputs instead of their inputs.
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { mergeHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { alibiCausalBias } from './alibi';
import { archConfig, readConfig, type BloomArchConfig, type BloomConfig } from './config';

export const bloom: Architecture<BloomArchConfig, BloomConfig> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: BloomArchConfig): Map<string, HostArray> {
    const D = c.dModel, I = c.intermediateSize;
    const r = new ParamReader(weights, `hidden_size ${D}, n_head ${c.numHeads}, vocab ${c.vocabSize}`);
    // Checkpoints saved from BloomModel (not ...ForCausalLM) have no "transformer." prefix.
    const p = weights.has('transformer.word_embeddings.weight') ? 'transformer.' : '';
    const norm = (as: string, name: string) => {
      r.take(`${as}.w`, `${name}.weight`, [D]);
      r.take(`${as}.b`, `${name}.bias`, [D]);
    };
    r.take('embed', `${p}word_embeddings.weight`, [c.vocabSize, D]);
    norm('embed_ln', `${p}word_embeddings_layernorm`);
    for (let i = 0; i < c.numLayers; i++) {
      const h = `${p}h.${i}.`;
      norm(`h${i}.ln1`, `${h}input_layernorm`);
      r.takeLinear(`h${i}.qkv.w`, `${h}self_attention.query_key_value.weight`, D, 3 * D);
      r.take(`h${i}.qkv.b`, `${h}self_attention.query_key_value.bias`, [3 * D]);
      r.takeLinear(`h${i}.o.w`, `${h}self_attention.dense.weight`, D, D);
      r.take(`h${i}.o.b`, `${h}self_attention.dense.bias`, [D]);
      norm(`h${i}.ln2`, `${h}post_attention_layernorm`);
      r.takeLinear(`h${i}.up.w`, `${h}mlp.dense_h_to_4h.weight`, D, I);
      r.take(`h${i}.up.b`, `${h}mlp.dense_h_to_4h.bias`, [I]);
      r.takeLinear(`h${i}.down.w`, `${h}mlp.dense_4h_to_h.weight`, I, D);
      r.take(`h${i}.down.b`, `${h}mlp.dense_4h_to_h.bias`, [D]);
    }
    norm('ln_f', `${p}ln_f`);
    if (!c.tieWordEmbeddings) r.takeLinear('lm_head', 'lm_head.weight', D, c.vocabSize);
    else r.tieHead('lm_head', 'embed');
    return r.params;
  },

  runtimeInputs(c: BloomArchConfig, _batch: number, seq: number): RuntimeInputs {
    return { alibi_bias: alibiCausalBias(c.numHeads, seq) };
  },

  forward<T>(ops: Ops<T>, c: BloomArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Dh = c.headDim, L = c.numLayers;
    const bias = ops.input('alibi_bias'); // [H, T, T], broadcast over the batch
    const norm = (x: T, name: string) => ops.layerNorm(x, ops.param(`${name}.w`), ops.param(`${name}.b`), c.normEps);
    let h = norm(ops.embedding(ops.param('embed'), ops.input('input_ids')), 'embed_ln');
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const P = (n: string) => ops.param(`h${i}.${n}`);
      const x = norm(h, `h${i}.ln1`);
      // [B, T, 3D] -> [B, T, H, 3*Dh] -> per head [q | k | v] -> [B, H, T, Dh] each.
      const qkv = ops.reshapeTail(ops.linear(x, P('qkv.w'), P('qkv.b')), 2, [H, 3 * Dh]);
      const head = (j: number) => ops.transpose(ops.sliceLast(qkv, j * Dh, (j + 1) * Dh), [0, 2, 1, 3]);
      const a = ops.causalAttention(head(0), head(1), head(2), bias, 1 / Math.sqrt(Dh));
      h = ops.add(c.residualPostLayernorm ? x : h, ops.linear(mergeHeads(ops, a, H, Dh), P('o.w'), P('o.b')));
      const m = norm(h, `h${i}.ln2`);
      const mlpOut = ops.linear(activate(ops, ops.linear(m, P('up.w'), P('up.b')), c.activation), P('down.w'), P('down.b'));
      h = ops.add(c.residualPostLayernorm ? m : h, mlpOut);
      if (i < L - 1) ops.output(`hidden_states.${i + 1}`, h);
    }
    ops.output(`residual.${L}`, h);
    const normed = norm(h, 'ln_f');
    ops.output(`hidden_states.${L}`, normed);
    if (opts.logits) ops.output('logits', ops.linear(normed, ops.param('lm_head'), null));
  },

  unembedding: (c): UnembeddingSpec => ({
    norm: 'layer_norm', eps: c.normEps, normWeight: 'ln_f.w', normBias: 'ln_f.b', lmHead: 'lm_head', lmHeadBias: null,
  }),
};

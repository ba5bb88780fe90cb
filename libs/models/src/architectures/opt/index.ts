/**
 * OPT (HF `OPTForCausalLM`): learned positions read at position + 2, pre-LN blocks or
 * post-LN ones (do_layer_norm_before false, as opt-350m), ReLU MLP, queries scaled by
 * 1/sqrt(head_dim), and for opt-350m-style checkpoints token embeddings of their own
 * width with project_in / project_out around the decoder. The LM head is tied to the
 * token embeddings ([vocab, word_embed_proj_dim]).
 *
 * Hidden states follow HF: index L is the last block's output after final_layer_norm
 * (when the decoder has one) AND after project_out, so with a projection it is
 * [batch, seq, word_embed_proj_dim] while indices 0..L-1 are [batch, seq, dModel].
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { attention, mergeHeads, splitHeads } from '../common/blocks';
import { activate } from '../common/activation';
import { causalBias } from '../common/runtimeInputs';
import { archConfig, readConfig, OPT_POSITION_OFFSET, type OptArchConfig, type OptConfig } from './config';

const hasProjection = (c: OptArchConfig) => c.wordEmbedProjDim !== c.dModel;

export const opt: Architecture<OptArchConfig, OptConfig> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: OptArchConfig): Map<string, HostArray> {
    const D = c.dModel, I = c.intermediateSize, E = c.wordEmbedProjDim, V = c.vocabSize;
    const r = new ParamReader(weights, `hidden_size ${D}, ffn_dim ${I}, word_embed_proj_dim ${E}, vocab ${V}, max_position_embeddings ${c.contextLength}`);
    // Checkpoints saved from OPTModel (not ...ForCausalLM) have no "model." prefix.
    const p = weights.has('model.decoder.embed_tokens.weight') ? 'model.decoder.' : 'decoder.';
    r.take('embed', `${p}embed_tokens.weight`, [V, E]);
    r.take('pos', `${p}embed_positions.weight`, [c.contextLength + OPT_POSITION_OFFSET, D]);
    if (hasProjection(c)) {
      r.takeLinear('project_in', `${p}project_in.weight`, E, D);
      r.takeLinear('project_out', `${p}project_out.weight`, D, E);
    }
    // Without elementwise affine, a LayerNorm is plain normalisation: weight 1, no bias.
    if (!c.layerNormAffine) r.set('ones', { shape: [D], data: new Float32Array(D).fill(1) });
    const norm = (as: string, name: string) => {
      if (!c.layerNormAffine) return;
      r.take(`${as}.w`, `${name}.weight`, [D]);
      r.take(`${as}.b`, `${name}.bias`, [D]);
    };
    const linear = (as: string, name: string, inDim: number, outDim: number, bias: boolean) => {
      r.takeLinear(`${as}.w`, `${name}.weight`, inDim, outDim);
      if (bias) r.take(`${as}.b`, `${name}.bias`, [outDim]);
    };
    for (let i = 0; i < c.numLayers; i++) {
      const h = `${p}layers.${i}.`;
      norm(`l${i}.ln1`, `${h}self_attn_layer_norm`);
      linear(`l${i}.q`, `${h}self_attn.q_proj`, D, D, c.qkvBias);
      linear(`l${i}.k`, `${h}self_attn.k_proj`, D, D, c.qkvBias);
      linear(`l${i}.v`, `${h}self_attn.v_proj`, D, D, c.qkvBias);
      linear(`l${i}.o`, `${h}self_attn.out_proj`, D, D, c.outputBias);
      norm(`l${i}.ln2`, `${h}final_layer_norm`);
      linear(`l${i}.fc1`, `${h}fc1`, D, I, c.mlpBias);
      linear(`l${i}.fc2`, `${h}fc2`, I, D, c.mlpBias);
    }
    if (c.finalLayerNorm) norm('final', `${p}final_layer_norm`);
    if (!c.tieWordEmbeddings) r.takeLinear('lm_head', 'lm_head.weight', E, V);
    else r.tieHead('lm_head', 'embed');
    return r.params;
  },

  runtimeInputs(_c: OptArchConfig, _batch: number, seq: number): RuntimeInputs {
    // HF derives positions from the attention mask (cumsum - 1: 0..T-1 for an unpadded row).
    const positions = new Int32Array(seq);
    for (let t = 0; t < seq; t++) positions[t] = t + OPT_POSITION_OFFSET;
    return { positions: { shape: [seq], data: positions }, causal_bias: causalBias(seq) };
  },

  forward<T>(ops: Ops<T>, c: OptArchConfig, opts: ForwardOptions): void {
    const H = c.numHeads, Dh = c.headDim, L = c.numLayers;
    const bias = ops.input('causal_bias');
    const optional = (name: string, present: boolean) => (present ? ops.param(name) : null);
    const norm = (x: T, name: string) => c.layerNormAffine
      ? ops.layerNorm(x, ops.param(`${name}.w`), ops.param(`${name}.b`), c.normEps)
      : ops.layerNorm(x, ops.param('ones'), null, c.normEps);
    const linear = (x: T, name: string, withBias: boolean) => ops.linear(x, ops.param(`${name}.w`), optional(`${name}.b`, withBias));

    let h = ops.embedding(ops.param('embed'), ops.input('input_ids'));
    if (hasProjection(c)) h = ops.linear(h, ops.param('project_in'), null);
    h = ops.add(h, ops.embedding(ops.param('pos'), ops.input('positions')));
    ops.output('hidden_states.0', h);
    for (let i = 0; i < L; i++) {
      const l = `l${i}`;
      const x = c.preLayerNorm ? norm(h, `${l}.ln1`) : h;
      const q = splitHeads(ops, linear(x, `${l}.q`, c.qkvBias), H, Dh);
      const k = splitHeads(ops, linear(x, `${l}.k`, c.qkvBias), H, Dh);
      const v = splitHeads(ops, linear(x, `${l}.v`, c.qkvBias), H, Dh);
      h = ops.add(h, linear(mergeHeads(ops, attention(ops, q, k, v, bias, Dh, 1), H, Dh), `${l}.o`, c.outputBias));
      if (!c.preLayerNorm) h = norm(h, `${l}.ln1`);
      const y = c.preLayerNorm ? norm(h, `${l}.ln2`) : h;
      h = ops.add(h, linear(activate(ops, linear(y, `${l}.fc1`, c.mlpBias), c.activation), `${l}.fc2`, c.mlpBias));
      if (!c.preLayerNorm) h = norm(h, `${l}.ln2`);
      if (i < L - 1) ops.output(`hidden_states.${i + 1}`, h);
    }
    ops.output(`residual.${L}`, h);
    let last = c.finalLayerNorm ? norm(h, 'final') : h;
    if (hasProjection(c)) last = ops.linear(last, ops.param('project_out'), null);
    ops.output(`hidden_states.${L}`, last);
    if (opts.logits) ops.output('logits', ops.linear(last, ops.param('lm_head'), null));
  },

  unembedding(c: OptArchConfig): UnembeddingSpec {
    // The unembedding contract is "final norm, then a [dModel, vocab] head". Post-LN OPT
    // (opt-350m) has no final norm, and project_out sits between norm and head: neither
    // fits, and approximating them would give a lens that is not the model's own readout.
    if (!c.finalLayerNorm || !c.layerNormAffine || hasProjection(c)) {
      throw new Error(
        `opt: the unembedding (final norm + LM head) is only defined for pre-LN OPT with an affine final_layer_norm and no project_out `
        + `(this config: do_layer_norm_before ${c.preLayerNorm}, final_layer_norm ${c.finalLayerNorm}, word_embed_proj_dim ${c.wordEmbedProjDim} vs hidden_size ${c.dModel}); `
        + 'the forward pass (hidden states, logits) is exact, but lenses need this unembedding and a service that serves them refuses the model',
      );
    }
    return { norm: 'layer_norm', eps: c.normEps, normWeight: 'final.w', normBias: 'final.b', lmHead: 'lm_head', lmHeadBias: null };
  },
};

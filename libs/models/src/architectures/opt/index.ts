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
import type { Ops } from '@tuned-lens/engine';
import type { Architecture, UnembeddingSpec } from '../common/types';
import { addPositions, layer, mlp, preNormBlock, selfAttention, tokenEmbedding, type Norm } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { causalBias } from '../common/runtimeInputs';
import { archConfig, readConfig, OPT_POSITION_OFFSET, type OptArchConfig, type OptConfig } from './config';
import { hasProjection, loadParams } from './weights';

export const opt: Architecture<OptArchConfig, OptConfig> = {
  readConfig,
  archConfig,
  loadParams,

  runtimeInputs(_c, _batch, seq) {
    // HF derives positions from the attention mask (cumsum - 1: 0..T-1 for an unpadded row).
    const positions = new Int32Array(seq);
    for (let t = 0; t < seq; t++) positions[t] = t + OPT_POSITION_OFFSET;
    return { positions: { shape: [seq], data: positions }, causal_bias: causalBias(seq) };
  },

  decoder<T>(ops: Ops<T>, c: OptArchConfig): Decoder<T> {
    const bias = ops.input('causal_bias');
    const norm: Norm<T> = (x, name) => c.layerNormAffine
      ? ops.layerNorm(x, ops.param(`${name}.w`), ops.param(`${name}.b`), c.normEps)
      : ops.layerNorm(x, ops.param('ones'), null, c.normEps);
    const project = (x: T, name: string) => (hasProjection(c) ? ops.linear(x, ops.param(name), null) : x);
    return {
      embed: () => addPositions(ops, project(tokenEmbedding(ops), 'project_in')),
      block: (i, h) => {
        const l = layer(i);
        const attn = (x: T) => selfAttention(ops, x, l, c, { bias });
        const ffn = (x: T) => mlp(ops, x, l, c);
        if (c.preLayerNorm) return preNormBlock(ops, h, l, norm, attn, ffn);
        // Post-LN: each sublayer's norm comes after its residual add.
        const a = norm(ops.add(h, attn(h)), `${l}ln1`);
        return norm(ops.add(a, ffn(a)), `${l}ln2`);
      },
      finalNorm: (h) => project(c.finalLayerNorm ? norm(h, 'ln_f') : h, 'project_out'),
      head: (x) => ops.linear(x, ops.param('lm_head'), null),
    };
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
    return standardUnembedding('layer_norm', c.normEps);
  },
};

/**
 * BLOOM (HF `BloomForCausalLM`): no position embeddings but ALiBi (see alibi.ts), a
 * LayerNorm on the token embeddings (so hidden_states.0 is already normed), fused
 * query_key_value laid out per head ([q, k, v] of head 0, then head 1, ...), tanh-GELU
 * MLP, final LayerNorm, head tied to the embeddings. With
 * apply_residual_connection_post_layernorm the residual branches start from the layer
 * norms' outputs instead of their inputs.
 */
import type { Ops } from '@tuned-lens/engine';
import type { Architecture } from '../common/types';
import { fusedQkvPerHead, layer, mlp, norms, selfAttention, tokenEmbedding } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { alibiCausalBias } from './alibi';
import { archConfig, readConfig, type BloomArchConfig, type BloomConfig } from './config';
import { loadParams } from './weights';

export const bloom: Architecture<BloomArchConfig, BloomConfig> = {
  readConfig,
  archConfig,
  loadParams,
  runtimeInputs: (c, _batch, seq) => ({ alibi_bias: alibiCausalBias(c.numHeads, seq) }),
  unembedding: (c) => standardUnembedding('layer_norm', c.normEps),

  decoder<T>(ops: Ops<T>, c: BloomArchConfig): Decoder<T> {
    const bias = ops.input('alibi_bias'); // [H, T, T], broadcast over the batch
    const norm = norms(ops, 'layer_norm', c.normEps);
    return {
      embed: () => norm(tokenEmbedding(ops), 'embed_ln'),
      block: (i, h) => {
        const l = layer(i);
        // The pre-norm block, but each residual may start from its norm's output.
        const x = norm(h, `${l}ln1`);
        const a = ops.add(c.residualPostLayernorm ? x : h, selfAttention(ops, x, l, c, { bias, project: fusedQkvPerHead }));
        const m = norm(a, `${l}ln2`);
        return ops.add(c.residualPostLayernorm ? m : a, mlp(ops, m, l, c));
      },
    };
  },
};

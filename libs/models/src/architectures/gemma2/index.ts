/**
 * Gemma 2 (HF `Gemma2ForCausalLM`): Gemma 1's pieces (embeddings times sqrt(d) rounded to
 * the model dtype, RMSNorm as (1 + w), GeGLU, own head_dim, tied head) with four more:
 * - sandwich norms: the attention output and the MLP output are each normed before they
 *   join the residual (post_attention_layernorm = ln2, post_feedforward_layernorm), and
 *   the MLP reads pre_feedforward_layernorm(h);
 * - scores scaled by query_pre_attn_scalar^-0.5;
 * - layers alternate sliding-window and global attention (`layer_types`);
 * - soft-capping cap * tanh(x / cap) of the attention scores (before the mask) and of the
 *   final logits.
 */
import type { Ops } from '@tuned-lens/engine';
import type { Architecture } from '../common/types';
import { gatedMlp, layer, norms, rotary, selfAttention } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { ropeInputs } from '../common/runtimeInputs';
import { layerBiases, layerBiasInputs } from '../common/layerTypes';
import { gemmaEmbedding } from '../gemma';
import { archConfig, readConfig, type Gemma2ArchConfig, type Gemma2Config } from './config';
import { loadParams } from './weights';

export const gemma2: Architecture<Gemma2ArchConfig, Gemma2Config> = {
  readConfig,
  archConfig,
  loadParams,
  runtimeInputs: (c, _batch, seq) => ({ ...layerBiasInputs(c, seq), ...ropeInputs(c, seq) }),
  unembedding: (c) => standardUnembedding('rms_norm_plus_one', c.normEps, { logitSoftcap: c.finalLogitSoftcap }),

  decoder<T>(ops: Ops<T>, c: Gemma2ArchConfig): Decoder<T> {
    const biasOf = layerBiases(ops, c), rope = rotary(ops, c), norm = norms(ops, 'rms_norm_plus_one', c.normEps);
    const scale = 1 / Math.sqrt(c.queryPreAttnScalar), softcap = c.attnLogitSoftcap ?? undefined;
    return {
      embed: () => gemmaEmbedding(ops, c.dModel),
      block: (i, h) => {
        const l = layer(i);
        const a = selfAttention(ops, norm(h, `${l}ln1`), l, c, { bias: biasOf(i), qk: rope, scale, softcap });
        const m = ops.add(h, norm(a, `${l}ln2`));
        return ops.add(m, norm(gatedMlp(ops, norm(m, `${l}ln_pre_ff`), l, c), `${l}ln_post_ff`));
      },
    };
  },
};

/**
 * GPT-2 (HF `GPT2LMHeadModel`): learned positions, pre-LN blocks, fused q|k|v in
 * `c_attn`, Conv1D weights stored [in, out], gelu_new MLP, LM head tied to `wte`.
 */
import type { Ops } from '@tuned-lens/engine';
import type { ArchConfig, Architecture } from '../common/types';
import { addPositions, layer, mlp, norms, preNormBlock, selfAttention, tokenEmbedding } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { causalBias, positions } from '../common/runtimeInputs';
import { archConfig, readConfig, type Gpt2Config } from './config';
import { loadParams } from './weights';

export const gpt2: Architecture<ArchConfig, Gpt2Config> = {
  readConfig,
  archConfig,
  loadParams,
  runtimeInputs: (_c, _batch, seq) => ({ positions: positions(seq), causal_bias: causalBias(seq) }),
  unembedding: (c) => standardUnembedding('layer_norm', c.normEps),

  decoder<T>(ops: Ops<T>, c: ArchConfig): Decoder<T> {
    const bias = ops.input('causal_bias'), norm = norms(ops, 'layer_norm', c.normEps);
    return {
      embed: () => addPositions(ops, tokenEmbedding(ops)),
      block: (i, h) => {
        const l = layer(i);
        return preNormBlock(ops, h, l, norm, (x) => selfAttention(ops, x, l, c, { bias }), (x) => mlp(ops, x, l, c));
      },
    };
  },
};

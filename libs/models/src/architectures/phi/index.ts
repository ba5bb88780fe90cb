/**
 * Phi-1 / 1.5 / 2 (HF `PhiForCausalLM`): one LayerNorm per block feeding attention and
 * MLP in parallel (x + attn(ln(x)) + mlp(ln(x))), rotary (rotate-half) on the first
 * int(head_dim * partial_rotary_factor) features of each head, optional per-head q/k
 * LayerNorms, gelu_new MLP, final LayerNorm and an LM head with a bias.
 */
import type { Ops } from '@tuned-lens/engine';
import type { Architecture } from '../common/types';
import { layer, mlp, norms, parallelBlock, rotary, selfAttention } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { causalRopeInputs } from '../common/runtimeInputs';
import { archConfig, readConfig, type PhiArchConfig, type PhiConfig } from './config';
import { loadParams } from './weights';

export const phi: Architecture<PhiArchConfig, PhiConfig> = {
  readConfig,
  archConfig,
  loadParams,
  runtimeInputs: causalRopeInputs,
  unembedding: (c) => standardUnembedding('layer_norm', c.normEps, { headBias: true }),

  decoder<T>(ops: Ops<T>, c: PhiArchConfig): Decoder<T> {
    const bias = ops.input('causal_bias'), rope = rotary(ops, c), norm = norms(ops, 'layer_norm', c.normEps);
    return {
      block: (i, h) => {
        const l = layer(i);
        // The q/k LayerNorms act per head, over Dh, before the rotary.
        const qk = c.qkLayernorm ? (x: T, which: 'q' | 'k') => rope(norm(x, `${l}${which}_norm`)) : rope;
        return parallelBlock(ops, h, l, norm, (x) => selfAttention(ops, x, l, c, { bias, qk }), (x) => mlp(ops, x, l, c));
      },
    };
  },
};

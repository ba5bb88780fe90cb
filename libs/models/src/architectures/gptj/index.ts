/**
 * GPT-J (HF `GPTJForCausalLM`): one LayerNorm per block feeding attention and MLP in
 * parallel (x + attn(ln_1(x)) + mlp(ln_1(x))), q/k/v/out projections without bias,
 * rotary on the first rotary_dim features of each head in the interleaved-pairs
 * convention (see rotaryLayout.ts), gelu_new MLP, final LayerNorm, LM head with a bias.
 */
import type { Ops } from '@tuned-lens/engine';
import type { ArchConfig, Architecture } from '../common/types';
import { layer, mlp, norms, parallelBlock, rotary, selfAttention } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { causalRopeInputs } from '../common/runtimeInputs';
import { archConfig, readConfig, type GptjConfig } from './config';
import { loadParams } from './weights';

export const gptj: Architecture<ArchConfig, GptjConfig> = {
  readConfig,
  archConfig,
  loadParams,
  // Rotate-half tables: the q/k weights were reordered to that layout at load.
  runtimeInputs: causalRopeInputs,
  unembedding: (c) => standardUnembedding('layer_norm', c.normEps, { headBias: true }),

  decoder<T>(ops: Ops<T>, c: ArchConfig): Decoder<T> {
    const bias = ops.input('causal_bias'), rope = rotary(ops, c), norm = norms(ops, 'layer_norm', c.normEps);
    return {
      block: (i, h) => {
        const l = layer(i);
        return parallelBlock(ops, h, l, norm, (x) => selfAttention(ops, x, l, c, { bias, qk: rope }), (x) => mlp(ops, x, l, c));
      },
    };
  },
};

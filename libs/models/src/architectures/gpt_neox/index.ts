/**
 * GPT-NeoX / Pythia (HF `GPTNeoXForCausalLM`): fused `query_key_value` interleaved per
 * head ([q, k, v] of head 0, then head 1, ...), rotary on the first `rotary_pct` of each
 * head, parallel (or sequential) residual, separate `embed_out` head.
 */
import type { Ops } from '@tuned-lens/engine';
import type { ArchConfig, Architecture } from '../common/types';
import { fusedQkvPerHead, layer, mlp, norms, preNormBlock, rotary, selfAttention } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { causalRopeInputs } from '../common/runtimeInputs';
import { archConfig, readConfig, type GptNeoxConfig } from './config';
import { loadParams } from './weights';

export const gptNeox: Architecture<ArchConfig, GptNeoxConfig> = {
  readConfig,
  archConfig,
  loadParams,
  runtimeInputs: causalRopeInputs,
  unembedding: (c) => standardUnembedding('layer_norm', c.normEps),

  decoder<T>(ops: Ops<T>, c: ArchConfig): Decoder<T> {
    const bias = ops.input('causal_bias'), rope = rotary(ops, c), norm = norms(ops, 'layer_norm', c.normEps);
    return {
      block: (i, h) => {
        const l = layer(i);
        // Biases on qkv and dense whatever attention_bias says, as weights.ts reads them.
        const attn = (x: T) => selfAttention(ops, x, l, c, { bias, project: fusedQkvPerHead, qk: rope, outBias: true });
        const ffn = (x: T) => mlp(ops, x, l, c);
        if (!c.parallelResidual) return preNormBlock(ops, h, l, norm, attn, ffn);
        // x + attn(ln1(x)) + mlp(ln2(x)), added in that order.
        return ops.add(ops.add(h, attn(norm(h, `${l}ln1`))), ffn(norm(h, `${l}ln2`)));
      },
    };
  },
};

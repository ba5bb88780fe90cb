/**
 * Gemma 1 (HF `GemmaForCausalLM`): the Llama layout with three differences that change
 * the math: token embeddings multiplied by sqrt(hidden_size) rounded to the model dtype,
 * RMSNorm weights applied as (1 + w), and a GeGLU MLP (gelu_pytorch_tanh gate). head_dim
 * is its own field (it need not be hidden_size / heads); the LM head is tied.
 */
import type { Ops } from '@tuned-lens/engine';
import type { ArchConfig, Architecture } from '../common/types';
import { norms, tokenEmbedding } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { llamaBlock } from '../common/llama';
import { causalRopeInputs } from '../common/runtimeInputs';
import { archConfig, readConfig, type GemmaConfig } from './config';
import { loadParams } from './weights';

/** Token embeddings times sqrt(d): HF multiplies by a tensor of the hidden dtype, so sqrt(d) rounded to f32, not the exact root. */
export const gemmaEmbedding = <T>(ops: Ops<T>, dModel: number): T => ops.scale(tokenEmbedding(ops), Math.fround(Math.sqrt(dModel)));

export const gemma: Architecture<ArchConfig, GemmaConfig> = {
  readConfig,
  archConfig,
  loadParams,
  runtimeInputs: causalRopeInputs,
  unembedding: (c) => standardUnembedding('rms_norm_plus_one', c.normEps),

  decoder<T>(ops: Ops<T>, c: ArchConfig): Decoder<T> {
    const bias = ops.input('causal_bias');
    return {
      embed: () => gemmaEmbedding(ops, c.dModel),
      block: llamaBlock(ops, c, norms(ops, 'rms_norm_plus_one', c.normEps), () => bias),
    };
  },
};

/**
 * Llama family (HF `LlamaForCausalLM`; also Mistral and Qwen2, which share its layout):
 * RMSNorm, rotary on whole heads (rotate-half, rope_theta), grouped-query attention,
 * SwiGLU MLP, LM head separate or tied. Qwen2 adds q/k/v biases; Llama's
 * `attention_bias` adds biases on q/k/v/o; Mistral/Qwen2 sliding windows go into the
 * causal mask.
 */
import type { Ops } from '@tuned-lens/engine';
import type { ArchConfig, Architecture } from '../common/types';
import { norms } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { llamaBlock } from '../common/llama';
import { causalRopeInputs } from '../common/runtimeInputs';
import { archConfig, readConfig, type LlamaConfig } from './config';
import { loadParams } from './weights';

/** The Llama forward pass (Phi-3's too): inputs 'causal_bias' (with the sliding window) and the rotary tables. */
export function llamaDecoder<T>(ops: Ops<T>, c: ArchConfig): Decoder<T> {
  const bias = ops.input('causal_bias');
  return { block: llamaBlock(ops, c, norms(ops, 'rms_norm', c.normEps), () => bias) };
}

export const llama: Architecture<ArchConfig, LlamaConfig> = {
  readConfig,
  archConfig,
  loadParams,
  runtimeInputs: causalRopeInputs,
  unembedding: (c) => standardUnembedding('rms_norm', c.normEps),
  decoder: llamaDecoder,
};

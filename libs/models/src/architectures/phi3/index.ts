/**
 * Phi-3 (HF `Phi3ForCausalLM`; Phi-3, Phi-3.5, Phi-4-mini): Llama's math with fused
 * weights. qkv_proj holds q | k | v (H + 2 Hkv heads of rows) and gate_up_proj gate | up;
 * they are split at load into the Llama layout's q/k/v and gate/up params (weights.ts),
 * after which the forward pass IS Llama's (RMSNorm, rotate-half rotary on the first
 * rotaryDim features, GQA, SwiGLU, a sliding window on every layer when set, no biases).
 * What Phi-3 adds is in the rotary tables: LongRoPE (short or long factors by sequence
 * length, scaled cos/sin).
 */
import type { Architecture } from '../common/types';
import { standardUnembedding } from '../common/decoder';
import { causalBias, ropeTables } from '../common/runtimeInputs';
import { llamaDecoder } from '../llama';
import { archConfig, readConfig, type Phi3ArchConfig, type Phi3Config } from './config';
import { longropeTables } from './longrope';
import { loadParams } from './weights';

export const phi3: Architecture<Phi3ArchConfig, Phi3Config> = {
  readConfig,
  archConfig,
  loadParams,

  runtimeInputs(c, _batch, seq) {
    const { cos, sin } = c.longrope ? longropeTables(seq, c.rotaryDim, c.rotaryBase, c.longrope) : ropeTables(seq, c.rotaryDim, c.rotaryBase);
    return { causal_bias: causalBias(seq, c.slidingWindow), rope_cos: cos, rope_sin: sin };
  },

  unembedding: (c) => standardUnembedding('rms_norm', c.normEps),
  // The same params, inputs and config fields as Llama's forward reads (qkvBias, outputBias
  // and mlpBias are false for Phi-3; slidingWindow is inside causal_bias).
  decoder: llamaDecoder,
};

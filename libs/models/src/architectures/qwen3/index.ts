/**
 * Qwen3 (HF `Qwen3ForCausalLM`): the Llama layout and math plus an RMSNorm over head_dim
 * on every query and key head, applied after the projection and before the rotary.
 * head_dim is its own field (Qwen3-0.6B: 128 with hidden 1024 / 16 heads); q/k/v/o carry
 * biases when attention_bias is set; layers can be sliding-window ones (`layer_types`).
 */
import type { Ops } from '@tuned-lens/engine';
import type { Architecture } from '../common/types';
import { norms } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { llamaBlock } from '../common/llama';
import { ropeInputs } from '../common/runtimeInputs';
import { layerBiases, layerBiasInputs, type LayerTypesArchConfig } from '../common/layerTypes';
import { archConfig, readConfig, type Qwen3Config } from './config';
import { loadParams } from './weights';

export const qwen3: Architecture<LayerTypesArchConfig, Qwen3Config> = {
  readConfig,
  archConfig,
  loadParams,
  runtimeInputs: (c, _batch, seq) => ({ ...layerBiasInputs(c, seq), ...ropeInputs(c, seq) }),
  unembedding: (c) => standardUnembedding('rms_norm', c.normEps),

  decoder<T>(ops: Ops<T>, c: LayerTypesArchConfig): Decoder<T> {
    const biasOf = layerBiases(ops, c), norm = norms(ops, 'rms_norm', c.normEps);
    return {
      // The q/k norms act per head, over Dh, before the rotary.
      block: llamaBlock(ops, c, norm, biasOf, norm),
    };
  },
};

/**
 * GPT-Neo (HF `GPTNeoForCausalLM`): GPT-2's layout (learned positions, pre-LN blocks,
 * gelu_new MLP, tied head) with torch Linear weights, separate q/k/v projections without
 * bias, layers alternating global and local (windowed) causal attention (run as
 * full_attention / sliding_attention layer types), and attention scores NOT divided by
 * sqrt(head_dim).
 */
import type { Ops } from '@tuned-lens/engine';
import type { Architecture } from '../common/types';
import { addPositions, layer, mlp, norms, preNormBlock, selfAttention, tokenEmbedding } from '../common/blocks';
import { standardUnembedding, type Decoder } from '../common/decoder';
import { positions } from '../common/runtimeInputs';
import { layerBiasInputs, layerBiases, type LayerTypesArchConfig } from '../common/layerTypes';
import { archConfig, readConfig, type GptNeoConfig } from './config';
import { loadParams } from './weights';

export const gptNeo: Architecture<LayerTypesArchConfig, GptNeoConfig> = {
  readConfig,
  archConfig,
  loadParams,
  runtimeInputs: (c, _batch, seq) => ({ positions: positions(seq), ...layerBiasInputs(c, seq) }),
  unembedding: (c) => standardUnembedding('layer_norm', c.normEps),

  decoder<T>(ops: Ops<T>, c: LayerTypesArchConfig): Decoder<T> {
    const biasOf = layerBiases(ops, c), norm = norms(ops, 'layer_norm', c.normEps);
    return {
      embed: () => addPositions(ops, tokenEmbedding(ops)),
      block: (i, h) => {
        const l = layer(i);
        // GPT-Neo never scales its scores (scale 1, not 1/sqrt(Dh)).
        return preNormBlock(ops, h, l, norm, (x) => selfAttention(ops, x, l, c, { bias: biasOf(i), scale: 1 }), (x) => mlp(ops, x, l, c));
      },
    };
  },
};

/**
 * From the parsed HF config (config/) to the fields the architectures read, refusing
 * what the architectures do not implement rather than computing something else.
 */
import type { ModelConfig } from '../config/index.js';
import type { ArchConfig } from '../architectures/common/types';
import type { PhiArchConfig } from '../architectures/phi/config';
import type { OptArchConfig } from '../architectures/opt/config';
import type { GptNeoArchConfig } from '../architectures/gpt_neo/config';
import type { BloomArchConfig } from '../architectures/bloom/config';
import type { LayerTypesArchConfig } from '../architectures/common/layerTypes';
import type { Gemma2ArchConfig } from '../architectures/gemma2/config';
import type { Phi3ArchConfig } from '../architectures/phi3/config';

const activations: Record<string, ArchConfig['activation']> = {
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  gelu: 'gelu',
  silu: 'silu',
  swish: 'silu',
  relu: 'relu',
};

export class UnsupportedModelError extends Error {
  override readonly name = 'UnsupportedModelError';
}

export function archConfigFrom(c: ModelConfig, file = 'config.json'): ArchConfig {
  const activation = activations[c.activation];
  if (!activation) throw new UnsupportedModelError(`${file}: activation "${c.activation}" is not supported (supported: ${Object.keys(activations).join(', ')})`);
  const base = {
    modelType: c.modelType,
    numLayers: c.numLayers,
    dModel: c.dModel,
    numHeads: c.numHeads,
    numKvHeads: c.numKvHeads,
    headDim: c.headDim,
    vocabSize: c.vocabSize,
    contextLength: c.contextLength,
    intermediateSize: c.intermediateSize,
    normEps: c.normEps,
    activation,
    tieWordEmbeddings: c.tieWordEmbeddings,
    qkvBias: c.qkvBias,
    outputBias: c.attnOutBias,
    mlpBias: c.mlpBias,
    rotaryDim: 0,
    rotaryBase: 10000,
    parallelResidual: false,
  };
  switch (c.modelType) {
    case 'gpt2':
      if (!c.scaleAttnWeights || c.scaleAttnByInverseLayerIdx) {
        throw new UnsupportedModelError(`${file}: scale_attn_weights=false or scale_attn_by_inverse_layer_idx=true is not supported`);
      }
      return base;
    case 'gpt_neox':
      if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope_scaling is not supported for gpt_neox`);
      return { ...base, rotaryDim: c.rope.rotaryDim, rotaryBase: c.rope.theta, parallelResidual: c.useParallelResidual };
    case 'llama':
    case 'mistral':
    case 'qwen2':
      if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope_scaling ${c.rope.scaling.type} is not supported yet`);
      return { ...base, rotaryDim: c.rope.rotaryDim, rotaryBase: c.rope.theta, slidingWindow: c.slidingWindow ?? undefined };
    case 'gemma':
      if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope_scaling ${c.rope.scaling.type} is not supported for gemma`);
      return { ...base, rotaryDim: c.rope.rotaryDim, rotaryBase: c.rope.theta };
    case 'phi': {
      if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope_scaling ${c.rope.scaling.type} is not supported for phi`);
      const phi: PhiArchConfig = { ...base, rotaryDim: c.rope.rotaryDim, rotaryBase: c.rope.theta, qkLayernorm: c.qkLayernorm };
      return phi;
    }
    case 'opt': {
      const opt: OptArchConfig = {
        ...base, preLayerNorm: c.doLayerNormBefore, finalLayerNorm: c.finalLayerNorm, wordEmbedProjDim: c.wordEmbedProjDim, layerNormAffine: c.layerNormAffine,
      };
      return opt;
    }
    case 'gpt_neo': {
      const neo: GptNeoArchConfig = { ...base, attentionLayers: c.attentionLayers, windowSize: c.windowSize };
      return neo;
    }
    case 'gptj':
      return { ...base, rotaryDim: c.rope.rotaryDim, rotaryBase: c.rope.theta };
    case 'bloom': {
      const bloom: BloomArchConfig = { ...base, residualPostLayernorm: c.residualPostLayernorm };
      return bloom;
    }
    case 'qwen3': {
      if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope scaling ${c.rope.scaling.type} is not supported for qwen3`);
      const qwen3: LayerTypesArchConfig = {
        ...base, rotaryDim: c.rope.rotaryDim, rotaryBase: c.rope.theta, layerTypes: c.layerTypes, slidingWindow: c.slidingWindow ?? undefined,
      };
      return qwen3;
    }
    case 'gemma2': {
      if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope scaling ${c.rope.scaling.type} is not supported for gemma2`);
      const gemma2: Gemma2ArchConfig = {
        ...base, rotaryDim: c.rope.rotaryDim, rotaryBase: c.rope.theta, layerTypes: c.layerTypes, slidingWindow: c.slidingWindow ?? undefined,
        queryPreAttnScalar: c.queryPreAttnScalar, attnLogitSoftcap: c.attnLogitSoftcapping, finalLogitSoftcap: c.finalLogitSoftcapping,
      };
      return gemma2;
    }
    case 'phi3': {
      const s = c.rope.scaling;
      // The phi3 parser only produces longrope (or none).
      if (s && s.type !== 'longrope') throw new UnsupportedModelError(`${file}: rope scaling ${s.type} is not supported for phi3`);
      const phi3: Phi3ArchConfig = {
        ...base, rotaryDim: c.rope.rotaryDim, rotaryBase: c.rope.theta, slidingWindow: c.slidingWindow ?? undefined,
        longrope: s ? { shortFactor: s.shortFactor, longFactor: s.longFactor, originalMaxPositionEmbeddings: s.originalMaxPositionEmbeddings, attentionFactor: s.attentionFactor } : null,
      };
      return phi3;
    }
    default:
      throw new UnsupportedModelError(`${file}: model_type "${(c as ModelConfig).modelType}" parses but has no implementation yet`);
  }
}

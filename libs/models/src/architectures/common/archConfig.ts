/**
 * From a parsed HF config to the fields the forward pass reads (ArchConfig). The part
 * every family shares is here; each family's config.ts adds its own fields and refuses
 * what its forward does not implement rather than computing something else.
 */
import type { BaseModelConfig, RopeConfig } from './configTypes';
import type { ArchConfig } from './types';

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

/**
 * The shared fields of the ArchConfig of `c` (rotary from `c.rope` when the family has
 * one, else none). Throws UnsupportedModelError for an activation the forward lacks;
 * `file` labels the message.
 */
export function archConfigBase(c: BaseModelConfig & { rope?: RopeConfig }, file: string): ArchConfig {
  const activation = activations[c.activation];
  if (!activation) throw new UnsupportedModelError(`${file}: activation "${c.activation}" is not supported (supported: ${Object.keys(activations).join(', ')})`);
  return {
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
    rotaryDim: c.rope?.rotaryDim ?? 0,
    rotaryBase: c.rope?.theta ?? 10000,
    parallelResidual: false,
  };
}

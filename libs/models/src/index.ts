/**
 * @tuned-lens/models: Hugging Face checkpoints and the transformer architectures.
 *
 * - safetensors: strict reading (single and sharded), zero-copy views, atomic writing
 * - config:      config.json -> normalised ModelConfig
 * - weights:     checking a checkpoint against a config (names, shapes)
 * - memory:      the memory a load needs, estimated from the headers before loading
 */
export * from './safetensors/index.js';
export * from './config/index.js';
export * from './weights/index.js';
export * from './memory/index.js';
export { architectureFor, supportedModelTypes, architectures } from './architectures/registry';
export type { Architecture, ArchConfig, ModelDims, UnembeddingSpec, NormKind, WeightSource } from './architectures/common/types';
export { LoadedModel, type UnembeddingTensors } from './model/loadedModel';
export { ModelRunner, validateForwardRequest, type ForwardRequest, type ForwardResult, type HiddenStateConvention } from './model/runner';
export { loadModel } from './model/load';
export { archConfigFrom, UnsupportedModelError } from './model/archConfig';

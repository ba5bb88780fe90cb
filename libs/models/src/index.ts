/**
 * @tuned-lens/models: Hugging Face checkpoints and the transformer architectures.
 *
 * - config:      config.json -> normalised ModelConfig, read by the model_type's family
 * - architectures: one folder per family (config reader, weights, forward), one registry
 * - weights:     checking a checkpoint against a config (names, shapes)
 * - memory:      the memory a load needs, estimated from the headers before loading
 *
 * The safetensors files themselves are read and written by @tuned-lens/formats.
 */
export * from './config/index.js';
export * from './weights/index.js';
export * from './memory/index.js';
export { architectureFor, supportedModelTypes, architectures, archConfigFrom } from './architectures/registry';
export { UnsupportedModelError } from './architectures/common/archConfig';
export type { Architecture, ArchConfig, ModelDims, UnembeddingSpec, NormKind, WeightSource } from './architectures/common/types';
export { LoadedModel, type UnembeddingTensors } from './model/loadedModel';
export { ModelRunner, validateForwardRequest, type ForwardRequest, type ForwardResult, type HiddenStateConvention } from './model/runner';
export { loadModel } from './model/load';

/** Checks that a checkpoint holds what a config needs, across HF naming variants. */
export { MODEL_PREFIXES, type NameSource, resolveTensorName } from './names.js';
export {
  type TensorSpec,
  type FoundTensor,
  type ExpectOptions,
  type UnembeddingNames,
  expectTensor,
  expectPresent,
  expectTensors,
  resolveUnembedding,
} from './expect.js';

/**
 * Lens files in the original package's layout, with no Python:
 * - config:      config.json (TunedLensConfig + our `tuned_lens_ts` block)
 * - params:      params.pt / params.safetensors <-> float32 tensors
 * - lensFolder:  the whole folder, validated against the config
 * - zip, pickle, torchArchive: a safe reader and a writer of torch.save checkpoints
 */
export { LensIOError, FormatError, type LensIOErrorKind } from './errors.js';
export { crc32 } from './crc32.js';
export { writeFileAtomic, MemorySink, type ByteSink } from './atomic.js';
export { ZipReader, ZipWriter, encodeZip, type ZipEntry, type ZipLimits, type ZipAddOptions, type ZipWriterOptions } from './zip.js';
export { unpickle, ALLOWED_GLOBALS, DEFAULT_UNPICKLE_LIMITS, type UnpickleLimits } from './pickle.js';
export { PyDict, PyGlobal, PyList, PyTuple, TorchStorage, TorchTensor, type PyKey, type PyValue, type TorchFloatDType } from './pickleValues.js';
export { pickleStateDict, type PickleTensorSpec, type StateDictMetadata } from './pickleWriter.js';
export {
  TorchStateDictFile, writeTorchStateDict, contiguousStrides, TORCH_ELEMENT_SIZE,
  type TorchReadLimits, type TorchTensorBytes, type TorchWriteOptions,
} from './torchArchive.js';
export {
  PARAMS_PT, PARAMS_SAFETENSORS, openLensParams, readLensParams, writeLensParams, decodeTorchStateDict, checkTorchTensors, isContiguous,
  type LensDType, type LensTensor, type LensTensorInfo, type LensTensorInput, type LensParamsFile, type LensParamsFormat, type WriteLensParamsOptions,
} from './params.js';
export {
  LINEAR_TUNED_LENS, TUNED_LENS_TS_KEY, TUNED_LENS_TS_CONFIG_VERSION,
  makeLensConfig, parseLensConfig, readLensConfig, writeLensConfig, lensConfigToJson, lensConfigToObject,
  type LensConfig, type ParsedLensConfig,
} from './config.js';
export {
  CONFIG_JSON, readLensFolder, checkLensFolder, writeLensFolder, moduleListMetadata,
  type Translator, type LensFolder, type LensToWrite, type WriteLensFolderOptions,
} from './lensFolder.js';

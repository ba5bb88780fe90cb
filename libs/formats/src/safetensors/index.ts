/**
 * Safetensors checkpoints: strict reading (single files and sharded folders) with
 * zero-copy tensor views, exact F16/BF16 -> F32 decoding, and atomic writing.
 */
export { CheckpointError, type CheckpointErrorKind } from './errors.js';
export {
  type SafetensorsDType,
  SUPPORTED_DTYPES,
  UNSUPPORTED_DTYPE_SIZES,
  isSafetensorsDType,
  isSupportedDType,
  dtypeSize,
} from './dtypes.js';
export { MAX_HEADER_BYTES, METADATA_KEY, type TensorEntry, type ParsedHeader, parseHeader, readHeaderLength } from './header.js';
export { SafetensorsFile, type ReadOptions } from './reader.js';
export { Checkpoint, type TensorInfo, type RawTensorBytes } from './checkpoint.js';
export { SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, openCheckpoint, openSafetensors, openShardedCheckpoint } from './open.js';
export { type TensorToWrite, writeSafetensors, encodeSafetensors } from './writer.js';

/**
 * The error of checkpoint reading and writing: the formats' one shape ({@link FileError}:
 * kind, file, reason) with the kinds of a checkpoint.
 */
import { FileError } from '../errors.js';

/**
 * - `not_found`: the checkpoint folder, file or a shard is missing;
 * - `invalid`: a file exists but its bytes or header are malformed;
 * - `unsupported`: well formed, but uses something this reader cannot decode (e.g. F64);
 * - `missing_tensor`: a requested tensor is not in the checkpoint;
 * - `shape_mismatch`: a tensor's shape or dtype disagrees with what the config needs.
 */
export type CheckpointErrorKind = 'not_found' | 'invalid' | 'unsupported' | 'missing_tensor' | 'shape_mismatch';

/**
 * A checkpoint could not be read, written or used. The message starts with a short
 * label of the file (`parent/name`, e.g. `tiny-gpt2/model.safetensors: ...`) so it is
 * recognisable in logs without the whole path; the full path is in {@link file}.
 */
export class CheckpointError extends FileError<CheckpointErrorKind> {
  override readonly name = 'CheckpointError';
}

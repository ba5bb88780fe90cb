/**
 * The one error type of checkpoint reading and writing, typed by `kind` so a service can
 * map it to a status code without parsing the message.
 */
import { basename, dirname } from 'node:path';

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
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';

  constructor(
    readonly kind: CheckpointErrorKind,
    /** The file (or folder) at fault, as given by the caller. */
    readonly file: string,
    /** The message without the file prefix. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${fileLabel(file)}: ${reason}`, options);
  }
}

/** `parent/name` of a path: short, yet tells the model folder apart from the file. */
export function fileLabel(path: string): string {
  const parent = basename(dirname(path));
  const name = basename(path);
  return parent && parent !== '.' && parent !== '/' ? `${parent}/${name}` : name || path;
}

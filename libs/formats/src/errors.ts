/**
 * The one shape of file format errors: a `kind` a service can map to a status code (and
 * a test can assert) without parsing messages, the file at fault, and the reason. Each
 * format family names its kinds: {@link FormatError} for zip, pickle, torch archives and
 * atomic writes; `CheckpointError` (safetensors/errors.ts) for safetensors checkpoints.
 */
import { basename, dirname } from 'node:path';

/**
 * A file (or bytes in memory) could not be read or written. The message starts with a
 * short label of the file (`parent/name`) so logs stay readable; the full path is in
 * {@link file}, the message without the label in {@link reason}.
 */
export class FileError<K extends string = string> extends Error {
  constructor(
    readonly kind: K,
    /** The file or folder at fault ('' when the bytes came from memory). */
    readonly file: string,
    /** The message without the file label. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(file ? `${fileLabel(file)}: ${reason}` : reason, options);
  }
}

/**
 * - `not_found`:   a file is missing;
 * - `corrupt`:     bytes are malformed (truncated zip, CRC mismatch, broken pickle);
 * - `unsafe`:      a pickle asks for a global or call outside the allow-list;
 * - `unsupported`: well formed, but outside what this reader handles (encryption, split
 *                  archives, deflate64, an F64 storage, a TorchScript archive ...);
 * - `too_large`:   a configured size limit was hit (pickle bytes, memo, nesting ...);
 * - `invalid`:     readable, but the content is not what was asked for (not a state
 *                  dict), or a value to write is wrong;
 * - `io`:          the file system refused a read or write.
 */
export type FormatErrorKind = 'not_found' | 'corrupt' | 'unsafe' | 'unsupported' | 'too_large' | 'invalid' | 'io';

/**
 * A fault in a zip archive, a pickle, a torch checkpoint or an atomic write. The
 * byte-level readers work on buffers and raise it without a file ('');
 * {@link withFile} names the file once it is known.
 */
export class FormatError extends FileError<FormatErrorKind> {
  override readonly name: string = 'FormatError';
}

/**
 * `e` as a FormatError naming `file`: one that names a file already passes through, one
 * that names none gets `file` and `context` before its reason, and a file system error
 * becomes `not_found` (ENOENT) or `io`.
 */
export function withFile(file: string, e: unknown, context = ''): FormatError {
  if (e instanceof FormatError) return e.file ? e : new FormatError(e.kind, file, context + e.reason, { cause: e });
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new FormatError('not_found', file, `${context}does not exist`, { cause: e });
  return new FormatError('io', file, `${context}${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** `parent/name` of a path: short, yet tells which folder a file belongs to. */
export function fileLabel(path: string): string {
  const parent = basename(dirname(path));
  const name = basename(path);
  return parent && parent !== '.' && parent !== '/' ? `${parent}/${name}` : name || path;
}

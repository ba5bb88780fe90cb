/**
 * Errors of lens file reading and writing, typed by `kind` so a service can map them to
 * status codes (and tests can assert them) without parsing messages.
 */
import { basename, dirname } from 'node:path';

/**
 * - `not_found`:   a lens folder, config.json or params file is missing;
 * - `corrupt`:     bytes are malformed (truncated zip, CRC mismatch, broken pickle);
 * - `unsafe`:      a pickle asks for a global or call outside the allow-list;
 * - `unsupported`: well formed, but outside what this reader handles (encryption, split
 *                  archives, deflate64, a non-contiguous or F64 tensor, another lens_type ...);
 * - `too_large`:   a configured size limit was hit (pickle bytes, memo, nesting ...);
 * - `invalid`:     readable, but the content is wrong for a lens (missing config field,
 *                  missing or extra layers, a shape not matching d_model);
 * - `io`:          the file system refused a read or write.
 */
export type LensIOErrorKind = 'not_found' | 'corrupt' | 'unsafe' | 'unsupported' | 'too_large' | 'invalid' | 'io';

/**
 * A lens file could not be read or written. The message starts with a short label of the
 * file (`parent/name`) so logs stay readable; the full path is in {@link file}.
 */
export class LensIOError extends Error {
  override readonly name = 'LensIOError';

  constructor(
    readonly kind: LensIOErrorKind,
    /** The file or folder at fault ('' when the bytes came from memory). */
    readonly file: string,
    /** The message without the file prefix. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(file ? `${shortLabel(file)}: ${reason}` : reason, options);
  }
}

/**
 * A fault inside a zip archive or a pickle, before the file is known (the byte-level
 * readers work on buffers). The file layer rewraps it in a {@link LensIOError}.
 */
export class FormatError extends Error {
  override readonly name = 'FormatError';

  constructor(
    readonly kind: Exclude<LensIOErrorKind, 'not_found' | 'io'>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Rewraps a {@link FormatError} (or passes a LensIOError through) with the file named. */
export function withFile(file: string, e: unknown, context = ''): LensIOError {
  // Errors raised below the file layer (e.g. by the zip writer) may not know the file yet.
  if (e instanceof LensIOError) return e.file ? e : new LensIOError(e.kind, file, e.reason, { cause: e });
  if (e instanceof FormatError) return new LensIOError(e.kind, file, context + e.message, { cause: e });
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new LensIOError('not_found', file, `${context}does not exist`, { cause: e });
  return new LensIOError('io', file, `${context}${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** `parent/name` of a path: short, yet tells which lens folder a file belongs to. */
export function shortLabel(path: string): string {
  const parent = basename(dirname(path));
  const name = basename(path);
  return parent && parent !== '.' && parent !== '/' ? `${parent}/${name}` : name || path;
}

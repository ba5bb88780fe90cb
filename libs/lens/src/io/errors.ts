/**
 * Errors of lens file reading and writing: a {@link FormatError} (the formats' one error
 * shape: kind, file, reason) raised for a lens file, so a service can map it to a status
 * code (and tests can assert it) without parsing messages.
 */
import { FormatError, withFile as formatErrorFor, type FormatErrorKind } from '@tuned-lens/formats';

/**
 * The kinds of {@link FormatErrorKind}; for a lens, `invalid` also means readable but
 * wrong for a lens (a missing config field, missing or extra layers, a shape not
 * matching d_model), and `not_found` a missing lens folder, config.json or params file.
 */
export type LensIOErrorKind = FormatErrorKind;

/**
 * A lens file could not be read or written. The message starts with a short label of the
 * file (`parent/name`) so logs stay readable; the full path is in {@link file}.
 */
export class LensIOError extends FormatError {
  override readonly name: string = 'LensIOError';
}

/**
 * `e` as a LensIOError naming `file`: a LensIOError naming a file passes through, one
 * naming none gets `file`; a FormatError from the formats below (zip, pickle, torch
 * archive, atomic write) keeps its kind and gets `file` and `context` when it names no
 * file; file system errors become `not_found` (ENOENT) or `io`.
 */
export function withFile(file: string, e: unknown, context = ''): LensIOError {
  if (e instanceof LensIOError) return e.file ? e : new LensIOError(e.kind, file, e.reason, { cause: e });
  const f = formatErrorFor(file, e, context);
  return new LensIOError(f.kind, f.file, f.reason, { cause: e });
}

/** Runs `fn` with its errors as LensIOErrors naming `file` (see {@link withFile}). */
export function asLensIO<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw withFile(file, e);
  }
}

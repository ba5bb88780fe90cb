/**
 * Typed errors of the data library, so a service can map them to status codes without
 * parsing messages.
 */

/** `not_found`: the corpus file is missing. `invalid`: it exists but its content is unusable. */
export type CorpusErrorKind = 'not_found' | 'invalid';

/**
 * A corpus file could not be read or holds a bad record. The message starts with
 * `file:line:` (1-based line) when a line is at fault, else `file:`, e.g.
 * `corpus.jsonl:17: not valid JSON (Unexpected token ...)`.
 */
export class CorpusError extends Error {
  override readonly name = 'CorpusError';

  constructor(
    readonly kind: CorpusErrorKind,
    /** The file as given by the caller. */
    readonly file: string,
    /** 1-based line number, when one line is at fault. */
    readonly line: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${message}`, options);
  }
}

/** `invalid_options`: bad chunking parameters. `no_chunks`: the data yields no complete chunk. */
export type ChunkingErrorKind = 'invalid_options' | 'no_chunks';

export class ChunkingError extends Error {
  override readonly name = 'ChunkingError';

  constructor(
    readonly kind: ChunkingErrorKind,
    message: string,
  ) {
    super(message);
  }
}

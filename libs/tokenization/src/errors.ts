/**
 * Typed errors of the tokenization library, so a service can map them to status codes
 * (`not_found` -> NOT_FOUND, `invalid` -> FAILED_PRECONDITION / INVALID_ARGUMENT)
 * without parsing messages.
 */

/** `not_found`: a folder or file is missing. `invalid`: it exists but cannot be used. */
export type TokenizerErrorKind = 'not_found' | 'invalid';

/**
 * A tokenizer could not be loaded or used. The message always starts with the file it
 * concerns (when there is one), e.g. `/models/x/tokenizer.json: not valid JSON (...)`.
 */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';

  constructor(
    readonly kind: TokenizerErrorKind,
    message: string,
    /** The file or folder the problem is about, when there is one. */
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(file === undefined ? message : `${file}: ${message}`, options);
  }
}

/**
 * A token id given to `decode` that the vocabulary does not have. A RangeError, since it
 * is the caller's input that is wrong, not the tokenizer.
 */
export class TokenIdError extends RangeError {
  override readonly name = 'TokenIdError';

  constructor(
    /** The offending value as given. */
    readonly id: number,
    /** Its index in the id sequence. */
    readonly position: number,
    readonly vocabSize: number,
    reason: string,
  ) {
    super(`cannot decode token id ${id} at position ${position}: ${reason}`);
  }
}

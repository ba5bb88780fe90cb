/** Errors of `config.json` loading, typed by `kind` so services can map them to status codes. */

/**
 * - `not_found`: config.json is missing;
 * - `invalid`: not JSON, or a field is missing / of the wrong type / out of range;
 * - `unsupported`: well formed, but names a model type or feature this project does not run.
 */
export type ConfigErrorKind = 'not_found' | 'invalid' | 'unsupported';

/** A model config could not be loaded. The message starts with the file, e.g. `tiny-gpt2/config.json: ...`. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly kind: ConfigErrorKind,
    /** The config file (or a label for an in-memory object). */
    readonly file: string,
    /** The offending config field, when one is at fault. */
    readonly field: string | undefined,
    /** The message without the file prefix. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${reason}`, options);
  }
}

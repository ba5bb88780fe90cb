/**
 * `model_max_length` of tokenizer_config.json. `transformers` writes a huge sentinel
 * (`VERY_LARGE_INTEGER` = int(1e30), sometimes `LARGE_INTEGER` = int(1e20)) when the
 * model has no limit; anything at or above {@link NO_LIMIT_THRESHOLD} is read as "none".
 */
export const NO_LIMIT_THRESHOLD = 1e18;

/**
 * @returns the limit in tokens, or `undefined` for "no limit" (field absent or sentinel);
 *          a string describing the problem when the value is unusable.
 */
export function parseModelMaxLength(value: unknown): number | undefined | { problem: string } {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return { problem: `"model_max_length" must be a number, got ${JSON.stringify(value)}` };
  }
  if (value >= NO_LIMIT_THRESHOLD) return undefined;
  if (!Number.isInteger(value) || value < 1) {
    return { problem: `"model_max_length" must be a positive integer, got ${value}` };
  }
  return value;
}

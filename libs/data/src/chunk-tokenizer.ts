/**
 * What chunking needs from a tokenizer, and nothing more, so the pipeline can run on the
 * real `LoadedTokenizer` of @tuned-lens/tokenization or on a trivial fake in tests.
 */

export interface ChunkTokenizer {
  /**
   * Token ids of `text`. Chunking always passes `addSpecialTokens: true`, as the original
   * calls the HF tokenizer with its default (GPT-2 style tokenizers add nothing; a
   * Llama-style one adds its BOS).
   */
  encode(text: string, options: { addSpecialTokens: boolean }): ArrayLike<number>;
  /** EOS token text, e.g. `"<|endoftext|>"`; `undefined` (or empty) when there is none. */
  readonly eosToken?: string | undefined;
  /** Longest model input in tokens; `undefined` = no limit. */
  readonly modelMaxLength?: number | undefined;
}

/** Separator used when the tokenizer has no EOS token (the original's fallback). */
export const DEFAULT_EOS_TEXT = '<|endoftext|>';

/** `tokenizer.eos_token or "<|endoftext|>"`, as in the original (an empty string also falls back). */
export function eosTextOf(tokenizer: Pick<ChunkTokenizer, 'eosToken'>): string {
  return tokenizer.eosToken || DEFAULT_EOS_TEXT;
}

/** `min(tokenizer.model_max_length, max_seq_len)`; no model limit leaves `maxSeqLen`. */
export function chunkSizeFor(tokenizer: Pick<ChunkTokenizer, 'modelMaxLength'>, maxSeqLen: number): number {
  const limit = tokenizer.modelMaxLength;
  return limit === undefined ? maxSeqLen : Math.min(limit, maxSeqLen);
}

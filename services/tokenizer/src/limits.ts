/** Per-request limits of the tokenizer service; hitting one answers RESOURCE_EXHAUSTED. */
export interface TokenizerLimits {
  /** Texts (or sequences) in one Encode/Decode request. */
  maxBatch: number;
  /** UTF-16 code units over all texts of one Encode request. */
  maxCharsPerRequest: number;
  /** Token ids over all sequences of one Decode request. */
  maxIdsPerRequest: number;
  /** Concurrent ChunkAndTokenize streams (each holds a corpus reader). */
  maxConcurrentStreams: number;
  /** Characters of documents a client may stream in one ChunkAndTokenize call. */
  maxStreamedChars: number;
}

export const defaultLimits: TokenizerLimits = {
  maxBatch: 4096,
  maxCharsPerRequest: 8 * 1024 * 1024,
  maxIdsPerRequest: 4 * 1024 * 1024,
  maxConcurrentStreams: 8,
  maxStreamedChars: 1024 * 1024 * 1024,
};

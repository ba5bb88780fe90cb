/**
 * @tuned-lens/data: corpora (jsonl / jsonl.zst, Pile layout) and the original tuned-lens
 * chunking pipeline (`chunk_and_tokenize`).
 */
export { CorpusError, ChunkingError, type CorpusErrorKind, type ChunkingErrorKind } from './errors';
export { readCorpus, parseCorpusLine, isZstdPath, type ReadCorpusOptions } from './corpus';
export { documentsFrom, shuffledDocuments, type DocumentSource } from './documents';
export { Mt19937, torchRandperm, MAX_PERMUTATION_SIZE } from './permutation';
export { LineSplitter, type RawLine } from './lines';
export { zstdDecompress } from './zstd';
export { chunkSizeFor, eosTextOf, DEFAULT_EOS_TEXT, type ChunkTokenizer } from './chunk-tokenizer';
export { groupDocuments, joinWithEos } from './groups';
export { planGroupRows, spreadTotal, type GroupRows } from './rows';
export {
  chunkAndTokenize,
  collectChunks,
  natsToBpb,
  planChunking,
  DEFAULT_DOCS_PER_GROUP,
  DEFAULT_MAX_SEQ_LEN,
  type ChunkEvent,
  type ChunkingOptions,
  type ChunkingPlan,
  type ChunkingSummary,
  type RunningTotals,
  type TokenChunk,
} from './chunk';

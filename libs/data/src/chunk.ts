/**
 * `chunk_and_tokenize` of the original tuned-lens (tuned_lens/data.py), reproduced:
 *
 * 1. documents are taken in groups of `docsPerGroup` (the original's map batch, 2048);
 * 2. each group becomes ONE string, `eos + doc1 + eos + doc2 + ... + eos + docN`, where
 *    eos is the tokenizer's EOS text or the literal `"<|endoftext|>"`;
 * 3. that string is tokenized once with the tokenizer's special tokens (HF default);
 * 4. the ids are cut into consecutive rows of `chunkSize = min(model_max_length,
 *    maxSeqLen)` tokens and the group's LAST row is dropped unless `returnFinalBatch`;
 * 5. the group's token count (all its ids) and byte count (UTF-8 of its joined string)
 *    are added to the totals BEFORE the drop; `natsToBpb = (tokens / bytes) / ln 2`.
 *
 * Deliberate differences from the original:
 * - the original raises as soon as ANY group keeps no row; here such a group only adds
 *   to the totals, and the error comes at the end if no chunk at all was produced;
 * - with a Llama-style tokenizer the BOS appears once, at the start of each group's
 *   string. (HF's fast tokenizers apply the post-processor to every overflow row, so
 *   the original's Llama rows would each start with BOS; this project follows the
 *   documented "BOS only at the very start" instead.)
 *
 * Groups are consecutive runs of `docsPerGroup` documents, i.e. the original run with
 * `num_proc=1`. (With `num_proc > 1`, `datasets` first cuts the corpus into that many
 * contiguous shards and batches within each, so the original's group boundaries depend
 * on the machine's CPU count; the fixture's reference numbers use plain 2048-doc groups.)
 *
 * Tokenization is synchronous and CPU-bound (about 0.5 s per 0.5 M characters with the
 * pure-JS tokenizer); a service that must stay responsive should run this in a worker.
 */
import { eosTextOf, chunkSizeFor, type ChunkTokenizer } from './chunk-tokenizer';
import { documentsFrom, type DocumentSource } from './documents';
import { ChunkingError } from './errors';
import { groupDocuments, joinWithEos } from './groups';
import { planGroupRows, spreadTotal } from './rows';

export interface ChunkingOptions {
  /** Tokens per chunk before the cap by the tokenizer's `modelMaxLength`. Default 2048. */
  maxSeqLen?: number;
  /** Documents joined and tokenized together. Default 2048. */
  docsPerGroup?: number;
  /** Keep each group's last (usually short) row. Default `false`. */
  returnFinalBatch?: boolean;
}

/** Resolved parameters of a chunking run (known before any document is read). */
export interface ChunkingPlan {
  chunkSize: number;
  eosText: string;
  maxSeqLen: number;
  docsPerGroup: number;
  returnFinalBatch: boolean;
}

/** Counts so far; group-level numbers include the whole group being emitted. */
export interface RunningTotals {
  /** Documents consumed (whole groups). */
  documents: number;
  groups: number;
  /** Chunks emitted, this one included. */
  chunks: number;
  /** Tokens of every group's encoding, counted before the last rows were dropped. */
  totalTokens: number;
  /** UTF-8 bytes of every group's joined string (EOS separators included). */
  totalBytes: number;
  /** Tokens in the dropped last rows. */
  droppedTailTokens: number;
}

/** One fixed-length chunk of token ids. */
export interface TokenChunk {
  type: 'chunk';
  /**
   * `chunkSize` ids (own buffer, safe to transfer). Only a group's kept last row under
   * `returnFinalBatch` can be shorter.
   */
  ids: Int32Array;
  /** 0-based position in the whole output. */
  index: number;
  /** 0-based group the chunk comes from. */
  group: number;
  /** 0-based position within its group. */
  indexInGroup: number;
  /** The original's per-row `length` column: the group's tokens spread over its kept rows. */
  length: number;
  /** The original's per-row `bytes` column, spread the same way. */
  bytes: number;
  /** Snapshot of the totals when this chunk is emitted. */
  totals: RunningTotals;
}

/** Last event of a run: the totals and the bits-per-byte conversion factor. */
export interface ChunkingSummary extends RunningTotals {
  type: 'summary';
  chunkSize: number;
  eosText: string;
  /** `(totalTokens / totalBytes) / ln 2`: nats/token times this gives bits/byte. */
  natsToBpb: number;
}

export type ChunkEvent = TokenChunk | ChunkingSummary;

export const DEFAULT_MAX_SEQ_LEN = 2048;
export const DEFAULT_DOCS_PER_GROUP = 2048;

/** `(tokens / bytes) / ln 2`, the original's `nats_to_bpb`. */
export function natsToBpb(totalTokens: number, totalBytes: number): number {
  return totalTokens / totalBytes / Math.LN2;
}

/**
 * Validates the options and resolves chunk size and separator.
 * @throws ChunkingError `invalid_options` for non-positive or non-integer sizes.
 */
export function planChunking(tokenizer: Pick<ChunkTokenizer, 'eosToken' | 'modelMaxLength'>, options: ChunkingOptions = {}): ChunkingPlan {
  const maxSeqLen = options.maxSeqLen ?? DEFAULT_MAX_SEQ_LEN;
  const docsPerGroup = options.docsPerGroup ?? DEFAULT_DOCS_PER_GROUP;
  requirePositiveInteger('maxSeqLen', maxSeqLen);
  requirePositiveInteger('docsPerGroup', docsPerGroup);
  if (tokenizer.modelMaxLength !== undefined) requirePositiveInteger("the tokenizer's modelMaxLength", tokenizer.modelMaxLength);
  return {
    chunkSize: chunkSizeFor(tokenizer, maxSeqLen),
    eosText: eosTextOf(tokenizer),
    maxSeqLen,
    docsPerGroup,
    returnFinalBatch: options.returnFinalBatch ?? false,
  };
}

/**
 * Runs the pipeline over `documents` (e.g. `readCorpus(path)` or an in-memory list),
 * yielding every chunk in order, then one summary event.
 *
 * ```ts
 * for await (const ev of chunkAndTokenize(readCorpus('val.jsonl'), tokenizer, { maxSeqLen: 256 })) {
 *   if (ev.type === 'chunk') use(ev.ids); else console.log(ev.natsToBpb);
 * }
 * ```
 * @throws ChunkingError `no_chunks` at the end when not a single chunk was produced;
 *         `invalid_options` before reading anything. Errors of the document source
 *         (e.g. CorpusError) pass through.
 */
export async function* chunkAndTokenize(
  documents: DocumentSource,
  tokenizer: ChunkTokenizer,
  options: ChunkingOptions = {},
): AsyncGenerator<ChunkEvent, void, undefined> {
  const plan = planChunking(tokenizer, options);
  const totals: RunningTotals = { documents: 0, groups: 0, chunks: 0, totalTokens: 0, totalBytes: 0, droppedTailTokens: 0 };
  let largestGroup = 0;

  for await (const group of groupDocuments(documentsFrom(documents), plan.docsPerGroup)) {
    const text = joinWithEos(group, plan.eosText);
    const ids = asInt32(tokenizer.encode(text, { addSpecialTokens: true }));
    const bytes = Buffer.byteLength(text, 'utf8');
    const rows = planGroupRows(ids.length, plan.chunkSize, plan.returnFinalBatch);
    const groupIndex = totals.groups;
    totals.documents += group.length;
    totals.groups += 1;
    totals.totalTokens += ids.length;
    totals.totalBytes += bytes;
    totals.droppedTailTokens += rows.droppedTokens;
    largestGroup = Math.max(largestGroup, ids.length);

    const lengths = spreadTotal(ids.length, rows.kept.length);
    const byteShares = spreadTotal(bytes, rows.kept.length);
    for (let r = 0; r < rows.kept.length; r++) {
      const [start, end] = rows.kept[r];
      totals.chunks += 1;
      yield {
        type: 'chunk',
        ids: ids.slice(start, end),
        index: totals.chunks - 1,
        group: groupIndex,
        indexInGroup: r,
        length: lengths[r],
        bytes: byteShares[r],
        totals: { ...totals },
      };
    }
  }

  if (totals.chunks === 0) throw noChunksError(totals, largestGroup, plan);
  yield {
    type: 'summary',
    ...totals,
    chunkSize: plan.chunkSize,
    eosText: plan.eosText,
    natsToBpb: natsToBpb(totals.totalTokens, totals.totalBytes),
  };
}

/** Runs {@link chunkAndTokenize} to the end and returns all chunks and the summary. */
export async function collectChunks(
  documents: DocumentSource,
  tokenizer: ChunkTokenizer,
  options: ChunkingOptions = {},
): Promise<{ chunks: TokenChunk[]; summary: ChunkingSummary }> {
  const chunks: TokenChunk[] = [];
  for await (const event of chunkAndTokenize(documents, tokenizer, options)) {
    if (event.type === 'summary') return { chunks, summary: event };
    chunks.push(event);
  }
  throw new Error('chunkAndTokenize ended without a summary'); // unreachable: it yields one or throws
}

function noChunksError(totals: RunningTotals, largestGroup: number, plan: ChunkingPlan): ChunkingError {
  if (totals.documents === 0) return new ChunkingError('no_chunks', 'not enough data for one chunk: no documents were given');
  const dropRule = plan.returnFinalBatch
    ? ''
    : `; since the last chunk of every group is dropped, a group needs at least ${plan.chunkSize + 1} tokens.` +
      ' Supply more data, lower maxSeqLen, or set returnFinalBatch';
  return new ChunkingError(
    'no_chunks',
    `not enough data for one chunk: ${totals.documents} document(s) in ${totals.groups} group(s) gave ${totals.totalTokens} ` +
      `tokens (at most ${largestGroup} in one group), but one chunk needs ${plan.chunkSize} tokens${dropRule}`,
  );
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new ChunkingError('invalid_options', `${name} must be a positive integer, got ${value}`);
  }
}

function asInt32(ids: ArrayLike<number>): Int32Array {
  return ids instanceof Int32Array ? ids : Int32Array.from(ids);
}

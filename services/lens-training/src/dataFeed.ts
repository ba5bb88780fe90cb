/**
 * Token chunks for training, from the tokenizer service, in the order of ONE seeded
 * permutation of all the corpus's chunks: `torch.randperm(numChunks)` with a generator
 * seeded by `seed`, the order the fixtures' reference lens was trained on.
 *
 * Why every chunk and not a shuffle buffer: corpora are often concatenations by source
 * (the bundled one starts with the King James Bible). The previous order, shuffled within
 * blocks of 1024 chunks, let a 250-step run see only the first ~4,000 of 11,585 chunks, and
 * its lens learned one source (2.5x the reference's KL on held-out text). The original
 * package's torchdata buffer (10,000 chunks) has the same flaw on larger corpora.
 *
 * Cost: the whole corpus is chunked before the first chunk is yielded, and its token ids are
 * held in memory (2 bytes a token when the vocabulary fits 16 bits, else 4). A resume needs
 * only (seed, position): the permutation is regenerated and the first `position` entries
 * skipped; the chunk count is checked so a changed corpus is not resumed on another order.
 */
import type { TokenizerClient } from '@tuned-lens/clients';
import { torchRandperm } from '@tuned-lens/data';
import { failedPrecondition, RpcError, errorCode, errorText, status } from '@tuned-lens/grpc-kit';

export interface PositionedChunk {
  /** [seqLen] token ids. */
  ids: Int32Array;
  /** Chunks consumed after this one (the data position to store in a checkpoint). */
  position: number;
}

export interface FeedOptions {
  corpusPath: string;
  maxSeqLen: number;
  /** Seed of the chunk permutation. */
  seed: number;
  /** Resume: chunks already consumed. */
  startPosition: number;
  /** Documents shuffled before tokenization (the original's --dataset_shuffle), and its seed. */
  shuffleDocuments: boolean;
  shuffleSeed: number;
  /** The tokenizer's vocabulary size: ids below 65536 are stored in 16 bits. */
  vocabSize: number;
  /** Chunks the whole job consumes; a corpus with fewer fails before any is yielded. */
  chunksNeeded: number;
  /** Chunk count the resumed checkpoint was trained on; another count fails. */
  expectedChunks?: number;
  /** Called once the corpus is chunked, before the first chunk is yielded. */
  onChunked?: (info: CorpusChunks) => void;
}

export interface CorpusChunks {
  chunks: number;
  chunkSize: number;
  /** The corpus's tokens per UTF-8 byte / ln 2 (the original's nats_to_bpb). */
  natsToBpb: number;
  seconds: number;
}

/** Every chunk of the corpus, `chunkSize` ids each, in pages of fixed size. */
export class ChunkStore {
  private static readonly PAGE_CHUNKS = 4096;
  private readonly pages: Array<Uint16Array | Int32Array> = [];
  private count = 0;

  constructor(readonly chunkSize: number, private readonly wide: boolean) {}

  get length(): number {
    return this.count;
  }

  /** Appends `n` chunks from `ids` [n, chunkSize]. */
  push(ids: Int32Array, n: number): void {
    const size = this.chunkSize;
    for (let r = 0; r < n; r++) {
      const slot = this.count % ChunkStore.PAGE_CHUNKS;
      if (slot === 0) this.pages.push(this.wide ? new Int32Array(ChunkStore.PAGE_CHUNKS * size) : new Uint16Array(ChunkStore.PAGE_CHUNKS * size));
      this.pages[this.pages.length - 1].set(ids.subarray(r * size, (r + 1) * size), slot * size);
      this.count++;
    }
  }

  /** Chunk `index` as a fresh [chunkSize] Int32Array. */
  get(index: number): Int32Array {
    const page = this.pages[Math.floor(index / ChunkStore.PAGE_CHUNKS)];
    const start = (index % ChunkStore.PAGE_CHUNKS) * this.chunkSize;
    return Int32Array.from(page.subarray(start, start + this.chunkSize));
  }
}

/** Reads every chunk of the corpus from the tokenizer service, with its nats_to_bpb. */
export async function readAllChunks(client: TokenizerClient, opts: FeedOptions): Promise<{ store: ChunkStore; natsToBpb: number }> {
  let store: ChunkStore | undefined;
  let natsToBpb = NaN;
  const wide = opts.vocabSize > 0x10000;
  try {
    for await (const ev of client.chunkAndTokenize({
      corpusPath: opts.corpusPath, maxSeqLen: opts.maxSeqLen,
      shuffleDocuments: opts.shuffleDocuments, shuffleSeed: opts.shuffleSeed,
    })) {
      if (ev.kind === 'start') store = new ChunkStore(ev.start.chunkSize, wide);
      if (ev.kind === 'summary') natsToBpb = ev.summary.natsToBpb;
      if (ev.kind !== 'chunks') continue;
      store ??= new ChunkStore(ev.batch.chunkSize, wide);
      store.push(ev.batch.inputIds, ev.batch.nChunks);
    }
  } catch (err) {
    throw fromTokenizer(err, client.address, opts.corpusPath, store?.length ?? 0);
  }
  if (!store || store.length === 0) throw failedPrecondition(`${opts.corpusPath} gives no chunk of ${opts.maxSeqLen} tokens`);
  return { store, natsToBpb };
}

export async function* permutedChunks(client: TokenizerClient, opts: FeedOptions): AsyncGenerator<PositionedChunk> {
  const started = performance.now();
  const { store, natsToBpb } = await readAllChunks(client, opts);
  const n = store.length;
  if (opts.expectedChunks !== undefined && opts.expectedChunks !== n) {
    throw failedPrecondition(`the checkpoint was trained on ${opts.expectedChunks} chunks of ${opts.corpusPath}, which now gives ${n}: the corpus changed, so its data order would too; use another output folder or remove the checkpoints`);
  }
  if (n < opts.chunksNeeded) {
    throw failedPrecondition(`${opts.corpusPath} gives ${n} chunks of ${store.chunkSize} tokens, but the job needs ${opts.chunksNeeded} (num_steps x tokens_per_step / ${store.chunkSize}); give more data or fewer steps/tokens_per_step`);
  }
  opts.onChunked?.({ chunks: n, chunkSize: store.chunkSize, natsToBpb, seconds: (performance.now() - started) / 1000 });
  const order = torchRandperm(n, opts.seed);
  for (let j = opts.startPosition; j < n; j++) yield { ids: store.get(order[j]), position: j + 1 };
}

/**
 * A tokenizer failure as the job reports it: which service, which corpus, how far it got,
 * and the service's own words ("Connection dropped" alone names nothing). The status code
 * is kept, so a missing corpus stays NOT_FOUND.
 */
function fromTokenizer(err: unknown, endpoint: string, corpus: string, chunksRead: number): RpcError {
  return new RpcError(errorCode(err) ?? status.UNAVAILABLE, `the tokenizer service at ${endpoint} failed while chunking ${corpus} (after ${chunksRead} chunks): ${errorText(err)}`);
}

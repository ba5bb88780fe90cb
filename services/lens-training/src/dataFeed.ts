/**
 * Token chunks for training, from the tokenizer service, in a seeded shuffled order
 * that can be resumed exactly. Chunks are shuffled within consecutive blocks of
 * BLOCK chunks (a permutation seeded by (seed, block index)), so resuming at position p
 * re-reads only p's block and regenerates the same permutation; nothing about the
 * order has to be stored in a checkpoint but p.
 */
import type { TokenizerClient } from '@tuned-lens/clients';

export const BLOCK = 1024;

export interface PositionedChunk {
  /** [seqLen] token ids. */
  ids: Int32Array;
  /** Chunks consumed after this one (the data position to store in a checkpoint). */
  position: number;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The permutation of block `block` (Fisher-Yates), identical on every run. */
export function blockPermutation(n: number, seed: number, block: number): number[] {
  const next = rng((seed ^ Math.imul(block + 1, 0x9e3779b9)) >>> 0);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

export interface FeedOptions {
  corpusPath: string;
  maxSeqLen: number;
  seed: number;
  /** Resume: chunks already consumed. */
  startPosition: number;
  /** Called once with the chunk size the tokenizer settled on. */
  onChunkSize?: (size: number) => void;
}

export async function* shuffledChunks(client: TokenizerClient, opts: FeedOptions): AsyncGenerator<PositionedChunk> {
  let block = Math.floor(opts.startPosition / BLOCK);
  let skip = opts.startPosition % BLOCK;
  let buffer: Int32Array[] = [];
  const emit = function* (): Generator<PositionedChunk> {
    const perm = blockPermutation(buffer.length, opts.seed, block);
    for (let j = skip; j < perm.length; j++) yield { ids: buffer[perm[j]], position: block * BLOCK + j + 1 };
    skip = 0;
    buffer = [];
    block++;
  };
  for await (const ev of client.chunkAndTokenize({ corpusPath: opts.corpusPath, maxSeqLen: opts.maxSeqLen, skipChunks: block * BLOCK })) {
    if (ev.kind === 'start') opts.onChunkSize?.(ev.start.chunkSize);
    if (ev.kind !== 'chunks') continue;
    const size = ev.batch.chunkSize;
    for (let r = 0; r < ev.batch.nChunks; r++) {
      buffer.push(ev.batch.inputIds.slice(r * size, (r + 1) * size));
      if (buffer.length === BLOCK) yield* emit();
    }
  }
  if (buffer.length) yield* emit();
}

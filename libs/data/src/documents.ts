/**
 * Documents given in memory (a list, or a stream such as texts sent by a gRPC client),
 * normalised to the same async stream of strings that {@link readCorpus} produces.
 */
import { torchRandperm } from './permutation';

/** Anything that yields document texts in order. */
export type DocumentSource = Iterable<string> | AsyncIterable<string>;

/**
 * Streams `source`'s documents. Values that are not strings (possible from untyped
 * callers) are rejected rather than stringified.
 * @throws TypeError naming the 0-based index of the bad value.
 */
export async function* documentsFrom(source: DocumentSource): AsyncGenerator<string, void, undefined> {
  let index = 0;
  for await (const doc of source) {
    if (typeof doc !== 'string') {
      throw new TypeError(`document ${index} is not a string (got ${doc === null ? 'null' : typeof doc})`);
    }
    yield doc;
    index++;
  }
}

/**
 * The original's `--dataset_shuffle`: every document read first, then yielded in the
 * order of one seeded permutation (torchRandperm), before any tokenization. Corpora are
 * often concatenations by source; chunking a shuffled document order mixes sources
 * inside chunks too, which a chunk-level shuffle cannot. Holds the whole corpus's text.
 */
export async function* shuffledDocuments(documents: AsyncIterable<string>, seed: number): AsyncGenerator<string, void, undefined> {
  const all: string[] = [];
  for await (const doc of documents) all.push(doc);
  for (const index of torchRandperm(all.length, seed)) yield all[index];
}

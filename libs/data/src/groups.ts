/**
 * Grouping documents the way the original maps its dataset (`batched=True`,
 * `batch_size=2048`) and joining one group into the single string it tokenizes.
 */

/** Consecutive groups of `size` documents; the last group may be smaller (never empty). */
export async function* groupDocuments(
  documents: AsyncIterable<string>,
  size: number,
): AsyncGenerator<string[], void, undefined> {
  let group: string[] = [];
  for await (const doc of documents) {
    group.push(doc);
    if (group.length === size) {
      yield group;
      group = [];
    }
  }
  if (group.length > 0) yield group;
}

/**
 * `sep.join([""] + docs)`: one EOS at the very start and one between documents, none
 * after the last, e.g. `["a", "b"]` -> `"<eos>a<eos>b"`.
 */
export function joinWithEos(documents: readonly string[], eos: string): string {
  return eos + documents.join(eos);
}

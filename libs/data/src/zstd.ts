/**
 * Streaming Zstandard decompression (pure JS, `fzstd`), so a `.jsonl.zst` corpus is read
 * with memory bounded by the zstd window, never the whole file.
 */
import { Decompress } from 'fzstd';

/**
 * Decompresses a stream of zstd bytes (one or more frames) into a stream of plain bytes.
 * @throws the decoder's error (`ZstdError`, with a `code`) on corrupt or truncated input.
 */
export async function* zstdDecompress(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  let pending: Uint8Array[] = [];
  const decoder = new Decompress((data) => {
    if (data.length > 0) pending.push(data);
  });
  for await (const chunk of source) {
    decoder.push(chunk);
    if (pending.length > 0) {
      const ready = pending;
      pending = [];
      yield* ready;
    }
  }
  decoder.push(new Uint8Array(0), true); // throws if the stream stopped inside a frame
  yield* pending;
}

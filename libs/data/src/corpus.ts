/**
 * Reading a corpus in the Pile's jsonl layout (`{"text": "...", "meta": {...}}` per
 * line), plain or zstd-compressed, as a stream of document texts.
 */
import { createReadStream } from 'node:fs';
import { CorpusError } from './errors';
import { LineSplitter, type RawLine } from './lines';
import { zstdDecompress } from './zstd';

export interface ReadCorpusOptions {
  /** JSON field holding the document text. Default `"text"`. */
  textKey?: string;
  /**
   * Treat the file as zstd-compressed. Default: by name, `true` when it ends in `.zst`
   * (e.g. `train.jsonl.zst`).
   */
  zstd?: boolean;
  /** Read size in bytes. Default 1 MiB. */
  chunkBytes?: number;
}

/** Whether a corpus path names a zstd file (`*.zst`). */
export const isZstdPath = (path: string): boolean => path.toLowerCase().endsWith('.zst');

/**
 * Streams the documents of a `.jsonl` or `.jsonl.zst` file, in file order. Blank lines
 * are skipped. Memory stays bounded by the longest line (plus the zstd window).
 *
 * @throws CorpusError `not_found` when the file is missing; `invalid` with `file:line:`
 *         for a line that is not valid UTF-8, not JSON, not an object, or has no string
 *         field `textKey`; `invalid` with `file:` for a broken zstd stream.
 */
export async function* readCorpus(path: string, options: ReadCorpusOptions = {}): AsyncGenerator<string, void, undefined> {
  const textKey = options.textKey ?? 'text';
  const plain = fileBytes(path, options.chunkBytes ?? 1 << 20);
  const bytes = (options.zstd ?? isZstdPath(path)) ? decompressed(plain, path) : plain;
  const splitter = new LineSplitter();
  for await (const chunk of bytes) {
    for (const line of splitter.push(chunk)) {
      const text = parseCorpusLine(line, path, textKey);
      if (text !== undefined) yield text;
    }
  }
  for (const line of splitter.end()) {
    const text = parseCorpusLine(line, path, textKey);
    if (text !== undefined) yield text;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The document text of one jsonl line, or `undefined` for a blank line.
 * @throws CorpusError naming `file:line`.
 */
export function parseCorpusLine(line: RawLine, file: string, textKey = 'text'): string | undefined {
  let source: string;
  try {
    source = utf8.decode(line.bytes); // also drops a byte-order mark at the start of the file
  } catch (e) {
    throw new CorpusError('invalid', file, line.number, 'not valid UTF-8', { cause: e });
  }
  if (source.trim() === '') return undefined;
  let record: unknown;
  try {
    record = JSON.parse(source);
  } catch (e) {
    throw new CorpusError('invalid', file, line.number, `not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    const got = record === null ? 'null' : Array.isArray(record) ? 'an array' : `a ${typeof record}`;
    throw new CorpusError('invalid', file, line.number, `expected a JSON object, got ${got}`);
  }
  const text = (record as Record<string, unknown>)[textKey];
  if (typeof text !== 'string') {
    const why = text === undefined ? 'the field is missing' : `it is ${text === null ? 'null' : Array.isArray(text) ? 'an array' : `a ${typeof text}`}`;
    throw new CorpusError('invalid', file, line.number, `has no string field ${JSON.stringify(textKey)} (${why})`);
  }
  return text;
}

/** The file's bytes in chunks; I/O failures become CorpusErrors naming the file. */
async function* fileBytes(path: string, chunkBytes: number): AsyncGenerator<Uint8Array, void, undefined> {
  const stream = createReadStream(path, { highWaterMark: chunkBytes });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CorpusError('not_found', path, undefined, 'corpus file not found', { cause: e });
    throw new CorpusError('invalid', path, undefined, `cannot read the corpus (${code ?? (e as Error).message})`, { cause: e });
  } finally {
    stream.destroy(); // the consumer may stop early (break); release the file descriptor
  }
}

/** zstd decompression whose decoder errors name the file (its own errors pass through). */
async function* decompressed(source: AsyncIterable<Uint8Array>, path: string): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    yield* zstdDecompress(source);
  } catch (e) {
    if (e instanceof CorpusError) throw e;
    throw new CorpusError('invalid', path, undefined, `not a valid zstd stream (${(e as Error).message})`, { cause: e });
  }
}

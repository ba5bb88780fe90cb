/**
 * The tokenizer a server loads at start-up (see LoadingResource for the states): read
 * from its folder once, built on the service's thread (for GetTokenizerInfo, checks and
 * small requests) and in each worker thread of the pool (for the rest).
 */
import { basename } from 'node:path';
import { availableParallelism } from 'node:os';
import { LoadedTokenizer, readTokenizerFiles, type TokenizerSource } from '@tuned-lens/tokenization';
import { LoadingResource, type Logger } from '@tuned-lens/grpc-kit';
import { tokenizerV1 } from '@tuned-lens/proto';
import { decodeTexts, encodeResponse } from './tasks';
import { TokenizerPool } from './tokenizerPool';
import type { EncodeTask } from './worker/protocol';

/** Default worker threads: two, or one on a single core. */
export const defaultThreads = () => Math.min(2, availableParallelism());

/**
 * Work up to this size (characters to encode, ids to decode: about 20 and 10 ms) runs on
 * the service's thread: a trip to a worker would cost more, and small calls must not
 * wait behind big ones queued for the workers.
 */
const INLINE_CHARS = 16 * 1024;
const INLINE_IDS = 16 * 1024;

/** An Encode response already serialized by a worker: sent as it is (see server.ts). */
export class SerializedResponse {
  constructor(readonly bytes: Uint8Array) {}
}

export type EncodeReply = tokenizerV1.EncodeResponse | SerializedResponse;

export class Tokenizing {
  private constructor(readonly tokenizer: LoadedTokenizer, private readonly pool: TokenizerPool) {}

  static async load(dir: string, threads: number, log: Logger): Promise<Tokenizing> {
    const source = await readTokenizerSource(dir);
    const tokenizer = LoadedTokenizer.fromJson(source);
    const pool = await TokenizerPool.start({ source: JSON.stringify(source), threads, log });
    return new Tokenizing(tokenizer, pool);
  }

  async encode(task: Omit<EncodeTask, 'kind'>, signal: AbortSignal): Promise<EncodeReply> {
    const chars = task.texts.reduce((n, t) => n + t.length, 0);
    if (chars <= INLINE_CHARS) return encodeResponse(this.tokenizer, task);
    return new SerializedResponse(await this.pool.run({ kind: 'encode', ...task }, signal));
  }

  /** `text`'s ids with special tokens (how chunking encodes a group). */
  async encodeIds(text: string, signal: AbortSignal): Promise<Int32Array> {
    if (text.length <= INLINE_CHARS) return this.tokenizer.encode(text, { addSpecialTokens: true });
    return this.pool.run({ kind: 'encodeIds', text }, signal);
  }

  /** @throws RpcError INVALID_ARGUMENT naming the sequence with an id the tokenizer lacks. */
  async decode(sequences: ArrayLike<number>[], skipSpecialTokens: boolean, signal: AbortSignal): Promise<string[]> {
    const ids = sequences.reduce((n, s) => n + s.length, 0);
    if (ids <= INLINE_IDS) return decodeTexts(this.tokenizer, sequences, skipSpecialTokens);
    // Request ids are int32 on the wire, so the copy into Int32Arrays loses nothing.
    return this.pool.run({ kind: 'decode', sequences: sequences.map((s) => new Int32Array(s)), skipSpecialTokens }, signal);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** The tokenizer folder's files, as loadTokenizer reads them. */
export async function readTokenizerSource(dir: string): Promise<TokenizerSource> {
  const files = await readTokenizerFiles(dir);
  return {
    tokenizerJson: files.tokenizerJson,
    config: files.config,
    specialTokensMap: files.specialTokensMap,
    name: basename(files.dir),
    tokenizerSha256: files.tokenizerSha256,
    paths: { tokenizer: files.tokenizerPath, config: files.configPath, specialTokensMap: files.specialTokensMapPath },
  };
}

export class TokenizerHolder extends LoadingResource<Tokenizing> {
  constructor(readonly dir: string, threads: number, log: Logger) {
    super('tokenizer', () => Tokenizing.load(dir, threads, log));
  }

  /** Stops the worker threads (after the load, if it is still running). */
  close(): Promise<void> {
    return this.ready.then((t) => t.close(), () => {});
  }
}

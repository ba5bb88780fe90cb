/**
 * Client of the tokenizer service: promises for the unary calls and an async iterator
 * over ChunkAndTokenize frames, with deadlines and backpressure handled here once.
 */
import { tensorV1, tokenizerV1 } from '@tuned-lens/proto';
import { createClient, unary, writeMessage, type ClientOptions } from '@tuned-lens/grpc-kit';

export interface ChunkBatch {
  /** Index of the first chunk in the whole output. */
  firstChunk: number;
  /** [nChunks, chunkSize] token ids, row-major. */
  inputIds: Int32Array;
  nChunks: number;
  chunkSize: number;
  documentsRead: number;
}

export type ChunkEvent =
  | { kind: 'start'; start: tokenizerV1.ChunkStart }
  | { kind: 'chunks'; batch: ChunkBatch }
  | { kind: 'summary'; summary: tokenizerV1.ChunkSummary };

/** I32 [n, chunkSize] tensor bytes to an Int32Array (a view when aligned, else a copy). */
function idsFromTensor(t: tensorV1.Tensor | undefined): { ids: Int32Array; n: number; size: number } {
  if (!t || t.dtype !== tensorV1.Dtype.DTYPE_I32 || t.shape.length !== 2) {
    throw new Error('malformed TokenChunks frame: expected an I32 [n, chunk_size] tensor');
  }
  const [n, size] = t.shape;
  if (t.data.byteLength !== n * size * 4) throw new Error(`malformed TokenChunks frame: ${t.data.byteLength} bytes for shape [${n}, ${size}]`);
  const ids = t.data.byteOffset % 4 === 0
    ? new Int32Array(t.data.buffer, t.data.byteOffset, n * size)
    : new Int32Array(new Uint8Array(t.data).buffer.slice(0));
  return { ids, n, size };
}

export class TokenizerClient {
  readonly raw: tokenizerV1.TokenizerServiceClient;

  constructor(readonly address: string, opts: ClientOptions & { timeoutMs?: number } = {}) {
    this.raw = createClient(tokenizerV1.TokenizerServiceClient, address, opts);
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  private readonly timeoutMs: number;

  info(): Promise<tokenizerV1.GetTokenizerInfoResponse> {
    return unary(this.raw, this.raw.getTokenizerInfo, {}, { timeoutMs: this.timeoutMs });
  }

  /** Token ids per text. */
  async encode(texts: string[], opts: { addSpecialTokens?: boolean; returnTokens?: boolean } = {}): Promise<tokenizerV1.Encoding[]> {
    const res = await unary(this.raw, this.raw.encode, {
      inputs: texts.map((text) => ({ kind: { $case: 'text' as const, text } })),
      addSpecialTokens: opts.addSpecialTokens ?? false,
      returnTokens: opts.returnTokens ?? false,
    }, { timeoutMs: this.timeoutMs });
    return res.encodings;
  }

  async decode(sequences: number[][], opts: { skipSpecialTokens?: boolean } = {}): Promise<string[]> {
    const res = await unary(this.raw, this.raw.decode, {
      sequences: sequences.map((ids) => ({ ids })),
      skipSpecialTokens: opts.skipSpecialTokens ?? false,
    }, { timeoutMs: this.timeoutMs });
    return res.texts;
  }

  /**
   * Streams the chunks of a corpus file on the server (`config.corpusPath`), or of
   * `documents` sent from here when no path is given. Breaking out of the loop cancels
   * the call. `timeoutMs` bounds the whole stream (default 1 h).
   */
  async *chunkAndTokenize(config: Partial<tokenizerV1.ChunkConfig>, documents?: AsyncIterable<string[]> | Iterable<string[]>, timeoutMs = 3_600_000): AsyncGenerator<ChunkEvent> {
    const call = this.raw.chunkAndTokenize({ deadline: new Date(Date.now() + timeoutMs) });
    let sendError: unknown;
    const send = (async () => {
      await writeMessage(call, { payload: { $case: 'config', config: tokenizerV1.ChunkConfig.fromPartial(config) } });
      if (documents) {
        for await (const texts of documents) {
          await writeMessage(call, { payload: { $case: 'documents', documents: { texts } } });
        }
      }
      call.end();
    })().catch((err) => {
      // A failing document source must end the call, or the server waits forever.
      sendError = err;
      call.cancel();
    });
    try {
      for await (const res of call as AsyncIterable<tokenizerV1.ChunkAndTokenizeResponse>) {
        const frame = res.frame;
        if (!frame) continue;
        if (frame.$case === 'start') yield { kind: 'start', start: frame.start };
        else if (frame.$case === 'summary') yield { kind: 'summary', summary: frame.summary };
        else {
          const { ids, n, size } = idsFromTensor(frame.chunks.inputIds);
          yield { kind: 'chunks', batch: { firstChunk: frame.chunks.firstChunk, inputIds: ids, nChunks: n, chunkSize: size, documentsRead: frame.chunks.documentsRead } };
        }
      }
      await send;
      if (sendError && !(sendError instanceof Error && /stream closed/.test(sendError.message))) throw sendError;
    } catch (err) {
      throw sendError && !(sendError instanceof Error && /stream closed/.test(sendError.message)) ? sendError : err;
    } finally {
      call.cancel();
    }
  }

  close(): void {
    this.raw.close();
  }
}

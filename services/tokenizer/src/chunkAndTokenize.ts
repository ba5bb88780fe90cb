/**
 * The ChunkAndTokenize stream: the original tuned-lens data pipeline over a corpus file
 * on this server or over documents the client streams, sent back as I32 token chunks.
 * Each group's text is encoded in a worker thread (see chunkOffThread); reading, chunking
 * and sending stay here, one group at a time, as fast as the client takes the frames.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { tensorV1, tokenizerV1 } from '@tuned-lens/proto';
import {
  invalidArgument, notFound, resourceExhausted, resolveFileInRoots, writeMessage, type Logger,
} from '@tuned-lens/grpc-kit';
import {
  chunkAndTokenize, documentsFrom, groupDocuments, joinWithEos, readCorpus, shuffledDocuments, CorpusError, ChunkingError, planChunking,
  type ChunkEvent, type ChunkingPlan, type ChunkTokenizer, type DocumentSource, type TokenChunk,
} from '@tuned-lens/data';
import type { TokenizerHolder, Tokenizing } from './tokenizerHolder';
import type { TokenizerLimits } from './limits';

type Call = ServerDuplexStream<tokenizerV1.ChunkAndTokenizeRequest, tokenizerV1.ChunkAndTokenizeResponse>;

/** Chunks per frame when the client does not say: as many as fit in about 1 MiB. */
const FRAME_BYTES = 1024 * 1024;

export class ChunkStreams {
  private active = 0;

  constructor(
    private readonly holder: TokenizerHolder,
    private readonly limits: TokenizerLimits,
    private readonly dataRoots: string[],
    private readonly log: Logger,
  ) {}

  async handle(call: Call): Promise<void> {
    const tokenizing = this.holder.get();
    if (this.active >= this.limits.maxConcurrentStreams) {
      throw resourceExhausted(`${this.active} ChunkAndTokenize streams are running, the limit is ${this.limits.maxConcurrentStreams}; retry later`, 5_000);
    }
    this.active++;
    try {
      await this.run(call, tokenizing);
    } finally {
      this.active--;
    }
  }

  private async run(call: Call, tokenizing: Tokenizing): Promise<void> {
    // The default async iterator destroys the stream when reading ends, which would
    // also close our sending side: documents end long before the last chunk is sent.
    const requests = call.iterator({ destroyOnReturn: false }) as AsyncIterator<tokenizerV1.ChunkAndTokenizeRequest>;
    const first = await requests.next();
    if (first.done || first.value.payload?.$case !== 'config') {
      throw invalidArgument('the first ChunkAndTokenize request must carry the config');
    }
    const config = first.value.payload.config;
    if (config.skipChunks < 0 || config.maxChunks < 0 || config.chunksPerFrame < 0) {
      throw invalidArgument('skip_chunks, max_chunks and chunks_per_frame must not be negative');
    }
    if (config.shuffleSeed < 0 || config.shuffleSeed > 0xffffffff) {
      throw invalidArgument(`shuffle_seed must be in 0..${0xffffffff} (the generator takes 32 bits), got ${config.shuffleSeed}`);
    }
    let plan;
    try {
      plan = planChunking(tokenizing.tokenizer, {
        maxSeqLen: config.maxSeqLen || undefined,
        docsPerGroup: config.docsPerGroup || undefined,
        returnFinalBatch: config.returnFinalBatch,
      });
    } catch (err) {
      if (err instanceof ChunkingError) throw invalidArgument(err.message);
      throw err;
    }
    const textKey = config.textKey || 'text';

    let documents: AsyncIterable<string>;
    let corpusName = '';
    let resolved = '';
    if (config.corpusPath) {
      resolved = resolveFileInRoots(config.corpusPath, { roots: this.dataRoots });
      corpusName = config.corpusPath;
      documents = readCorpus(resolved, { textKey });
    } else {
      documents = this.streamedDocuments(requests);
    }
    if (config.shuffleDocuments) documents = shuffledDocuments(documents, config.shuffleSeed || 42);

    await writeMessage(call, { frame: { $case: 'start', start: { chunkSize: plan.chunkSize, eosToken: plan.eosText } } });
    const perFrame = config.chunksPerFrame || Math.max(1, Math.floor(FRAME_BYTES / (plan.chunkSize * 4)));
    const skip = config.skipChunks;
    const max = config.maxChunks;
    let pending: TokenChunk[] = [];
    let sent = 0;
    let truncated = false;
    const flush = async () => {
      if (pending.length === 0) return;
      const rows = pending.length;
      const data = Buffer.allocUnsafe(rows * plan.chunkSize * 4);
      const view = new Int32Array(data.buffer, data.byteOffset, rows * plan.chunkSize);
      pending.forEach((c, i) => view.set(c.ids, i * plan.chunkSize));
      await writeMessage(call, {
        frame: {
          $case: 'chunks',
          chunks: {
            firstChunk: pending[0].index,
            inputIds: { dtype: tensorV1.Dtype.DTYPE_I32, shape: [rows, plan.chunkSize], data },
            documentsRead: pending[rows - 1].totals.documents,
          },
        },
      });
      pending = [];
    };

    const started = Date.now();
    const cancelled = new AbortController();
    call.once('cancelled', () => cancelled.abort());
    try {
      for await (const ev of chunkOffThread(documents, tokenizing, plan, cancelled.signal)) {
        if (call.cancelled) return;
        if (ev.type === 'summary') {
          await flush();
          await writeMessage(call, { frame: { $case: 'summary', summary: {
            chunks: ev.chunks, documents: ev.documents, totalTokens: ev.totalTokens, totalBytes: ev.totalBytes,
            natsToBpb: ev.natsToBpb, droppedTailTokens: ev.droppedTailTokens, truncated,
          } } });
          this.log.info('chunked', { corpus: corpusName || '(streamed)', chunks: ev.chunks, tokens: ev.totalTokens, seconds: (Date.now() - started) / 1000 });
          return;
        }
        // Returning-final-batch short rows would break the fixed [n, chunk_size] frame.
        if (ev.ids.length !== plan.chunkSize) continue;
        if (ev.index < skip) continue;
        if (max > 0 && sent >= max) {
          // Enough chunks: report totals over what was read so far, and stop reading.
          await flush();
          truncated = true;
          const t = ev.totals;
          await writeMessage(call, { frame: { $case: 'summary', summary: {
            chunks: t.chunks, documents: t.documents, totalTokens: t.totalTokens, totalBytes: t.totalBytes,
            natsToBpb: t.totalTokens / t.totalBytes / Math.LN2, droppedTailTokens: t.droppedTailTokens, truncated,
          } } });
          return;
        }
        pending.push(ev);
        sent++;
        if (pending.length >= perFrame) await flush();
      }
    } catch (err) {
      if (err instanceof CorpusError) {
        const msg = resolved ? err.message.replace(resolved, corpusName) : err.message;
        throw err.kind === 'not_found' ? notFound(msg) : invalidArgument(msg);
      }
      if (err instanceof ChunkingError) throw invalidArgument(err.message);
      throw err;
    }
  }

  /** Documents from the client's later requests; a second config or too much text is refused. */
  private async *streamedDocuments(requests: AsyncIterator<tokenizerV1.ChunkAndTokenizeRequest>): AsyncGenerator<string> {
    let chars = 0;
    for (;;) {
      const next = await requests.next();
      if (next.done) return;
      const payload = next.value.payload;
      if (payload?.$case !== 'documents') throw invalidArgument('only the first ChunkAndTokenize request may carry a config; later ones carry documents');
      for (const text of payload.documents.texts) {
        chars += text.length;
        if (chars > this.limits.maxStreamedChars) {
          throw resourceExhausted(`more than ${this.limits.maxStreamedChars} characters streamed in one call; split the corpus`);
        }
        yield text;
      }
    }
  }
}

/**
 * The library's chunkAndTokenize with each group's encoding done by `tokenizing` (in a
 * worker for all but small groups), so chunking stays byte for byte the library's.
 * chunkAndTokenize encodes synchronously; so here the same groups are formed one step
 * ahead of it, each group's text encoded before its first document is passed on, and the
 * tokenizer it is given answers `encode` with those ids (checking the text is the one
 * prepared). One group is in memory at a time, as before (its text twice, briefly).
 */
function chunkOffThread(documents: DocumentSource, tokenizing: Tokenizing, plan: ChunkingPlan, signal: AbortSignal): AsyncGenerator<ChunkEvent> {
  const prepared: Array<{ text: string; ids: Int32Array }> = [];
  async function* encodedAhead(): AsyncGenerator<string> {
    for await (const group of groupDocuments(documentsFrom(documents), plan.docsPerGroup)) {
      const text = joinWithEos(group, plan.eosText);
      prepared.push({ text, ids: await tokenizing.encodeIds(text, signal) });
      yield* group;
    }
  }
  const answering: ChunkTokenizer = {
    eosToken: tokenizing.tokenizer.eosToken,
    modelMaxLength: tokenizing.tokenizer.modelMaxLength,
    encode(text, options) {
      const next = prepared.shift();
      if (!options.addSpecialTokens || next?.text !== text) throw new Error('chunking asked for an encoding other than the one prepared for its group');
      return next.ids;
    },
  };
  return chunkAndTokenize(encodedAhead(), answering, plan);
}

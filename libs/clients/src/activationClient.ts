/**
 * Client of the activation service: model info, the unembedding, and Extract as an async
 * iterator of whole batches (chunks reassembled per layer). Batches are sent as the
 * server takes them (backpressure), so a long input list never sits in memory twice.
 */
import { activationV1, tensorV1 } from '@tuned-lens/proto';
import { createClient, unary, writeMessage, type ClientOptions } from '@tuned-lens/grpc-kit';
import { F32Assembler, dtypeToProto } from '@tuned-lens/wire';
import type { FloatDType } from '@tuned-lens/tensor';

export interface ExtractOptions {
  /** Hidden-state indices 0..L; default all. */
  layers?: number[];
  /** Wire dtype of the hidden states; default F32. */
  dtype?: FloatDType;
  /** 'hf' (default): index L after the final norm; 'residual': before it. */
  convention?: 'hf' | 'residual';
  logits?: boolean;
  maxChunkBytes?: number;
  /** Deadline of the whole stream; default 1 h. */
  timeoutMs?: number;
  /** Aborting it cancels the call (the iterator then throws CANCELLED). */
  signal?: AbortSignal;
}

export interface TokenBatchInput {
  batchId: number;
  /** [batch, seq] row-major. */
  inputIds: Int32Array;
  batch: number;
  seq: number;
}

export interface ExtractedBatch {
  batchId: number;
  /** layer -> [batch, seq, dModel] f32. */
  hiddenStates: Map<number, Float32Array>;
  /** [batch, seq, vocab] f32 when asked. */
  logits?: Float32Array;
  forwardSeconds: number;
  tokens: number;
}

export interface Unembedding {
  header: activationV1.UnembeddingHeader;
  /** final_norm.weight [d], final_norm.bias [d]?, lm_head.weight [vocab, d], lm_head.bias [vocab]? */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

export class ActivationClient {
  readonly raw: activationV1.ActivationServiceClient;
  private readonly timeoutMs: number;

  constructor(readonly address: string, opts: ClientOptions & { timeoutMs?: number } = {}) {
    this.raw = createClient(activationV1.ActivationServiceClient, address, opts);
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  info(): Promise<activationV1.GetModelInfoResponse> {
    return unary(this.raw, this.raw.getModelInfo, {}, { timeoutMs: this.timeoutMs });
  }

  async unembedding(dtype: FloatDType = 'F32'): Promise<Unembedding> {
    const call = this.raw.getUnembedding({ dtype: dtypeToProto(dtype) }, { deadline: new Date(Date.now() + 10 * this.timeoutMs) });
    let header: activationV1.UnembeddingHeader | undefined;
    const parts = new Map<string, F32Assembler>();
    for await (const res of call as AsyncIterable<activationV1.GetUnembeddingResponse>) {
      const f = res.frame;
      if (f?.$case === 'header') header = f.header;
      else if (f?.$case === 'tensor' && f.tensor.chunk) {
        let a = parts.get(f.tensor.name);
        if (!a) parts.set(f.tensor.name, (a = new F32Assembler()));
        a.add(f.tensor.chunk);
      }
    }
    if (!header) throw new Error('GetUnembedding ended without a header');
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const name of header.tensorNames) {
      const a = parts.get(name);
      if (!a) throw new Error(`GetUnembedding sent no chunks of ${name}`);
      tensors.set(name, a.result());
    }
    return { header, tensors };
  }

  /**
   * Runs `batches` through the model and yields each batch's hidden states in order.
   * Breaking out of the loop cancels the call.
   */
  async *extract(batches: AsyncIterable<TokenBatchInput> | Iterable<TokenBatchInput>, opts: ExtractOptions = {}): AsyncGenerator<ExtractedBatch> {
    const call = this.raw.extract({ deadline: new Date(Date.now() + (opts.timeoutMs ?? 3_600_000)) });
    const cancel = () => call.cancel();
    if (opts.signal?.aborted) cancel();
    opts.signal?.addEventListener('abort', cancel, { once: true });
    const config: activationV1.ExtractConfig = {
      layers: opts.layers ?? [],
      dtype: dtypeToProto(opts.dtype ?? 'F32'),
      convention: opts.convention === 'residual'
        ? activationV1.HiddenStateConvention.HIDDEN_STATE_CONVENTION_RESIDUAL
        : activationV1.HiddenStateConvention.HIDDEN_STATE_CONVENTION_HF,
      includeLogits: opts.logits ?? false,
      maxChunkBytes: opts.maxChunkBytes ?? 0,
    };
    let sendError: unknown;
    const sending = (async () => {
      await writeMessage(call, { payload: { $case: 'config', config } });
      for await (const b of batches) {
        const data = Buffer.from(b.inputIds.buffer, b.inputIds.byteOffset, b.inputIds.byteLength);
        await writeMessage(call, { payload: { $case: 'batch', batch: { batchId: String(b.batchId), inputIds: { dtype: tensorV1.Dtype.DTYPE_I32, shape: [b.batch, b.seq], data } } } });
      }
      call.end();
    })().catch((err) => {
      // A failing batch source must end the call, or the server waits for batches forever.
      sendError = err;
      call.cancel();
    });

    let current = new Map<string, F32Assembler>();
    try {
      for await (const res of call as AsyncIterable<activationV1.ExtractResponse>) {
        const f = res.frame;
        if (f?.$case === 'chunk' && f.chunk.chunk) {
          const key = f.chunk.kind === activationV1.OutputKind.OUTPUT_KIND_LOGITS ? 'logits' : String(f.chunk.layer);
          let a = current.get(key);
          if (!a) current.set(key, (a = new F32Assembler()));
          a.add(f.chunk.chunk);
        } else if (f?.$case === 'batchDone') {
          const hiddenStates = new Map<number, Float32Array>();
          let logits: Float32Array | undefined;
          for (const [key, a] of current) {
            if (key === 'logits') logits = a.result().data;
            else hiddenStates.set(Number(key), a.result().data);
          }
          current = new Map();
          yield { batchId: Number(f.batchDone.batchId), hiddenStates, logits, forwardSeconds: f.batchDone.forwardSeconds, tokens: f.batchDone.tokens };
        }
      }
      await sending;
      if (sendError) throw sendError;
    } catch (err) {
      throw sendError ?? err;
    } finally {
      opts.signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  close(): void {
    this.raw.close();
  }
}

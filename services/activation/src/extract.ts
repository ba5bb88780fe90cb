/**
 * The Extract stream: a config, then token batches; for each batch one forward pass and
 * the chunks of every selected hidden state (and the logits when asked), then a
 * `batch_done`. The next batch is read only after this one's frames were taken by the
 * transport (writeMessage waits for 'drain'), so a slow reader slows the stream instead
 * of filling memory. A cancelled call stops between frames.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { activationV1, tensorV1 } from '@tuned-lens/proto';
import { invalidArgument, resourceExhausted, writeMessage, MAX_CHUNK_BYTES } from '@tuned-lens/grpc-kit';
import { decodeTokenIds, numel, type FloatDType } from '@tuned-lens/tensor';
import { dtypeFromProto, toTensorChunks } from '@tuned-lens/wire';
import type { ForwardBackend } from './backend';
import type { ForwardQueue } from './forwardQueue';
import type { ActivationLimits } from './limits';
import type { ActivationMetrics } from './metrics';

type Call = ServerDuplexStream<activationV1.ExtractRequest, activationV1.ExtractResponse>;

interface StreamConfig {
  layers: number[];
  dtype: FloatDType;
  convention: 'hf' | 'residual';
  logits: boolean;
  maxChunkBytes: number;
}

function readConfig(cfg: activationV1.ExtractConfig, numLayers: number): StreamConfig {
  for (const l of cfg.layers) {
    if (l < 0 || l > numLayers) throw invalidArgument(`layer ${l} is out of range: this model has hidden states 0..${numLayers}`);
  }
  let dtype: FloatDType;
  try {
    const d = dtypeFromProto(cfg.dtype, 'F32');
    if (d === 'I32' || d === 'I64') throw new Error(`hidden states are floats; ${d} is not a hidden-state dtype`);
    dtype = d;
  } catch (err) {
    throw invalidArgument((err as Error).message);
  }
  if (cfg.maxChunkBytes < 0 || (cfg.maxChunkBytes > 0 && cfg.maxChunkBytes < 1024)) throw invalidArgument(`max_chunk_bytes must be 0 (default) or at least 1024, got ${cfg.maxChunkBytes}`);
  return {
    layers: cfg.layers.length ? [...new Set(cfg.layers)].sort((a, b) => a - b) : Array.from({ length: numLayers + 1 }, (_, i) => i),
    dtype,
    convention: cfg.convention === activationV1.HiddenStateConvention.HIDDEN_STATE_CONVENTION_RESIDUAL ? 'residual' : 'hf',
    logits: cfg.includeLogits,
    maxChunkBytes: Math.min(cfg.maxChunkBytes || MAX_CHUNK_BYTES, MAX_CHUNK_BYTES),
  };
}

/** Token ids of one batch as [batch, seq] with checks that name what is wrong. */
function readBatch(batch: activationV1.TokenBatch, limits: ActivationLimits): { ids: Int32Array; b: number; t: number } {
  const t = batch.inputIds;
  if (!t) throw invalidArgument(`batch ${batch.batchId}: input_ids is missing`);
  if (t.shape.length !== 2) throw invalidArgument(`batch ${batch.batchId}: input_ids must be [batch, seq], got shape [${t.shape.join(', ')}]`);
  const [b, s] = t.shape;
  if (b < 1 || s < 1) throw invalidArgument(`batch ${batch.batchId}: empty input_ids [${b}, ${s}]`);
  if (b * s > limits.maxTokensPerBatch) throw resourceExhausted(`batch ${batch.batchId}: ${b * s} tokens, the limit is ${limits.maxTokensPerBatch} per batch; send smaller batches`);
  let dtype;
  try {
    dtype = dtypeFromProto(t.dtype);
  } catch (err) {
    throw invalidArgument(`batch ${batch.batchId}: ${(err as Error).message}`);
  }
  if (dtype !== 'I32' && dtype !== 'I64') throw invalidArgument(`batch ${batch.batchId}: input_ids must be I32 or I64, got ${dtype}`);
  try {
    return { ids: decodeTokenIds(t.data, dtype, { expected: numel([b, s]) }), b, t: s };
  } catch (err) {
    throw invalidArgument(`batch ${batch.batchId}: ${(err as Error).message}`);
  }
}

export async function handleExtract(call: Call, model: ForwardBackend, queue: ForwardQueue, limits: ActivationLimits, metrics: ActivationMetrics): Promise<void> {
  const dims = model.description.dims;
  const requests = call.iterator({ destroyOnReturn: false }) as AsyncIterator<activationV1.ExtractRequest>;
  const first = await requests.next();
  if (first.done) return;
  if (first.value.payload?.$case !== 'config') throw invalidArgument('the first Extract request must carry the config');
  const cfg = readConfig(first.value.payload.config, dims.numLayers);

  for (;;) {
    const next = await requests.next();
    if (next.done || call.cancelled) return;
    const payload = next.value.payload;
    if (payload?.$case !== 'batch') throw invalidArgument('only the first Extract request may carry a config; later ones carry batches');
    const { ids, b, t } = readBatch(payload.batch, limits);
    const batchId = payload.batch.batchId;
    let result;
    try {
      result = await queue.run(() => model.forward({ inputIds: ids, batch: b, seq: t, layers: cfg.layers, convention: cfg.convention, logits: cfg.logits }));
    } catch (err) {
      if (err instanceof RangeError) throw invalidArgument(`batch ${batchId}: ${err.message}`);
      throw err;
    }
    metrics.forwardSeconds.observe(result.seconds);
    metrics.tokens.inc(b * t);
    const d = dims.dModel;
    const send = async (kind: activationV1.OutputKind, layer: number, values: Float32Array, shape: number[]) => {
      for (const chunk of toTensorChunks(values, shape, cfg.dtype, cfg.maxChunkBytes)) {
        if (call.cancelled) return;
        await writeMessage(call, { frame: { $case: 'chunk', chunk: { batchId, kind, layer, chunk } } });
        metrics.bytesSent.inc(chunk.data.byteLength);
      }
    };
    for (const [layer, values] of result.hiddenStates) {
      await send(activationV1.OutputKind.OUTPUT_KIND_HIDDEN_STATE, layer, values, [b, t, d]);
    }
    if (result.logits) await send(activationV1.OutputKind.OUTPUT_KIND_LOGITS, -1, result.logits, [b, t, dims.vocabSize]);
    if (call.cancelled) return;
    await writeMessage(call, { frame: { $case: 'batchDone', batchDone: { batchId, forwardSeconds: result.seconds, tokens: b * t } } });
  }
}

/**
 * Writes one computed batch to an Extract stream: the chunks of every selected hidden
 * state (and the logits when asked), then its `batch_done`. Each write waits for the
 * transport to take the frame ('drain'), so a slow reader slows the stream instead of
 * filling memory; a cancelled call stops between frames.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { activationV1 } from '@tuned-lens/proto';
import { writeMessage } from '@tuned-lens/grpc-kit';
import type { ForwardResult, ModelDims } from '@tuned-lens/models';
import { toTensorChunks } from '@tuned-lens/wire';
import type { StreamConfig, TokenBatch } from './extractRequests';
import type { ActivationMetrics } from './metrics';

export type ExtractCall = ServerDuplexStream<activationV1.ExtractRequest, activationV1.ExtractResponse>;

export async function writeBatchFrames(call: ExtractCall, batch: TokenBatch, result: ForwardResult, cfg: StreamConfig, dims: ModelDims, metrics: ActivationMetrics): Promise<void> {
  const { batchId, b, t } = batch;
  const send = async (kind: activationV1.OutputKind, layer: number, values: Float32Array, shape: number[]) => {
    for (const chunk of toTensorChunks(values, shape, cfg.dtype, cfg.maxChunkBytes)) {
      if (call.cancelled) return;
      await writeMessage(call, { frame: { $case: 'chunk', chunk: { batchId, kind, layer, chunk } } });
      metrics.bytesSent.inc(chunk.data.byteLength);
    }
  };
  for (const [layer, values] of result.hiddenStates) {
    await send(activationV1.OutputKind.OUTPUT_KIND_HIDDEN_STATE, layer, values, [b, t, dims.dModel]);
  }
  if (result.logits) await send(activationV1.OutputKind.OUTPUT_KIND_LOGITS, -1, result.logits, [b, t, dims.vocabSize]);
  if (call.cancelled) return;
  await writeMessage(call, { frame: { $case: 'batchDone', batchDone: { batchId, forwardSeconds: result.seconds, tokens: b * t } } });
}

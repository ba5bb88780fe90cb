/**
 * The Extract stream: a config, then token batches; for each batch one forward pass and
 * the chunks of every selected hidden state (and the logits when asked), then a
 * `batch_done`, in request order.
 *
 * Pipelined with one batch of lookahead (lookahead.ts): while batch k's frames are
 * serialised and written, the model worker already computes batch k+1 if the client has
 * sent it; batch k+2 is read only once batch k is fully written. So the model does not
 * sit idle during the transfer, and a stream holds at most two batches of hidden states
 * (the one being written, the one computed ahead) however slow its reader is.
 * (`computeAhead` 0 turns this off: the server option of the same name.)
 *
 * A bad batch ends the call with a status naming it, after every earlier batch was
 * written. A cancelled call (client gone or deadline) aborts the batch computed ahead:
 * dropped from the queue if waiting, its result discarded if running.
 */
import { Lookahead, invalidArgument } from '@tuned-lens/grpc-kit';
import type { ForwardResult } from '@tuned-lens/models';
import type { activationV1 } from '@tuned-lens/proto';
import type { ForwardBackend } from './backend';
import { writeBatchFrames, type ExtractCall } from './batchFrames';
import { readBatch, readConfig, type TokenBatch } from './extractRequests';
import type { ForwardQueue } from './forwardQueue';
import type { ActivationLimits } from './limits';
import type { ActivationMetrics } from './metrics';

/** A batch and its forward pass, ready to be written. */
interface ComputedBatch {
  batch: TokenBatch;
  result: ForwardResult;
}

/** `computeAhead`: 1 (pipelined, the default) or 0 (each batch computed only once the one before it is written). */
export async function handleExtract(call: ExtractCall, model: ForwardBackend, queue: ForwardQueue, limits: ActivationLimits, metrics: ActivationMetrics, computeAhead: 0 | 1 = 1): Promise<void> {
  const dims = model.description.dims;
  const requests = call.iterator({ destroyOnReturn: false }) as AsyncIterator<activationV1.ExtractRequest>;
  const first = await requests.next();
  if (first.done) return;
  if (first.value.payload?.$case !== 'config') throw invalidArgument('the first Extract request must carry the config');
  const cfg = readConfig(first.value.payload.config, dims.numLayers);

  const readNextBatch = async (): Promise<TokenBatch | undefined> => {
    const next = await requests.next();
    if (next.done || call.cancelled) return undefined;
    const payload = next.value.payload;
    if (payload?.$case !== 'batch') throw invalidArgument('only the first Extract request may carry a config; later ones carry batches');
    return readBatch(payload.batch, limits);
  };
  const computeBatch = async (batch: TokenBatch, signal: AbortSignal): Promise<ComputedBatch> => {
    const req = { inputIds: batch.ids, batch: batch.b, seq: batch.t, layers: cfg.layers, convention: cfg.convention, logits: cfg.logits };
    let result;
    try {
      result = await queue.run(() => model.forward(req, signal), signal);
    } catch (err) {
      if (err instanceof RangeError) throw invalidArgument(`batch ${batch.batchId}: ${err.message}`);
      throw err;
    }
    metrics.forwardSeconds.observe(result.seconds);
    metrics.tokens.inc(batch.b * batch.t);
    return { batch, result };
  };

  const batches = new Lookahead(readNextBatch, computeBatch, computeAhead);
  const stopComputing = () => batches.close();
  call.once('cancelled', stopComputing);
  try {
    for (;;) {
      const computed = await batches.next();
      if (!computed || call.cancelled) return;
      await writeBatchFrames(call, computed.batch, computed.result, cfg, dims, metrics);
    }
  } finally {
    call.off('cancelled', stopComputing);
    // Ends early on an error or a cancelled call: the batch ahead must not run on.
    batches.close();
  }
}

/** The service side of the model worker thread (see backend.ts for why a thread). */
import { WorkerChannel } from '@tuned-lens/grpc-kit';
import { validateForwardRequest, type ForwardRequest, type ForwardResult, type UnembeddingTensors } from '@tuned-lens/models';
import type { ForwardBackend, ModelDescription } from './backend';
import { ForwardCancelledError } from './cancelled';
import type { ForwardAnswer, WorkerReady, WorkerStart } from './worker/protocol';

export class WorkerBackend implements ForwardBackend {
  private constructor(private readonly channel: WorkerChannel<ForwardRequest, ForwardAnswer, WorkerReady>) {}

  /** Starts the worker and resolves once the model is loaded (rejects with the load error). */
  static async start(start: WorkerStart): Promise<WorkerBackend> {
    const channel = await WorkerChannel.start<ForwardRequest, ForwardAnswer, WorkerReady>(new URL('./worker/bootstrap.mjs', import.meta.url), {
      what: 'model worker', workerData: start, cancelledError: () => new ForwardCancelledError(),
    });
    return new WorkerBackend(channel);
  }

  get description(): ModelDescription {
    return this.channel.ready.description;
  }

  get loadLog(): string {
    return this.channel.ready.log;
  }

  /**
   * Cancelled passes by how they ended: the worker dropped them before running (skipped),
   * ran them and threw the result away (discarded), or had already answered when the
   * cancel reached it, so the answer was dropped here (late).
   */
  get cancelled() {
    return this.channel.cancelled;
  }

  unembedding(): UnembeddingTensors {
    return this.channel.ready.unembedding;
  }

  /** Forward passes posted to the worker and not answered yet (cancelled ones included). */
  get inFlight(): number {
    return this.channel.inFlight;
  }

  async forward(req: ForwardRequest, signal?: AbortSignal): Promise<ForwardResult> {
    if (signal?.aborted) throw new ForwardCancelledError();
    validateForwardRequest(this.description.dims, req);
    const answer = await this.channel.request(req, { signal });
    const hiddenStates = new Map<number, Float32Array>();
    answer.layers.forEach((l, i) => hiddenStates.set(l, answer.hiddenStates[i]));
    return { hiddenStates, logits: answer.logits, seconds: answer.seconds };
  }

  dispose(): Promise<void> {
    return this.channel.dispose();
  }
}

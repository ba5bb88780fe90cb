/** The service side of the model worker thread (see backend.ts for why a thread). */
import { Worker } from 'node:worker_threads';
import { validateForwardRequest, type ForwardRequest, type ForwardResult, type UnembeddingTensors } from '@tuned-lens/models';
import type { EngineChoice } from '@tuned-lens/engine';
import type { ForwardBackend, ModelDescription } from './backend';
import { ForwardCancelledError } from './cancelled';
import type { FromWorker, ToWorker, WorkerStart } from './worker/protocol';

/** A forward pass posted to the worker and not answered yet. */
interface Pending {
  resolve(r: ForwardResult): void;
  reject(e: Error): void;
  /** The caller's signal: once it fired, any answer settles the pass as cancelled. */
  signal?: AbortSignal;
  /** Asks the worker to cancel this pass (registered on `signal`). */
  onAbort?: () => void;
}

export class WorkerBackend implements ForwardBackend {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | undefined;
  /**
   * Cancelled passes by how they ended: the worker dropped them before running (skipped),
   * ran them and threw the result away (discarded), or had already answered when the
   * cancel reached it, so the answer was dropped here (late; which of the three happens
   * depends on thread timing).
   */
  readonly cancelled = { skipped: 0, discarded: 0, late: 0 };

  private constructor(
    private readonly worker: Worker,
    readonly description: ModelDescription,
    private readonly unembed: UnembeddingTensors,
    readonly loadLog: string,
  ) {
    worker.on('message', (msg: FromWorker) => {
      if (msg.type !== 'result' && msg.type !== 'error' && msg.type !== 'cancelled') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
      // A result nobody wants any more is dropped here, so its buffers can be freed.
      if (msg.type === 'cancelled' || p.signal?.aborted) {
        this.cancelled[msg.type !== 'cancelled' ? 'late' : msg.ran ? 'discarded' : 'skipped']++;
        p.reject(new ForwardCancelledError());
        return;
      }
      if (msg.type === 'error') {
        p.reject(msg.rangeError ? new RangeError(msg.message) : new Error(msg.message));
        return;
      }
      const hiddenStates = new Map<number, Float32Array>();
      msg.layers.forEach((l, i) => hiddenStates.set(l, msg.hiddenStates[i]));
      p.resolve({ hiddenStates, logits: msg.logits, seconds: msg.seconds });
    });
    const fail = (err: Error) => {
      this.dead = err;
      for (const p of this.pending.values()) {
        if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
        p.reject(err);
      }
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`model worker crashed: ${err.message}`)));
    worker.on('exit', (code) => fail(new Error(`model worker exited (code ${code})`)));
  }

  /** Starts the worker and resolves once the model is loaded (rejects with the load error). */
  static start(start: WorkerStart): Promise<WorkerBackend> {
    const worker = new Worker(new URL('./worker/bootstrap.mjs', import.meta.url), { workerData: start });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`model worker exited during loading (code ${code})`));
      worker.once('exit', onExit);
      worker.once('error', reject);
      worker.once('message', (msg: FromWorker) => {
        worker.off('exit', onExit);
        worker.off('error', reject);
        if (msg.type === 'ready') resolve(new WorkerBackend(worker, msg.description, msg.unembedding, msg.log));
        else {
          void worker.terminate();
          reject(new Error(msg.type === 'failed' ? msg.message : 'model worker sent an unexpected message'));
        }
      });
    });
  }

  unembedding(): UnembeddingTensors {
    return this.unembed;
  }

  /** Forward passes posted to the worker and not answered yet (cancelled ones included). */
  get inFlight(): number {
    return this.pending.size;
  }

  forward(req: ForwardRequest, signal?: AbortSignal): Promise<ForwardResult> {
    if (this.dead) return Promise.reject(this.dead);
    if (signal?.aborted) return Promise.reject(new ForwardCancelledError());
    try {
      validateForwardRequest(this.description.dims, req);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = signal && (() => this.worker.postMessage({ type: 'cancel', id } satisfies ToWorker));
      if (onAbort) signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve, reject, signal, onAbort });
      this.worker.postMessage({ type: 'forward', id, req } satisfies ToWorker);
    });
  }

  async dispose(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    this.worker.postMessage({ type: 'stop' } satisfies ToWorker);
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

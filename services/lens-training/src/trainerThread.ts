/**
 * The job's side of the trainer thread (worker/trainerWorker.ts): typed promises over
 * its messages. Requests are answered in order. When the thread dies (an uncaught
 * error, out of memory, an exit) every pending and later call rejects with a
 * TrainerThreadError saying so, so a job fails instead of waiting forever.
 */
import { Worker } from 'node:worker_threads';
import type { MicroBatch, StepStats } from '@tuned-lens/lens';
import type { FromTrainer, ToTrainer, TrainerRequest, TrainerResults, TrainerStart } from './worker/protocol';
import { transferable, transferList } from './worker/transfer';

/** The thread is gone (crashed, exited, or stopped by `stop`). */
export class TrainerThreadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainerThreadError';
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

const defaultWorkerUrl = new URL('./worker/bootstrap.mjs', import.meta.url);

export class TrainerThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: TrainerThreadError | undefined;
  private ended = false;
  private readonly exited: Promise<void>;

  private constructor(private readonly worker: Worker, private readonly stopFlag: Int32Array, readonly engineName: string, readonly loadLog: string) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (msg: FromTrainer) => {
      if (msg.type !== 'result' && msg.type !== 'error') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'error') p.reject(new Error(msg.message));
      else p.resolve(msg.result);
    });
    worker.on('error', (err) => this.fail(new TrainerThreadError(`the trainer thread crashed: ${err.message}`)));
    worker.on('exit', (code) => this.fail(new TrainerThreadError(`the trainer thread exited unexpectedly (exit code ${code})`)));
  }

  /**
   * Starts the thread and resolves once its engine and trainer exist (rejects with the
   * reason otherwise). The start's arrays are transferred: the caller must not use them
   * afterwards. `workerUrl` is the thread's entry (the real trainer unless a test says).
   */
  static start(start: Omit<TrainerStart, 'stopFlag'>, workerUrl: URL = defaultWorkerUrl): Promise<TrainerThread> {
    const stopFlag = new Int32Array(new SharedArrayBuffer(4));
    const owned = withOwnedBuffers({ ...start, stopFlag });
    const worker = new Worker(workerUrl, { workerData: owned, transferList: transferList(arraysOf(owned)) });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new TrainerThreadError(`the trainer thread exited while starting (exit code ${code})`));
      const onError = (err: Error) => reject(new TrainerThreadError(`the trainer thread crashed while starting: ${err.message}`));
      worker.once('exit', onExit);
      worker.once('error', onError);
      worker.once('message', (msg: FromTrainer) => {
        worker.off('exit', onExit);
        worker.off('error', onError);
        if (msg.type === 'ready') resolve(new TrainerThread(worker, stopFlag, msg.engine, msg.log));
        else {
          void worker.terminate();
          reject(new Error(msg.type === 'failed' ? `the trainer could not start: ${msg.message}` : 'the trainer thread sent an unexpected first message'));
        }
      });
    });
  }

  /**
   * Adds the micro-batch's gradients (see TranslatorTrainer.accumulate). Its hidden-state
   * and token buffers are transferred to the thread: `mb` is unusable afterwards.
   */
  accumulate(mb: MicroBatch, weight: number): Promise<number[]> {
    const layers = [...mb.hiddenStates.keys()];
    const hiddenStates = layers.map((l) => transferable(mb.hiddenStates.get(l)!));
    const inputIds = transferable(mb.inputIds);
    const microBatch = { batch: mb.batch, seq: mb.seq, inputIds, layers, hiddenStates };
    return this.request({ kind: 'accumulate', microBatch, weight }, transferList([inputIds, ...hiddenStates])) as Promise<number[]>;
  }

  /** One optimiser step over the gradients accumulated since the last one. */
  step(step: number): Promise<StepStats> {
    return this.request({ kind: 'step', step }) as Promise<StepStats>;
  }

  /** Copies of the lens and optimiser state as of every request sent before this one. */
  snapshot(): Promise<TrainerResults['snapshot']> {
    return this.request({ kind: 'snapshot' }) as Promise<TrainerResults['snapshot']>;
  }

  private request(request: TrainerRequest, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'request', id, request } satisfies ToTrainer, transfer);
    });
  }

  private fail(err: TrainerThreadError): void {
    this.dead ??= err;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }

  /**
   * Stops soon (cancel): pending and later calls reject now; the thread drops queued
   * work, finishes its current engine call (a native call cannot be interrupted) and
   * exits. Resolves once it has.
   */
  async stop(): Promise<void> {
    Atomics.store(this.stopFlag, 0, 1);
    this.fail(new TrainerThreadError('the trainer thread was stopped'));
    await this.end();
  }

  /** Lets queued work finish, releases the engine, and waits for the thread to end. */
  async dispose(): Promise<void> {
    await this.end();
  }

  private async end(): Promise<void> {
    if (this.ended) return this.exited;
    this.ended = true;
    this.worker.postMessage({ type: 'stop' } satisfies ToTrainer);
    // Last resort for a thread stuck in JavaScript: terminating one inside an onnxruntime
    // call would abort the process, and no single engine call takes this long.
    const timer = setTimeout(() => void this.worker.terminate(), TERMINATE_AFTER_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

const TERMINATE_AFTER_MS = 60_000;

/** `start` with every array owning its buffer (copied where it did not), so all can be transferred. */
function withOwnedBuffers(start: TrainerStart): TrainerStart {
  const u = start.unembedding;
  const opt = start.optimizer;
  const own = (m: Record<string, Float32Array>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, transferable(v)]));
  return {
    ...start,
    unembedding: {
      ...u, normWeight: transferable(u.normWeight), lmHead: transferable(u.lmHead),
      normBias: u.normBias && transferable(u.normBias), lmHeadBias: u.lmHeadBias && transferable(u.lmHeadBias),
    },
    lens: { dModel: start.lens.dModel, translators: start.lens.translators.map((t) => ({ weight: transferable(t.weight), bias: t.bias && transferable(t.bias) })) },
    optimizer: opt && { step: opt.step, m: own(opt.m), v: own(opt.v), vmax: own(opt.vmax) },
  };
}

function arraysOf(start: TrainerStart): Float32Array[] {
  const u = start.unembedding;
  const opt = start.optimizer;
  return [
    u.normWeight, u.lmHead, ...(u.normBias ? [u.normBias] : []), ...(u.lmHeadBias ? [u.lmHeadBias] : []),
    ...start.lens.translators.flatMap((t) => (t.bias ? [t.weight, t.bias] : [t.weight])),
    ...(opt ? [opt.m, opt.v, opt.vmax].flatMap((m) => Object.values(m)) : []),
  ];
}

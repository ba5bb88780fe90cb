/**
 * Worker threads that tokenize, so the service's event loop stays free for health checks
 * and other calls while an 8 Mi-character Encode (~13 s) or a corpus is tokenized.
 *
 * Each worker builds the tokenizer once, from the source the service read (never from
 * disk again, so a replacement is the same tokenizer), and runs one task at a time;
 * tasks wait in one queue, first come first served, for the next free worker.
 * - A task whose caller gave up (its signal aborted) leaves the queue or, if it is
 *   running, its worker is terminated (nothing else stops a running encode) and replaced.
 * - A worker that crashes fails only the task it was running, with INTERNAL, and is
 *   replaced. While no worker can be started, tasks get UNAVAILABLE.
 */
import { Worker } from 'node:worker_threads';
import { internal, RpcError, status, unavailable, type Logger } from '@tuned-lens/grpc-kit';
import type { FromWorker, Task, TaskResult, ToWorker, WorkerStart } from './worker/protocol';

export interface TokenizerPoolOptions {
  /** The tokenizer's TokenizerSource as JSON. */
  source: string;
  threads: number;
  log: Logger;
  /** The workers' entry: the real worker unless a test says. */
  workerUrl?: URL;
}

interface Job {
  id: number;
  task: Task;
  resolve(result: unknown): void;
  reject(err: Error): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

const defaultWorkerUrl = new URL('./worker/bootstrap.mjs', import.meta.url);
/** Wait before trying again to start a worker that failed to start. */
const RESTART_DELAY_MS = 1000;

export class TokenizerPool {
  /** Ready workers: free ones here, busy ones in `running` with their job. */
  private readonly idle: Worker[] = [];
  private readonly running = new Map<Worker, Job>();
  private readonly starting = new Set<Worker>();
  /** Removes the pool's listeners from a worker it is done with. */
  private readonly detach = new Map<Worker, () => void>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  /** Why no worker is running, when the last start failed and none is left. */
  private down: string | undefined;

  private constructor(private readonly opts: Required<TokenizerPoolOptions>) {}

  /** Starts the workers; resolves once each has its tokenizer (rejects with the first failure). */
  static async start(opts: TokenizerPoolOptions): Promise<TokenizerPool> {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new Error(`tokenizer threads must be a positive integer, got ${opts.threads}`);
    const pool = new TokenizerPool({ workerUrl: defaultWorkerUrl, ...opts });
    try {
      await Promise.all(Array.from({ length: opts.threads }, () => pool.spawn()));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Runs `task` on the next free worker. A decode task's arrays are transferred: unusable afterwards. */
  run<K extends Task['kind']>(task: Extract<Task, { kind: K }>, signal?: AbortSignal): Promise<TaskResult[K]> {
    if (this.closed) return Promise.reject(shuttingDown());
    if (this.down !== undefined) return Promise.reject(unavailable(`no tokenizer worker is running (${this.down}); retry shortly`));
    if (signal?.aborted) return Promise.reject(cancelled());
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, task, resolve: resolve as (r: unknown) => void, reject, signal };
      if (signal) {
        job.onAbort = () => this.cancel(job);
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Fails queued and running tasks with UNAVAILABLE and stops every worker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.queue.splice(0), ...this.running.values()]) this.settle(job, shuttingDown());
    const workers = [...this.idle, ...this.running.keys(), ...this.starting];
    this.idle.length = 0;
    this.running.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private spawn(): Promise<void> {
    const worker = new Worker(this.opts.workerUrl, { workerData: { source: this.opts.source } satisfies WorkerStart });
    this.starting.add(worker);
    return new Promise((resolve, reject) => {
      const started = (failure?: string) => {
        stopListening();
        this.starting.delete(worker);
        if (failure !== undefined || this.closed) void worker.terminate();
        if (failure !== undefined) return reject(new Error(failure));
        if (!this.closed) this.adopt(worker);
        resolve();
      };
      const stopListening = listen(worker, {
        message: (msg) => started(msg.type === 'ready' ? undefined : msg.type === 'failed' ? msg.message : 'a tokenizer worker sent an unexpected first message'),
        error: (err) => started(`a tokenizer worker crashed while starting: ${err.message}`),
        exit: (code) => started(`a tokenizer worker exited while starting (code ${code})`),
      });
    });
  }

  /** A started worker joins the pool. */
  private adopt(worker: Worker): void {
    this.detach.set(worker, listen(worker, {
      message: (msg) => this.answer(worker, msg),
      error: (err) => this.lose(worker, `crashed (${err.message})`),
      exit: (code) => this.lose(worker, `exited (code ${code})`),
    }));
    this.down = undefined;
    this.idle.push(worker);
    worker.unref(); // an idle worker does not keep the process alive; a busy one does
    this.dispatch();
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.running.set(worker, job);
      worker.ref();
      const transfer = job.task.kind === 'decode' ? job.task.sequences.map((s) => s.buffer as ArrayBuffer) : [];
      worker.postMessage({ type: 'run', id: job.id, task: job.task } satisfies ToWorker, transfer);
    }
  }

  private answer(worker: Worker, msg: FromWorker): void {
    const job = this.running.get(worker);
    if (!job || (msg.type !== 'result' && msg.type !== 'error') || msg.id !== job.id) return;
    this.running.delete(worker);
    this.idle.push(worker);
    worker.unref();
    if (msg.type === 'result') this.settle(job, undefined, msg.result);
    else this.settle(job, msg.code === undefined ? new Error(msg.message) : new RpcError(msg.code, msg.message));
    this.dispatch();
  }

  private cancel(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    const worker = [...this.running].find(([, j]) => j === job)?.[0];
    if (worker) {
      this.running.delete(worker);
      this.forget(worker);
      void worker.terminate();
      this.replace();
    }
    this.settle(job, cancelled());
  }

  /** A worker crashed or exited by itself: its task fails, another worker takes its place. */
  private lose(worker: Worker, why: string): void {
    this.forget(worker);
    if (this.closed) return;
    const job = this.running.get(worker);
    this.running.delete(worker);
    const i = this.idle.indexOf(worker);
    if (i >= 0) this.idle.splice(i, 1);
    this.opts.log.error('tokenizer worker lost; starting another', { why, task: job?.task.kind });
    if (job) this.settle(job, internal(`the tokenizer worker running this call ${why}; it is being replaced`));
    this.replace();
  }

  private replace(): void {
    if (this.closed) return;
    this.spawn().catch((err: Error) => {
      if (this.closed) return;
      this.opts.log.error('a tokenizer worker could not start; trying again', { error: err.message, inMs: RESTART_DELAY_MS });
      if (this.idle.length + this.running.size + this.starting.size === 0) {
        this.down = err.message;
        for (const job of this.queue.splice(0)) this.settle(job, unavailable(`no tokenizer worker is running (${err.message}); retry shortly`));
      }
      setTimeout(() => this.replace(), RESTART_DELAY_MS).unref();
    });
  }

  private forget(worker: Worker): void {
    this.detach.get(worker)?.();
    this.detach.delete(worker);
  }

  private settle(job: Job, err: Error | undefined, result?: unknown): void {
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    if (err) job.reject(err);
    else job.resolve(result);
  }
}

/**
 * Adds the handlers to `worker`; the function returned takes them off again (and leaves
 * an 'error' listener, since an 'error' nobody listens to would throw). Only our own
 * listeners may be removed: a Worker's internal ones carry its messages.
 */
function listen(worker: Worker, on: { message(msg: FromWorker): void; error(err: Error): void; exit(code: number): void }): () => void {
  worker.on('message', on.message);
  worker.on('error', on.error);
  worker.on('exit', on.exit);
  return () => {
    worker.off('message', on.message);
    worker.off('error', on.error);
    worker.off('exit', on.exit);
    worker.on('error', () => {});
  };
}

const cancelled = () => new RpcError(status.CANCELLED, 'the call was cancelled');
const shuttingDown = () => unavailable('the tokenizer service is shutting down; retry on another replica');

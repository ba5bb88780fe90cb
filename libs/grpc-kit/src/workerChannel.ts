/**
 * Request/response over a worker thread, for the compute a service must keep off its
 * event loop (onnxruntime's run blocks the calling thread for the whole pass, so on the
 * main thread it would stall every gRPC call, health checks included).
 *
 * Both sides speak one protocol (below): the worker posts `ready` (with what the service
 * needs to know) or `failed` once set up; each `request` gets exactly one `result`,
 * `error` or `cancelled` with its id. `WorkerChannel` is the service's side (typed promises,
 * cancellation through an AbortSignal, a dead thread failing every pending and later
 * request instead of leaving it waiting); `serveWorker` (workerSide.ts) is the thread's.
 */
import { Worker } from 'node:worker_threads';
import { CancelledError } from './async';

export type ToWorker<Req> =
  | { type: 'request'; id: number; request: Req }
  /** The caller gave up: drop the request if it is still waiting, drop its result if it runs. */
  | { type: 'cancel'; id: number }
  /** Finish the requests already sent, release resources, exit. */
  | { type: 'stop' };

export type FromWorker<Res, Ready> =
  | ({ type: 'ready' } & Ready)
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; result: Res }
  /**
   * `name` and `fields` (the error's own enumerable properties) keep what the service tells
   * errors apart by: a RangeError is bad input; a typed error's fields say more.
   */
  | { type: 'error'; id: number; message: string; name?: string; fields?: Record<string, unknown> }
  /** After a cancel: `ran` when the work had started (its result was dropped). */
  | { type: 'cancelled'; id: number; ran: boolean };

/** The thread is gone (crashed, exited, or stopped). */
export class WorkerGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerGoneError';
  }
}

export interface WorkerChannelOptions {
  /** The thread, for messages: "the trainer thread", "model worker". */
  what: string;
  workerData?: unknown;
  /** Buffers of workerData moved to the thread (unusable here afterwards). */
  transferList?: ArrayBuffer[];
  /** The rejection of a request whose caller's signal fired (default CancelledError). */
  cancelledError?: () => Error;
  /** The rejection once the thread is gone (default WorkerGoneError). */
  goneError?: (message: string) => Error;
  /** A thread stuck in JavaScript is terminated after this long on stop (default 60 s). */
  terminateAfterMs?: number;
}

interface Pending<Res> {
  resolve(r: Res): void;
  reject(e: Error): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class WorkerChannel<Req, Res, Ready> {
  private readonly pending = new Map<number, Pending<Res>>();
  private nextId = 1;
  private dead: Error | undefined;
  private ended = false;
  private readonly exited: Promise<void>;
  /**
   * Cancelled requests by how they ended: dropped before running (skipped), run and the
   * result thrown away in the thread (discarded), or answered before the cancel reached
   * the thread, the answer dropped here (late). Which happens depends on thread timing.
   */
  readonly cancelled = { skipped: 0, discarded: 0, late: 0 };

  private constructor(private readonly worker: Worker, readonly ready: Ready, private readonly opts: WorkerChannelOptions) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (msg: FromWorker<Res, Ready>) => this.answer(msg));
    worker.on('error', (err) => this.fail(`${opts.what} crashed: ${err.message}`));
    worker.on('exit', (code) => this.fail(`${opts.what} exited unexpectedly (exit code ${code})`));
  }

  /**
   * Starts the thread at `url` and resolves once it posted `ready` (rejects with its
   * `failed` message, or with how it died while starting).
   */
  static start<Req, Res, Ready>(url: URL, opts: WorkerChannelOptions): Promise<WorkerChannel<Req, Res, Ready>> {
    const worker = new Worker(url, { workerData: opts.workerData, transferList: opts.transferList });
    const gone = opts.goneError ?? ((m: string) => new WorkerGoneError(m));
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(gone(`${opts.what} exited while starting (exit code ${code})`));
      const onError = (err: Error) => reject(gone(`${opts.what} crashed while starting: ${err.message}`));
      worker.once('exit', onExit);
      worker.once('error', onError);
      worker.once('message', (msg: FromWorker<Res, Ready>) => {
        worker.off('exit', onExit);
        worker.off('error', onError);
        if (msg.type === 'ready') {
          resolve(new WorkerChannel<Req, Res, Ready>(worker, msg as Ready, opts));
          return;
        }
        void worker.terminate();
        reject(new Error(msg.type === 'failed' ? msg.message : `${opts.what} sent an unexpected first message (${msg.type})`));
      });
    });
  }

  /** Requests posted and not answered yet (cancelled ones included until answered). */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Sends `request`; `transfer` buffers move to the thread. Once `signal` fires the
   * promise rejects with the cancelled error whatever the thread answers.
   */
  request(request: Req, opts: { transfer?: ArrayBuffer[]; signal?: AbortSignal } = {}): Promise<Res> {
    if (this.dead) return Promise.reject(this.dead);
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(this.cancelledError());
    const id = this.nextId++;
    return new Promise<Res>((resolve, reject) => {
      const onAbort = signal && (() => this.worker.postMessage({ type: 'cancel', id } satisfies ToWorker<Req>));
      if (onAbort) signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve, reject, signal, onAbort });
      this.worker.postMessage({ type: 'request', id, request } satisfies ToWorker<Req>, opts.transfer ?? []);
    });
  }

  /**
   * Stops soon: pending and later requests reject now with `reason`; the thread finishes
   * what it is doing (a native call cannot be interrupted) and exits. Resolves once it has.
   */
  async stop(reason = `${this.opts.what} was stopped`): Promise<void> {
    this.fail(reason);
    await this.end();
  }

  /** Lets the requests already sent finish, then ends the thread; resolves once it has exited. */
  async dispose(): Promise<void> {
    await this.end();
  }

  private answer(msg: FromWorker<Res, Ready>): void {
    if (msg.type !== 'result' && msg.type !== 'error' && msg.type !== 'cancelled') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    // A result nobody wants any more is dropped here, so its buffers can be freed.
    if (msg.type === 'cancelled' || p.signal?.aborted) {
      this.cancelled[msg.type !== 'cancelled' ? 'late' : msg.ran ? 'discarded' : 'skipped']++;
      p.reject(this.cancelledError());
    } else if (msg.type === 'error') {
      const err = msg.name === 'RangeError' ? new RangeError(msg.message) : new Error(msg.message);
      if (msg.name && msg.name !== 'RangeError') err.name = msg.name;
      p.reject(Object.assign(err, msg.fields));
    } else {
      p.resolve(msg.result);
    }
  }

  private cancelledError(): Error {
    return this.opts.cancelledError?.() ?? new CancelledError();
  }

  private fail(message: string): void {
    this.dead ??= this.opts.goneError?.(message) ?? new WorkerGoneError(message);
    for (const p of this.pending.values()) {
      if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
      p.reject(this.dead);
    }
    this.pending.clear();
  }

  private async end(): Promise<void> {
    if (this.ended) return this.exited;
    this.ended = true;
    this.worker.postMessage({ type: 'stop' } satisfies ToWorker<Req>);
    // Last resort for a thread stuck in JavaScript: terminating one inside an onnxruntime
    // call would abort the process, and no single engine call takes this long.
    const timer = setTimeout(() => void this.worker.terminate(), this.opts.terminateAfterMs ?? 60_000);
    await this.exited;
    clearTimeout(timer);
  }
}

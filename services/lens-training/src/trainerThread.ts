/**
 * The job's side of the trainer thread (worker/trainerWorker.ts): typed promises over
 * its messages. Requests are answered in order. When the thread dies (an uncaught
 * error, out of memory, an exit) every pending and later call rejects with a
 * TrainerThreadError saying so, so a job fails instead of waiting forever.
 */
import { WorkerChannel, WorkerGoneError } from '@tuned-lens/grpc-kit';
import type { MicroBatch, StepStats } from '@tuned-lens/lens';
import type { TrainerReady, TrainerRequest, TrainerResults, TrainerStart } from './worker/protocol';
import { transferable, transferList } from './worker/transfer';

/** The thread is gone (crashed, exited, or stopped by `stop`). */
export class TrainerThreadError extends WorkerGoneError {
  constructor(message: string) {
    super(message);
    this.name = 'TrainerThreadError';
  }
}

type Answer = TrainerResults[TrainerRequest['kind']];

const defaultWorkerUrl = new URL('./worker/bootstrap.mjs', import.meta.url);

export class TrainerThread {
  private constructor(private readonly channel: WorkerChannel<TrainerRequest, Answer, TrainerReady>, private readonly stopFlag: Int32Array) {}

  get engineName(): string {
    return this.channel.ready.engine;
  }

  get loadLog(): string {
    return this.channel.ready.log;
  }

  /**
   * Starts the thread and resolves once its engine and trainer exist (rejects with the
   * reason otherwise). The start's arrays are transferred: the caller must not use them
   * afterwards. `workerUrl` is the thread's entry (the real trainer unless a test says).
   */
  static async start(start: Omit<TrainerStart, 'stopFlag'>, workerUrl: URL = defaultWorkerUrl): Promise<TrainerThread> {
    const stopFlag = new Int32Array(new SharedArrayBuffer(4));
    const owned = withOwnedBuffers({ ...start, stopFlag });
    const channel = await WorkerChannel.start<TrainerRequest, Answer, TrainerReady>(workerUrl, {
      what: 'the trainer thread', workerData: owned, transferList: transferList(arraysOf(owned)),
      goneError: (m) => new TrainerThreadError(m),
      // No single engine call takes this long; a thread stuck past it is in JavaScript.
      terminateAfterMs: 60_000,
    }).catch((err: Error) => {
      throw err instanceof TrainerThreadError ? err : new Error(`the trainer could not start: ${err.message}`);
    });
    return new TrainerThread(channel, stopFlag);
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
    return this.channel.request(request, { transfer });
  }

  /**
   * Stops soon (cancel): pending and later calls reject now; the thread drops queued
   * work, finishes its current engine call (a native call cannot be interrupted) and
   * exits. Resolves once it has.
   */
  async stop(): Promise<void> {
    Atomics.store(this.stopFlag, 0, 1);
    await this.channel.stop();
  }

  /** Lets queued work finish, releases the engine, and waits for the thread to end. */
  dispose(): Promise<void> {
    return this.channel.dispose();
  }
}


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

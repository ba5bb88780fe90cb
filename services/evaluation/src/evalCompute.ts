/**
 * The lens math of an evaluation job (LensEvaluator's per-layer metrics and the extra
 * metrics: layer transfer, logit statistics), batch by batch. It runs in a worker thread
 * of its own (grpc-kit's WorkerChannel): onnxruntime's run blocks its thread for the whole
 * batch, so on the service's event loop it would stall every other call, health checks
 * included. The thread runs the same InProcessEvalCompute, so the numbers are the same
 * either way; in process is kept for an engine given as an object (tests), which a
 * thread cannot recreate.
 */
import { WorkerChannel } from '@tuned-lens/grpc-kit';
import { createEngine, type Engine, type EngineChoice } from '@tuned-lens/engine';
import {
  ExtraMetrics, LensEvaluator,
  type EvalResult, type ExtraOptions, type MicroBatch, type TransferResult, type TunedLensWeights, type Unembedding,
} from '@tuned-lens/lens';

export interface EvalComputeStart {
  unembedding: Unembedding;
  numLayers: number;
  /** The tuned lens, when one is evaluated. */
  tuned?: TunedLensWeights;
  extras: ExtraOptions;
}

/** What an evaluation's lens math produced once every batch is in. */
export interface EvalFinish {
  result: EvalResult;
  transfer: Record<string, TransferResult> | undefined;
  logitStats: Record<string, unknown> | undefined;
}

export interface EvalCompute {
  /** Adds one batch ([batch, seq] ids and hidden states 0..L); returns the running result. */
  addBatch(mb: MicroBatch): Promise<EvalResult>;
  finish(): Promise<EvalFinish>;
  dispose(): Promise<void>;
}

export class InProcessEvalCompute implements EvalCompute {
  private constructor(private readonly evaluator: LensEvaluator, private readonly extras: ExtraMetrics) {}

  static async create(engine: Engine, s: EvalComputeStart): Promise<InProcessEvalCompute> {
    const evaluator = await LensEvaluator.create(engine, s.unembedding, s.numLayers, s.tuned);
    try {
      return new InProcessEvalCompute(evaluator, await ExtraMetrics.create(engine, s.unembedding, s.numLayers, s.extras, s.tuned));
    } catch (err) {
      await evaluator.dispose();
      throw err;
    }
  }

  async addBatch(mb: MicroBatch): Promise<EvalResult> {
    await this.evaluator.addBatch(mb);
    await this.extras.addBatch(mb);
    return this.evaluator.result();
  }

  async finish(): Promise<EvalFinish> {
    const result = this.evaluator.result();
    return { result, transfer: this.extras.transfer(result), logitStats: this.extras.logitStatsJson() };
  }

  async dispose(): Promise<void> {
    await this.evaluator.dispose();
    await this.extras.dispose();
  }
}

/** A batch as it crosses to the thread (the Map of hidden states flattened). */
export interface BatchMessage {
  batch: number;
  seq: number;
  inputIds: Int32Array;
  layers: number[];
  hiddenStates: Float32Array[];
}

export type EvalRequest = { kind: 'batch'; batch: BatchMessage } | { kind: 'finish' };
export type EvalAnswer = EvalResult | EvalFinish;
export interface EvalWorkerStart extends EvalComputeStart {
  engine: EngineChoice;
}

/** A compact copy unless `a` owns its whole buffer (a view's neighbours must not be detached). */
const owned = <T extends Float32Array | Int32Array>(a: T): T => (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a.slice() as T));

class ThreadEvalCompute implements EvalCompute {
  constructor(private readonly channel: WorkerChannel<EvalRequest, EvalAnswer, object>) {}

  /** The batch's arrays move to the thread: `mb` is unusable afterwards. */
  async addBatch(mb: MicroBatch): Promise<EvalResult> {
    const layers = [...mb.hiddenStates.keys()];
    const hiddenStates = layers.map((l) => owned(mb.hiddenStates.get(l)!));
    const inputIds = owned(mb.inputIds);
    const batch: BatchMessage = { batch: mb.batch, seq: mb.seq, inputIds, layers, hiddenStates };
    const transfer = [...new Set([inputIds, ...hiddenStates].map((a) => a.buffer as ArrayBuffer))];
    return (await this.channel.request({ kind: 'batch', batch }, { transfer })) as EvalResult;
  }

  async finish(): Promise<EvalFinish> {
    return (await this.channel.request({ kind: 'finish' })) as EvalFinish;
  }

  dispose(): Promise<void> {
    return this.channel.dispose();
  }
}

/**
 * The compute of one job: on a thread of its own with engine `choice`, or in process on
 * `engine` when no choice is known. The unembedding's arrays that own their buffers move
 * to the thread (W_U is the biggest thing a job holds: no second copy of it stays here),
 * so `start.unembedding` is unusable afterwards; the lens is copied (the lens store keeps
 * serving it).
 */
export async function startEvalCompute(start: EvalComputeStart, where: { choice?: EngineChoice; engine: Engine }): Promise<EvalCompute> {
  if (!where.choice) return InProcessEvalCompute.create(where.engine, start);
  const workerData: EvalWorkerStart = { ...start, engine: where.choice };
  const u = start.unembedding;
  const movable = [u.lmHead, u.normWeight, u.lmHeadBias, u.normBias].filter((a): a is Float32Array => a !== undefined && owned(a) === a);
  const channel = await WorkerChannel.start<EvalRequest, EvalAnswer, object>(new URL('./worker/bootstrap.mjs', import.meta.url), {
    what: 'the evaluation thread', workerData, transferList: [...new Set(movable.map((a) => a.buffer as ArrayBuffer))],
  });
  return new ThreadEvalCompute(channel);
}

/** Used by the thread: the compute for its workerData. */
export async function inProcessFor(start: EvalWorkerStart): Promise<{ compute: InProcessEvalCompute; engine: Engine }> {
  const engine = await createEngine(start.engine);
  try {
    return { compute: await InProcessEvalCompute.create(engine, start), engine };
  } catch (err) {
    await engine.dispose?.();
    throw err;
  }
}

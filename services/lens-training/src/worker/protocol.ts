/**
 * Messages between a training job (main thread) and its trainer thread. The thread owns
 * the engine, the TranslatorTrainer and the optimiser state; the job sends it
 * micro-batches (hidden-state buffers transferred, not copied) and asks for optimiser
 * steps and for copies of the lens and optimiser state (checkpoints, the final lens).
 */
import type { EngineChoice } from '@tuned-lens/engine';
import type { OptimizerState, StepStats, TrainerOptions, TunedLensWeights, Unembedding } from '@tuned-lens/lens';

/** workerData of the thread: everything TranslatorTrainer.create needs. */
export interface TrainerStart {
  engine: EngineChoice;
  unembedding: Unembedding;
  options: TrainerOptions;
  /** The starting lens (zero, warm start or checkpoint). */
  lens: TunedLensWeights;
  /** The optimiser state of a resumed checkpoint. */
  optimizer?: OptimizerState;
  /** [1] on a SharedArrayBuffer: the job sets it to make the thread stop (stoppableEngine.ts). */
  stopFlag: Int32Array;
}

/** A micro-batch as it crosses the thread boundary (a Map of arrays, flattened). */
export interface MicroBatchMessage {
  batch: number;
  seq: number;
  /** [batch * seq] token ids. */
  inputIds: Int32Array;
  /** Hidden-state indices, parallel to `hiddenStates`. */
  layers: number[];
  /** [batch * seq * d] f32 each. */
  hiddenStates: Float32Array[];
}

/** What the job can ask; each request gets exactly one `result` or `error` with its id. */
export type TrainerRequest =
  | { kind: 'accumulate'; microBatch: MicroBatchMessage; weight: number }
  | { kind: 'step'; step: number }
  | { kind: 'snapshot' };

/** The answer to each request kind. */
export interface TrainerResults {
  /** Each layer's mean loss over the micro-batch (nats). */
  accumulate: number[];
  step: StepStats;
  /** Copies: the thread keeps training its own arrays. */
  snapshot: { lens: TunedLensWeights; optimizer: OptimizerState };
}

/** What the thread reports once its engine and trainer exist (the `ready` message). */
export interface TrainerReady {
  engine: string;
  log: string;
}

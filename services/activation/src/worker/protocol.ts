/**
 * What the activation service and its model worker thread exchange over grpc-kit's
 * WorkerChannel: requests are ForwardRequests, answers ForwardAnswers; every request gets
 * exactly one answer, error or `cancelled` (after a cancel: at once if it was still
 * waiting in the worker, after the pass if it was running; its hidden states are then
 * dropped, not sent).
 */
import type { EngineChoice } from '@tuned-lens/engine';
import type { ForwardRequest, UnembeddingTensors } from '@tuned-lens/models';
import type { ModelDescription } from '../backend';

export interface WorkerStart {
  modelDir: string;
  engine: EngineChoice;
  warmup: boolean;
  /** Total bytes the process may use, replacing the detected limit ('max': no check); see memory/allowance.ts. */
  memoryLimit?: number | 'max';
}

/** What the worker reports once its model is loaded (the `ready` message). */
export interface WorkerReady {
  description: ModelDescription;
  unembedding: UnembeddingTensors;
  log: string;
}

/** The answer to one forward request: hidden states by index, parallel arrays. */
export interface ForwardAnswer {
  layers: number[];
  hiddenStates: Float32Array[];
  logits?: Float32Array;
  seconds: number;
}

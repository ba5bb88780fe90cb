/**
 * Messages between the activation service and its model worker thread.
 *
 * Every `forward` gets exactly one answer with its id: `result`, `error`, or `cancelled`
 * (after a `cancel` for it: at once if it was still waiting in the worker, after the
 * pass if it was running; its hidden states are then dropped, not sent).
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

export type FromWorker =
  | { type: 'ready'; description: ModelDescription; unembedding: UnembeddingTensors; log: string }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; layers: number[]; hiddenStates: Float32Array[]; logits?: Float32Array; seconds: number }
  | { type: 'error'; id: number; message: string; rangeError: boolean }
  /** `ran`: the pass had started, so only its result was dropped. */
  | { type: 'cancelled'; id: number; ran: boolean };

export type ToWorker =
  | { type: 'forward'; id: number; req: ForwardRequest }
  | { type: 'cancel'; id: number }
  | { type: 'stop' };

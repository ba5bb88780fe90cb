/** Messages between the activation service and its model worker thread. */
import type { EngineChoice } from '@tuned-lens/engine';
import type { ForwardRequest, UnembeddingTensors } from '@tuned-lens/models';
import type { ModelDescription } from '../backend';

export interface WorkerStart {
  modelDir: string;
  engine: EngineChoice;
  warmup: boolean;
}

export type FromWorker =
  | { type: 'ready'; description: ModelDescription; unembedding: UnembeddingTensors; log: string }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; layers: number[]; hiddenStates: Float32Array[]; logits?: Float32Array; seconds: number }
  | { type: 'error'; id: number; message: string; rangeError: boolean };

export type ToWorker =
  | { type: 'forward'; id: number; req: ForwardRequest }
  | { type: 'stop' };

/**
 * What the service needs from the model: its description, its unembedding and forward
 * passes. Implemented by a worker thread (workerBackend.ts) so that long native forward
 * passes (onnxruntime's run is synchronous: ~2 s for GPT-2-small at 8 x 256) never block
 * the event loop that answers health checks and streams frames.
 */
import type { ForwardRequest, ForwardResult, ModelDims, NormKind, UnembeddingTensors } from '@tuned-lens/models';

export interface ModelDescription {
  name: string;
  dims: ModelDims;
  weightsDtype: string;
  unembedHash: string;
  engine: string;
  finalNorm: NormKind;
}

export interface ForwardBackend {
  readonly description: ModelDescription;
  unembedding(): UnembeddingTensors;
  /**
   * Validates (RangeError naming the problem) then runs one forward pass. When `signal`
   * fires, the pass is dropped if it has not started, its result is dropped if it has,
   * and the promise rejects with ForwardCancelledError once the model is done with it
   * (so whoever counts running passes sees the truth).
   */
  forward(req: ForwardRequest, signal?: AbortSignal): Promise<ForwardResult>;
  dispose(): Promise<void>;
}

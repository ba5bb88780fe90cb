/** Per-service limits of the activation service; hitting one answers RESOURCE_EXHAUSTED. */
export interface ActivationLimits {
  /** Tokens (batch x seq) in one batch. */
  maxTokensPerBatch: number;
  /** Forward passes waiting for the model at once (over all streams). */
  maxQueuedBatches: number;
  /** Concurrent Extract streams. */
  maxConcurrentStreams: number;
}

export const defaultActivationLimits: ActivationLimits = {
  maxTokensPerBatch: 16 * 1024,
  maxQueuedBatches: 16,
  maxConcurrentStreams: 32,
};

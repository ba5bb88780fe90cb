/** Limits of the evaluation service; hitting one answers RESOURCE_EXHAUSTED or INVALID_ARGUMENT. */
export interface EvaluationLimits {
  /** Predict / Compare calls computing at once (the admission budget); more are refused with a retry hint. */
  maxConcurrentPredictions: number;
  /** Largest top_k a request may ask for. */
  maxTopK: number;
  /** Full-distribution cells one Predict may ask for. */
  maxFullDistributionCells: number;
  /** Evaluation jobs running at once; later ones wait QUEUED. */
  maxRunningJobs: number;
  /** Jobs waiting to run; more are refused. */
  maxQueuedJobs: number;
  /** Finished jobs kept for Get/Watch (oldest forgotten first). */
  keepFinishedJobs: number;
  /** Tuned lenses kept loaded (least recently used dropped first). */
  lensCacheSize: number;
}

export const defaultEvaluationLimits: EvaluationLimits = {
  maxConcurrentPredictions: 4,
  maxTopK: 100,
  maxFullDistributionCells: 16,
  maxRunningJobs: 1,
  maxQueuedJobs: 8,
  keepFinishedJobs: 100,
  lensCacheSize: 4,
};

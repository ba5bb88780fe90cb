/**
 * The learning-rate multiplier: linear warmup over W steps, then linear decay to zero at
 * `numSteps`. The original used transformers' get_linear_schedule_with_warmup with
 * num_training_steps = numSteps - W, so with a warmup its LR hit zero W steps early
 * (FIX: here the decay ends exactly at the last step).
 *
 * Step indices are 0-based: the update of step k uses multiplier(k), as PyTorch's
 * scheduler.step() after each optimizer.step() gives.
 */
export function lrMultiplier(step: number, numSteps: number, warmupSteps: number): number {
  if (warmupSteps > 0 && step < warmupSteps) return step / warmupSteps;
  return Math.max(0, (numSteps - step) / Math.max(1, numSteps - warmupSteps));
}

/**
 * The original's documented warmup defaults (its code never applied the Adam one, a
 * string-vs-enum comparison bug; FIX): Adam min(0.2 * steps, 1000), SGD none, Muon none
 * (PR #141 gives it the SGD branch: linear decay to zero from the first step).
 */
export function defaultWarmupSteps(optimizer: 'sgd' | 'adam' | 'muon', numSteps: number): number {
  return optimizer === 'adam' ? Math.min(Math.floor(0.2 * numSteps), 1000) : 0;
}

/**
 * Training metrics (Prometheus), labelled by `training_job` (the job id) and layer for losses.
 * Not `job`: Prometheus sets its own `job` (the scrape target), and a clashing label
 * would arrive renamed `exported_job`.
 */
import { Counter, Gauge, Histogram, perRegistry, type Registry } from '@tuned-lens/metrics';

export interface TrainingMetrics {
  layerLossNats: Gauge<'training_job' | 'layer'>;
  layerLossBpb: Gauge<'training_job' | 'layer'>;
  tokensPerSecond: Gauge<'training_job'>;
  stepSeconds: Histogram;
  gradNorm: Gauge<'training_job'>;
  weightNorm: Gauge<'training_job'>;
  step: Gauge<'training_job'>;
  tokens: Counter;
  jobs: Gauge<'state'>;
  activationBenched: Counter<'endpoint'>;
}

export const trainingMetrics = perRegistry((registry: Registry): TrainingMetrics => {
  const registers = [registry];
  const m: TrainingMetrics = {
    layerLossNats: new Gauge({ name: 'tunedlens_training_layer_loss_nats', help: 'Loss of each translator at the last step (nats/token).', labelNames: ['training_job', 'layer'], registers }),
    layerLossBpb: new Gauge({ name: 'tunedlens_training_layer_loss_bits_per_byte', help: 'Loss of each translator at the last step (bits/byte).', labelNames: ['training_job', 'layer'], registers }),
    tokensPerSecond: new Gauge({ name: 'tunedlens_training_tokens_per_second', help: 'Training throughput over the last step.', labelNames: ['training_job'], registers }),
    stepSeconds: new Histogram({ name: 'tunedlens_training_step_seconds', help: 'Wall time of one optimiser step (all its micro-batches).', buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600], registers }),
    gradNorm: new Gauge({ name: 'tunedlens_training_grad_norm', help: 'Global gradient norm before clipping, last step.', labelNames: ['training_job'], registers }),
    weightNorm: new Gauge({ name: 'tunedlens_training_weight_norm', help: 'Norm of all translator weights, last step.', labelNames: ['training_job'], registers }),
    step: new Gauge({ name: 'tunedlens_training_step', help: 'Optimiser steps completed.', labelNames: ['training_job'], registers }),
    tokens: new Counter({ name: 'tunedlens_training_tokens_total', help: 'Tokens trained on.', registers }),
    jobs: new Gauge({ name: 'tunedlens_training_jobs', help: 'Jobs by state.', labelNames: ['state'], registers }),
    activationBenched: new Counter({ name: 'tunedlens_training_activation_benched_total', help: 'Times an activation replica failed or missed a batch deadline and was benched (its batch re-sent to another).', labelNames: ['endpoint'], registers }),
  };
  return m;
});

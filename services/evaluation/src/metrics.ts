/** Evaluation-service Prometheus metrics (the grpc_server_* ones come from grpc-kit). */
import { Counter, Gauge, Histogram, perRegistry } from '@tuned-lens/metrics';

export interface EvaluationMetrics {
  predictions: Counter<'rpc' | 'outcome'>;
  predictionSeconds: Histogram<'rpc'>;
  inFlight: Gauge;
  rejected: Counter;
  positions: Counter<'rpc'>;
  evalJobs: Gauge<'state'>;
  evalTokens: Counter;
  evalBatchSeconds: Histogram;
}

export const evaluationMetrics = perRegistry((registry): EvaluationMetrics => {
  const registers = [registry];
  return {
    predictions: new Counter({
      name: 'tunedlens_lens_predictions_total',
      help: 'Predict and Compare calls by outcome (the gRPC status name: OK, Canceled, ResourceExhausted for admission refusals, ...).',
      labelNames: ['rpc', 'outcome'], registers,
    }),
    predictionSeconds: new Histogram({
      name: 'tunedlens_lens_prediction_seconds',
      help: 'Wall time of a Predict or Compare call that was admitted (tokenize, extract, lens, stream).',
      labelNames: ['rpc'], buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
    }),
    inFlight: new Gauge({ name: 'tunedlens_lens_in_flight', help: 'Predict and Compare calls admitted and running.', registers }),
    rejected: new Counter({ name: 'tunedlens_lens_rejected_total', help: 'Calls refused by admission control (RESOURCE_EXHAUSTED).', registers }),
    positions: new Counter({ name: 'tunedlens_lens_positions_total', help: 'Position frames streamed.', labelNames: ['rpc'], registers }),
    evalJobs: new Gauge({ name: 'tunedlens_evaluation_eval_jobs', help: 'Evaluation jobs known to this server by state.', labelNames: ['state'], registers }),
    evalTokens: new Counter({ name: 'tunedlens_evaluation_tokens_total', help: 'Tokens evaluated by evaluation jobs.', registers }),
    evalBatchSeconds: new Histogram({
      name: 'tunedlens_evaluation_batch_seconds',
      help: 'Lens metrics time of one evaluation batch (every layer and lens), excluding the forward pass.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    }),
  };
});

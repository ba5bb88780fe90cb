/** Activation-specific Prometheus metrics (the grpc_server_* ones come from grpc-kit). */
import { Counter, Gauge, Histogram, perRegistry, type Registry } from '@tuned-lens/metrics';

export interface ActivationMetrics {
  forwardSeconds: Histogram;
  tokens: Counter;
  bytesSent: Counter;
  queueDepth: Gauge;
  modelInfo: Gauge<'model' | 'architecture' | 'engine'>;
}

export const activationMetrics = perRegistry((registry: Registry): ActivationMetrics => {
  const registers = [registry];
  const m: ActivationMetrics = {
    forwardSeconds: new Histogram({
      name: 'tunedlens_activation_forward_seconds',
      help: 'Wall time of one forward pass (one Extract batch).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    }),
    tokens: new Counter({ name: 'tunedlens_activation_tokens_total', help: 'Tokens run through the model.', registers }),
    bytesSent: new Counter({ name: 'tunedlens_activation_hidden_state_bytes_total', help: 'Bytes of hidden-state and logit payload streamed to clients.', registers }),
    queueDepth: new Gauge({ name: 'tunedlens_activation_queue_depth', help: 'Forward passes running or waiting.', registers }),
    modelInfo: new Gauge({ name: 'tunedlens_activation_model_info', help: 'The loaded model and compute engine (value 1).', labelNames: ['model', 'architecture', 'engine'], registers }),
  };
  return m;
});

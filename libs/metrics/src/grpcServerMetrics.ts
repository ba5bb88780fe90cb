import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { perRegistry } from './perRegistry';

/** go-grpc-prometheus's `grpc_type` values, so existing dashboards and alerts apply. */
export type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/**
 * The standard gRPC server metric families (the names of go-grpc-prometheus / the
 * grpc-ecosystem middleware that Grafana dashboards expect), plus an in-flight gauge that
 * a HorizontalPodAutoscaler can scale on.
 */
export interface GrpcServerMetrics {
  started: Counter<'grpc_type' | 'grpc_service' | 'grpc_method'>;
  handled: Counter<'grpc_type' | 'grpc_service' | 'grpc_method' | 'grpc_code'>;
  received: Counter<'grpc_type' | 'grpc_service' | 'grpc_method'>;
  sent: Counter<'grpc_type' | 'grpc_service' | 'grpc_method'>;
  handlingSeconds: Histogram<'grpc_type' | 'grpc_service' | 'grpc_method'>;
  inFlight: Gauge<'grpc_service' | 'grpc_method'>;
}

const baseLabels = ['grpc_type', 'grpc_service', 'grpc_method'] as const;

/** The gRPC server metrics registered in `registry` (created once per registry). */
export const grpcServerMetrics = perRegistry((registry: Registry): GrpcServerMetrics => {
  const registers = [registry];
  const metrics: GrpcServerMetrics = {
    started: new Counter({
      name: 'grpc_server_started_total',
      help: 'Total number of RPCs started on the server.',
      labelNames: baseLabels, registers,
    }),
    handled: new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: [...baseLabels, 'grpc_code'], registers,
    }),
    received: new Counter({
      name: 'grpc_server_msg_received_total',
      help: 'Total number of RPC stream messages received on the server.',
      labelNames: baseLabels, registers,
    }),
    sent: new Counter({
      name: 'grpc_server_msg_sent_total',
      help: 'Total number of gRPC stream messages sent by the server.',
      labelNames: baseLabels, registers,
    }),
    handlingSeconds: new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      labelNames: baseLabels,
      // Streams of hidden states and training jobs run for minutes: the buckets reach 10 min.
      buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 120, 600],
      registers,
    }),
    inFlight: new Gauge({
      name: 'grpc_server_in_flight_requests',
      help: 'RPCs being handled by the server now.',
      labelNames: ['grpc_service', 'grpc_method'], registers,
    }),
  };
  return metrics;
});

/** Go's `codes.Code.String()` spelling, which go-grpc-prometheus puts in `grpc_code`. */
export const grpcCodeNames = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists',
  'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange',
  'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
] as const;

export function grpcCodeName(code: number): string {
  return grpcCodeNames[code] ?? `Code(${code})`;
}

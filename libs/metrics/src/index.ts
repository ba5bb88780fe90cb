export { getProcessRegistry } from './registry';
export { grpcServerMetrics, grpcCodeName, grpcCodeNames, type GrpcServerMetrics, type GrpcType } from './grpcServerMetrics';
export { startMetricsServer, type MetricsServer } from './metricsServer';
export { Counter, Gauge, Histogram, Registry } from 'prom-client';
export { perRegistry } from './perRegistry';

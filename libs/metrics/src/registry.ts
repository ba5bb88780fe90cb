import { Registry, collectDefaultMetrics } from 'prom-client';

let processRegistry: Registry | undefined;

/**
 * The one Prometheus registry of this process (prom-client's advice: one per process).
 * When several services run embedded in one process they share it; their series are told
 * apart by the `grpc_service` label. Node's process metrics (CPU, memory, event-loop lag,
 * GC) are registered once, on first use.
 */
export function getProcessRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

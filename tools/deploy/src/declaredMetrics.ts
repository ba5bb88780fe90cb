/**
 * Metric families the alerts, dashboard and autoscaler may use without a running
 * service of ours exposing them in CI. Everything else must appear on a real /metrics
 * scrape of a service started by the tests. Keep this list short and say why.
 */
import { sampleNames } from './promql';

/** Not ours: produced by Prometheus itself or by kube-prometheus-stack's exporters. */
export const externalMetrics: Record<string, { type: string; source: string }> = {
  up: { type: 'gauge', source: 'Prometheus: 1 when the last scrape of a target succeeded' },
  kube_deployment_status_replicas_available: { type: 'gauge', source: 'kube-state-metrics' },
  kube_deployment_spec_replicas: { type: 'gauge', source: 'kube-state-metrics' },
};

/**
 * Ours, from services that CI cannot run yet (none today: tokenizer, activation and
 * lens-training all run in the tests, and nothing references evaluation metrics yet).
 * A family listed here that a running service does expose is an error (the test says
 * to delete it), so the list only shrinks. Add evaluation families here if the
 * dashboard uses them before `tuned-lens serve --service evaluation` exists.
 */
export const pendingMetrics: Record<string, { type: string; service: string }> = {};

export function declaredSampleNames(which: Record<string, { type: string }>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [family, { type }] of Object.entries(which)) for (const n of sampleNames(family, type)) out.set(n, family);
  return out;
}

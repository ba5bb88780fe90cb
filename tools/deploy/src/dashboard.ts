/**
 * The Grafana dashboard (infra/monitoring/dashboards/tuned-lens.json) as code: stable
 * uid, a datasource variable used by every panel and variable, no UI state (no ids of
 * one Grafana, no hidden series, no saved time range beyond the default). The JSON is
 * generated from here and a test checks the committed file is current:
 *
 *   npm run gen:dashboard -w @tuned-lens/deploy-checks
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_UID = 'tuned-lens-overview';
export const dashboardPath = fileURLToPath(new URL('../../../infra/monitoring/dashboards/tuned-lens.json', import.meta.url));

const ds = { type: 'prometheus', uid: '${datasource}' };
const ns = 'namespace="$namespace"';
const rate = '$__rate_interval';

interface Target { expr: string; legend: string }
interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  targets: Target[];
  width?: number;
  stack?: boolean;
  min?: number;
}

type Row = { title: string; panels: PanelSpec[] };

const rows: Row[] = [
  {
    title: 'Training',
    panels: [
      {
        title: 'Loss per layer (nats/token)',
        description: 'Loss of each layer\'s translator at the last step (KL to the final layer, or next-token cross-entropy).',
        unit: 'none',
        targets: [{ expr: `tunedlens_training_layer_loss_nats{${ns}, training_job=~"$training_job"}`, legend: '{{training_job}} layer {{layer}}' }],
      },
      {
        title: 'Loss per layer (bits/byte)',
        description: 'The same loss in bits per UTF-8 byte of text, comparable across tokenizers.',
        unit: 'none',
        targets: [{ expr: `tunedlens_training_layer_loss_bits_per_byte{${ns}, training_job=~"$training_job"}`, legend: '{{training_job}} layer {{layer}}' }],
      },
      {
        title: 'Training tokens/s',
        description: 'Throughput of each job over its last step, and tokens trained on per second across the namespace.',
        unit: 'short',
        targets: [
          { expr: `tunedlens_training_tokens_per_second{${ns}, training_job=~"$training_job"}`, legend: '{{training_job}}' },
          { expr: `sum(rate(tunedlens_training_tokens_total{${ns}}[${rate}]))`, legend: 'all jobs' },
        ],
      },
      {
        title: 'Step time',
        description: 'Wall time of one optimiser step (all its micro-batches): median and 95th percentile.',
        unit: 's',
        targets: [
          { expr: `histogram_quantile(0.5, sum by (le) (rate(tunedlens_training_step_seconds_bucket{${ns}}[${rate}])))`, legend: 'p50' },
          { expr: `histogram_quantile(0.95, sum by (le) (rate(tunedlens_training_step_seconds_bucket{${ns}}[${rate}])))`, legend: 'p95' },
        ],
      },
      {
        title: 'Gradient and weight norms',
        description: 'Global gradient norm before clipping and the norm of all translator weights, last step.',
        unit: 'none',
        targets: [
          { expr: `tunedlens_training_grad_norm{${ns}, training_job=~"$training_job"}`, legend: 'grad {{training_job}}' },
          { expr: `tunedlens_training_weight_norm{${ns}, training_job=~"$training_job"}`, legend: 'weights {{training_job}}' },
        ],
      },
      {
        title: 'Steps and jobs',
        description: 'Optimiser steps completed per job, and jobs by state.',
        unit: 'short',
        targets: [
          { expr: `tunedlens_training_step{${ns}, training_job=~"$training_job"}`, legend: 'step {{training_job}}' },
          { expr: `sum by (state) (tunedlens_training_jobs{${ns}})`, legend: 'jobs {{state}}' },
        ],
      },
    ],
  },
  {
    title: 'Activation',
    panels: [
      {
        title: 'Hidden states streamed',
        description: 'Bytes of hidden-state (and logit) payload the activation services stream to clients.',
        unit: 'Bps',
        targets: [{ expr: `sum by (pod) (rate(tunedlens_activation_hidden_state_bytes_total{${ns}}[${rate}]))`, legend: '{{pod}}' }],
        stack: true,
      },
      {
        title: 'Tokens through the model',
        description: 'Tokens run through the model per second.',
        unit: 'short',
        targets: [{ expr: `sum by (pod) (rate(tunedlens_activation_tokens_total{${ns}}[${rate}]))`, legend: '{{pod}}' }],
        stack: true,
      },
      {
        title: 'Forward pass time',
        description: 'Wall time of one forward pass (one Extract batch).',
        unit: 's',
        targets: [
          { expr: `histogram_quantile(0.5, sum by (le) (rate(tunedlens_activation_forward_seconds_bucket{${ns}}[${rate}])))`, legend: 'p50' },
          { expr: `histogram_quantile(0.95, sum by (le) (rate(tunedlens_activation_forward_seconds_bucket{${ns}}[${rate}])))`, legend: 'p95' },
        ],
      },
      {
        title: 'Forward queue depth',
        description: 'Forward passes running or waiting per pod: what the activation HPA scales on.',
        unit: 'short',
        targets: [{ expr: `tunedlens_activation_queue_depth{${ns}}`, legend: '{{pod}}' }],
        min: 0,
      },
      {
        title: 'Models loaded',
        description: 'Pods that have loaded their model, by model and compute engine.',
        unit: 'short',
        targets: [{ expr: `count by (model, engine) (tunedlens_activation_model_info{${ns}} == 1)`, legend: '{{model}} on {{engine}}' }],
        min: 0,
      },
    ],
  },
  {
    title: 'Lens predictions',
    panels: [
      {
        title: 'Predict and Compare calls by outcome',
        description: 'Calls per second by RPC and outcome (the gRPC status name; ResourceExhausted = refused by admission control).',
        unit: 'reqps',
        targets: [{ expr: `sum by (rpc, outcome) (rate(tunedlens_lens_predictions_total{${ns}}[${rate}]))`, legend: '{{rpc}} {{outcome}}' }],
        stack: true,
      },
      {
        title: 'Lens call latency',
        description: 'Wall time of an admitted Predict or Compare call (tokenize, extract, lens math, stream): median and 95th percentile.',
        unit: 's',
        targets: [
          { expr: `histogram_quantile(0.5, sum by (le, rpc) (rate(tunedlens_lens_prediction_seconds_bucket{${ns}}[${rate}])))`, legend: '{{rpc}} p50' },
          { expr: `histogram_quantile(0.95, sum by (le, rpc) (rate(tunedlens_lens_prediction_seconds_bucket{${ns}}[${rate}])))`, legend: '{{rpc}} p95' },
        ],
      },
      {
        title: 'Admission',
        description: 'Calls computing now (against the admission budget) and calls refused per second.',
        unit: 'short',
        targets: [
          { expr: `sum by (pod) (tunedlens_lens_in_flight{${ns}})`, legend: 'in flight {{pod}}' },
          { expr: `sum by (pod) (rate(tunedlens_lens_rejected_total{${ns}}[${rate}]))`, legend: 'refused/s {{pod}}' },
        ],
        min: 0,
      },
      {
        title: 'Positions streamed',
        description: 'Position frames (one per token of an input) streamed per second, by RPC.',
        unit: 'short',
        targets: [{ expr: `sum by (rpc) (rate(tunedlens_lens_positions_total{${ns}}[${rate}]))`, legend: '{{rpc}}' }],
      },
    ],
  },
  {
    title: 'Evaluation jobs',
    panels: [
      {
        title: 'Evaluation jobs by state',
        description: 'Evaluation jobs known to the evaluation services, by state.',
        unit: 'short',
        targets: [{ expr: `sum by (state) (tunedlens_evaluation_eval_jobs{${ns}})`, legend: '{{state}}' }],
        min: 0,
      },
      {
        title: 'Evaluation tokens/s',
        description: 'Tokens evaluated per second across evaluation jobs.',
        unit: 'short',
        targets: [{ expr: `sum by (pod) (rate(tunedlens_evaluation_tokens_total{${ns}}[${rate}]))`, legend: '{{pod}}' }],
        stack: true,
      },
      {
        title: 'Lens metrics time per batch',
        description: 'Time the evaluation service spends on one batch\'s lens metrics (every layer and lens), the forward pass excluded.',
        unit: 's',
        targets: [
          { expr: `histogram_quantile(0.5, sum by (le) (rate(tunedlens_evaluation_batch_seconds_bucket{${ns}}[${rate}])))`, legend: 'p50' },
          { expr: `histogram_quantile(0.95, sum by (le) (rate(tunedlens_evaluation_batch_seconds_bucket{${ns}}[${rate}])))`, legend: 'p95' },
        ],
      },
    ],
  },
  {
    title: 'gRPC',
    panels: [
      {
        title: 'Calls by method',
        description: 'Completed calls per second, by service and method.',
        unit: 'reqps',
        targets: [{ expr: `sum by (grpc_service, grpc_method) (rate(grpc_server_handled_total{${ns}}[${rate}]))`, legend: '{{grpc_service}}/{{grpc_method}}' }],
      },
      {
        title: 'Errors by code',
        description: 'Calls that did not end OK, by service and status code.',
        unit: 'reqps',
        targets: [{ expr: `sum by (grpc_service, grpc_code) (rate(grpc_server_handled_total{${ns}, grpc_code!="OK"}[${rate}]))`, legend: '{{grpc_service}} {{grpc_code}}' }],
      },
      {
        title: 'Latency p99 by method',
        description: 'Handling time (for streams: until the stream ends), 99th percentile.',
        unit: 's',
        targets: [{ expr: `histogram_quantile(0.99, sum by (le, grpc_service, grpc_method) (rate(grpc_server_handling_seconds_bucket{${ns}}[${rate}])))`, legend: '{{grpc_service}}/{{grpc_method}}' }],
      },
      {
        title: 'Latency p50 by method',
        description: 'Handling time, median.',
        unit: 's',
        targets: [{ expr: `histogram_quantile(0.5, sum by (le, grpc_service, grpc_method) (rate(grpc_server_handling_seconds_bucket{${ns}}[${rate}])))`, legend: '{{grpc_service}}/{{grpc_method}}' }],
      },
      {
        title: 'In-flight calls',
        description: 'Calls being handled now, by method.',
        unit: 'short',
        targets: [{ expr: `sum by (grpc_service, grpc_method) (grpc_server_in_flight_requests{${ns}})`, legend: '{{grpc_service}}/{{grpc_method}}' }],
        min: 0,
      },
      {
        title: 'Stream messages',
        description: 'Messages received and sent per second (hidden-state frames, token chunks, watch updates).',
        unit: 'short',
        targets: [
          { expr: `sum by (grpc_service) (rate(grpc_server_msg_received_total{${ns}}[${rate}]))`, legend: 'received {{grpc_service}}' },
          { expr: `sum by (grpc_service) (rate(grpc_server_msg_sent_total{${ns}}[${rate}]))`, legend: 'sent {{grpc_service}}' },
        ],
      },
    ],
  },
  {
    title: 'Processes',
    panels: [
      {
        title: 'Resident memory',
        description: 'Resident set size of each service process.',
        unit: 'bytes',
        targets: [{ expr: `process_resident_memory_bytes{${ns}, job=~"tokenizer|activation|lens-training|evaluation"}`, legend: '{{pod}}' }],
      },
      {
        title: 'CPU',
        description: 'CPU seconds per second used by each service process.',
        unit: 'short',
        targets: [{ expr: `rate(process_cpu_seconds_total{${ns}, job=~"tokenizer|activation|lens-training|evaluation"}[${rate}])`, legend: '{{pod}}' }],
      },
      {
        title: 'Event loop lag p99',
        description: 'Node.js event-loop delay, 99th percentile: high values delay every call of the process.',
        unit: 's',
        targets: [{ expr: `nodejs_eventloop_lag_p99_seconds{${ns}, job=~"tokenizer|activation|lens-training|evaluation"}`, legend: '{{pod}}' }],
      },
    ],
  },
];

function panel(spec: PanelSpec, id: number, x: number, y: number, w: number): object {
  return {
    id,
    type: 'timeseries',
    title: spec.title,
    description: spec.description,
    datasource: ds,
    gridPos: { h: 8, w, x, y },
    fieldConfig: {
      defaults: {
        unit: spec.unit,
        ...(spec.min !== undefined ? { min: spec.min } : {}),
        custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: spec.stack ? 20 : 0, showPoints: 'never', stacking: { mode: spec.stack ? 'normal' : 'none', group: 'A' } },
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
    targets: spec.targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), datasource: ds, expr: t.expr, legendFormat: t.legend, range: true })),
  };
}

export function buildDashboard(): Record<string, unknown> {
  const panels: object[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    row.panels.forEach((p, i) => {
      const w = p.width ?? 8;
      const perRow = Math.floor(24 / w);
      panels.push(panel(p, id++, (i % perRow) * w, y + Math.floor(i / perRow) * 8, w));
    });
    y += Math.ceil(row.panels.length / 3) * 8;
  }
  return {
    uid: DASHBOARD_UID,
    title: 'Tuned lens',
    description: 'Training loss per layer, throughput, hidden-state streaming and gRPC health of the tuned-lens services. Generated by tools/deploy/src/dashboard.ts.',
    tags: ['tuned-lens', 'grpc', 'training'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    timezone: 'browser',
    links: [],
    annotations: { list: [] },
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1, regex: '', includeAll: false, multi: false },
        {
          name: 'namespace', label: 'Namespace', type: 'query', datasource: ds,
          query: { query: 'label_values(up{job=~"tokenizer|activation|lens-training|evaluation"}, namespace)', refId: 'namespace' },
          definition: 'label_values(up{job=~"tokenizer|activation|lens-training|evaluation"}, namespace)',
          current: {}, hide: 0, refresh: 2, sort: 1, includeAll: false, multi: false, regex: '',
        },
        {
          name: 'training_job', label: 'Training job', type: 'query', datasource: ds,
          query: { query: 'label_values(tunedlens_training_step{namespace="$namespace"}, training_job)', refId: 'training_job' },
          definition: 'label_values(tunedlens_training_step{namespace="$namespace"}, training_job)',
          current: {}, hide: 0, refresh: 2, sort: 1, includeAll: true, allValue: '.*', multi: true, regex: '',
        },
      ],
    },
    panels,
  };
}

export function dashboardJson(): string {
  return JSON.stringify(buildDashboard(), null, 2) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(dashboardPath, dashboardJson());
  console.log(`wrote ${dashboardPath}`);
}

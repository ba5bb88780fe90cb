/** The bench's result model and its markdown rendering (the same content as the JSON file). */
import type { BlasChoice, TorchRun, TorchStatus } from './torch';
import type { MeasureResult } from './measure';
import { fairnessRows, fixed, machineCell, resultsDocument, torchUnavailableNotes } from './markdown';
import type { RunRecord } from './runInfo';
import type { WorkloadId } from './workloads';

export interface Row {
  engine: 'torch' | 'onnx' | 'tfjs';
  /** Shown instead of `engine` (e.g. "torch, stock BLAS"). */
  label?: string;
  /** The row every ratio divides by. */
  reference?: boolean;
  level: 'engine' | 'service';
  status: 'ok' | 'failed' | 'unavailable' | 'skipped';
  tokensPerSecond?: number;
  /** ours / torch reference (tokens/s); 1 for the reference row itself. */
  ratio?: number;
  /** Seconds per batch: median forward call (engine), timed stream / batches (service). */
  secondsPerBatch?: number;
  /** Timed calls (engine) or batches in the timed stream (service). */
  runs?: number;
  note?: string;
  measure?: MeasureResult;
}

export interface Check {
  what: string;
  maxAbsDiff: number;
  tolerance: number;
  pass: boolean;
}

export interface WorkloadResult {
  id: WorkloadId;
  title: string;
  modelDir: string;
  batch: number;
  seq: number;
  hiddenStates: number;
  torchRuns: TorchRun[];
  /** tokens/s every ratio divides by: the faster of the torch runs (the conservative choice). */
  torchReference?: number;
  rows: Row[];
  checks: Check[];
  /** Paired torch/onnx rounds: seconds per side and torch/onnx per round. */
  paired?: { torch: number[]; onnx: number[]; ratios: number[] };
}

export interface Target {
  statement: string;
  evaluated: boolean;
  met?: boolean;
  ratio?: number;
  serviceRatio?: number;
  /** Median over the paired rounds of torch seconds / onnx seconds (robust to drift). */
  pairedMedianRatio?: number;
  /** Why it was not evaluated. */
  reason?: string;
}

export interface BenchResults extends RunRecord<{ torch?: string; torchBlas?: string[] }> {
  settings: {
    threads: number; quick: boolean; repeats: { torch: number; onnx: number; tfjs: number }; serviceBatches: { onnx: number; tfjs: number };
    batch: number; seq: number; seed: number; glibcTunables: string; cacheDir: string; argv: string[]; torchBlas: string;
  };
  torch: TorchStatus;
  torchBlas?: BlasChoice;
  workloads: WorkloadResult[];
  target: Target;
}

/** tokens/s with a thousands separator, e.g. 12,345. */
function tps(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : Math.round(x).toLocaleString('en-US');
}

export function targetLine(t: Target): string {
  if (!t.evaluated) return `Target "${t.statement}": NOT EVALUATED (${t.reason ?? 'no result'})`;
  return `Target "${t.statement}": ${t.met ? 'MET' : 'NOT MET'} — onnx engine ${fixed(t.ratio, 2)}x PyTorch`
    + (t.pairedMedianRatio !== undefined ? ` (median of the paired per-round ratios: ${fixed(t.pairedMedianRatio, 2)}x)` : '')
    + (t.serviceRatio !== undefined ? ` (service level, gRPC F32 transfer included: ${fixed(t.serviceRatio, 2)}x)` : '');
}

export function workloadMarkdown(w: WorkloadResult): string {
  const lines = [
    `## ${w.title}`,
    '',
    `batch ${w.batch} x ${w.seq} tokens, all ${w.hiddenStates} hidden states (no logits), F32 · model: \`${w.modelDir}\``,
    '',
    '| engine | level | tokens/s | ratio vs torch | s / batch | runs | notes |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const r of w.rows) {
    const ratio = r.status !== 'ok' ? '–' : r.reference ? '1.00 (ref)' : r.engine === 'torch' ? fixed(r.ratio, 2) : `**${fixed(r.ratio, 2)}**`;
    const tokens = r.status === 'ok' ? tps(r.tokensPerSecond) : r.status;
    lines.push(`| ${r.label ?? r.engine} | ${r.level} | ${tokens} | ${ratio} | ${r.status === 'ok' ? fixed(r.secondsPerBatch, 3) : '–'} | ${r.runs ?? '–'} | ${r.note ?? ''} |`);
  }
  const stock = w.rows.find((r) => r.engine === 'torch' && !r.reference && r.status === 'ok');
  const onnx = w.rows.find((r) => r.engine === 'onnx' && r.level === 'engine' && r.status === 'ok');
  if (w.checks.length || (stock && onnx)) lines.push('');
  if (stock && onnx) {
    lines.push(`- context: against torch on OpenBLAS's stock kernel choice the onnx engine would be ${fixed(onnx.tokensPerSecond! / stock.tokensPerSecond!, 2)}x; that baseline misses this CPU's AVX-512 GEMM kernels, so it is not the reference`);
  }
  if (w.checks.length) {
    for (const c of w.checks) lines.push(`- check: ${c.what}: max |diff| = ${c.maxAbsDiff.toExponential(2)} (tolerance ${c.tolerance.toExponential(0)}): ${c.pass ? 'PASS' : 'FAIL'}`);
  }
  return lines.join('\n');
}

export function resultsMarkdown(r: BenchResults): string {
  const m = r.machine;
  const s = r.settings;
  return resultsDocument({
    title: `Extraction throughput vs PyTorch — ${r.date}`,
    target: targetLine(r.target),
    settings: [
      ['CPU', machineCell(m)],
      ...fairnessRows(s.threads, r.torchBlas, s.glibcTunables, 'every measuring node process', m),
      ['software', `node ${m.node}, onnxruntime-node ${m.onnxruntime ?? '?'}, torch ${m.torch ?? 'unavailable'}${m.torchBlas?.length ? ` (BLAS: ${m.torchBlas.map((b) => b.split('/').pop()).join(', ')})` : ''}`],
      ['repeats', `torch ${s.repeats.torch}, onnx ${s.repeats.onnx}, tfjs ${s.repeats.tfjs} timed calls after 1 warm-up (median); service streams of ${s.serviceBatches.onnx} (onnx) / ${s.serviceBatches.tfjs} (tfjs) batches after a warm-up batch${s.quick ? '; --quick' : ''}`],
      ['commit', r.gitCommit ?? '?'],
    ],
    sections: [
      ...torchUnavailableNotes(r.torch),
      ...r.workloads.map(workloadMarkdown),
    ],
    reading: 'Reading the table: tokens/s = batch x seq / seconds. Engine level = `ModelRunner.forward` in-process (median of the timed calls);'
      + ' service level = `startActivationServer` on 127.0.0.1 + `ActivationClient.extract` of one stream of batches, wall time to the last'
      + ' batch, including the gRPC transfer of every hidden state in F32. The torch reference and the onnx engine row are measured'
      + ' paired: both loaded in their own processes, single forwards alternated (torch, onnx, onnx, torch, ...), so a change in the'
      + ' machine\'s load hits both. Every other row runs alone in its own process and is divided by that same reference; the drift'
      + ' check (torch again at the end) shows how far the machine moved meanwhile.',
    wallSeconds: r.wallSeconds,
  });
}

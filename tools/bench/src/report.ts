/** The bench's result model and its markdown rendering (the same content as the JSON file). */
import type { BlasChoice, TorchRun, TorchStatus } from './torch';
import type { MeasureResult } from './measure';

export type WorkloadId = 'small-lm' | 'gpt2-small';
export const WORKLOADS: readonly WorkloadId[] = ['small-lm', 'gpt2-small'];

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

export interface BenchResults {
  date: string;
  gitCommit?: string;
  settings: {
    threads: number; quick: boolean; repeats: { torch: number; onnx: number; tfjs: number }; serviceBatches: { onnx: number; tfjs: number };
    batch: number; seq: number; seed: number; glibcTunables: string; cacheDir: string; argv: string[]; torchBlas: string;
  };
  machine: {
    cpuModel: string; cores: number; memGiB: number; kernel: string; node: string; onnxruntime?: string; torch?: string; torchBlas?: string[];
    loadBefore: number[]; loadAfter: number[];
  };
  torch: TorchStatus;
  torchBlas?: BlasChoice;
  workloads: WorkloadResult[];
  target: Target;
  wallSeconds: number;
}

const f = (x: number | undefined, digits: number) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');

/** tokens/s with a thousands separator, e.g. 12,345. */
function tps(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : Math.round(x).toLocaleString('en-US');
}

export function targetLine(t: Target): string {
  if (!t.evaluated) return `Target "${t.statement}": NOT EVALUATED (${t.reason ?? 'no result'})`;
  return `Target "${t.statement}": ${t.met ? 'MET' : 'NOT MET'} — onnx engine ${f(t.ratio, 2)}x PyTorch`
    + (t.pairedMedianRatio !== undefined ? ` (median of the paired per-round ratios: ${f(t.pairedMedianRatio, 2)}x)` : '')
    + (t.serviceRatio !== undefined ? ` (service level, gRPC F32 transfer included: ${f(t.serviceRatio, 2)}x)` : '');
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
    const ratio = r.status !== 'ok' ? '–' : r.reference ? '1.00 (ref)' : r.engine === 'torch' ? f(r.ratio, 2) : `**${f(r.ratio, 2)}**`;
    const tokens = r.status === 'ok' ? tps(r.tokensPerSecond) : r.status;
    lines.push(`| ${r.label ?? r.engine} | ${r.level} | ${tokens} | ${ratio} | ${r.status === 'ok' ? f(r.secondsPerBatch, 3) : '–'} | ${r.runs ?? '–'} | ${r.note ?? ''} |`);
  }
  const stock = w.rows.find((r) => r.engine === 'torch' && !r.reference && r.status === 'ok');
  const onnx = w.rows.find((r) => r.engine === 'onnx' && r.level === 'engine' && r.status === 'ok');
  if (w.checks.length || (stock && onnx)) lines.push('');
  if (stock && onnx) {
    lines.push(`- context: against torch on OpenBLAS's stock kernel choice the onnx engine would be ${f(onnx.tokensPerSecond! / stock.tokensPerSecond!, 2)}x; that baseline misses this CPU's AVX-512 GEMM kernels, so it is not the reference`);
  }
  if (w.checks.length) {
    for (const c of w.checks) lines.push(`- check: ${c.what}: max |diff| = ${c.maxAbsDiff.toExponential(2)} (tolerance ${c.tolerance.toExponential(0)}): ${c.pass ? 'PASS' : 'FAIL'}`);
  }
  return lines.join('\n');
}

function blasLine(b: BlasChoice | undefined): string {
  if (!b) return '–';
  const probes = b.candidates.map((c) => `${c.coretype ? `OPENBLAS_CORETYPE=${c.coretype}` : 'stock'} → ${c.corename} ${c.gflops.toFixed(0)} GFLOP/s`).join(', ');
  return `OpenBLAS ${b.corename} kernels${b.coretype ? ` (OPENBLAS_CORETYPE=${b.coretype}, chosen by measurement)` : ''}; FP32 GEMM probe: ${probes}`;
}

export function resultsMarkdown(r: BenchResults): string {
  const m = r.machine;
  const s = r.settings;
  const out = [
    `# Extraction throughput vs PyTorch — ${r.date}`,
    '',
    `${targetLine(r.target)}`,
    '',
    '| machine / setting | value |',
    '|---|---|',
    `| CPU | ${m.cpuModel}, ${m.cores} cores, ${m.memGiB.toFixed(0)} GiB, Linux ${m.kernel} |`,
    `| threads (both sides) | ${s.threads}: torch.set_num_threads + OMP/OPENBLAS/MKL_NUM_THREADS; TUNED_LENS_ORT_THREADS for onnx; tfjs sizes its wasm pool from the CPU affinity, so it runs under \`taskset\` when threads < cores |`,
    `| torch BLAS | ${blasLine(r.torchBlas)} |`,
    `| malloc | GLIBC_TUNABLES=${s.glibcTunables} for torch and every measuring node process |`,
    `| load average (1/5/15 min) | before ${load(m.loadBefore)}, after ${load(m.loadAfter)} |`,
    `| software | node ${m.node}, onnxruntime-node ${m.onnxruntime ?? '?'}, torch ${m.torch ?? 'unavailable'}${m.torchBlas?.length ? ` (BLAS: ${m.torchBlas.map((b) => b.split('/').pop()).join(', ')})` : ''} |`,
    `| repeats | torch ${s.repeats.torch}, onnx ${s.repeats.onnx}, tfjs ${s.repeats.tfjs} timed calls after 1 warm-up (median); service streams of ${s.serviceBatches.onnx} (onnx) / ${s.serviceBatches.tfjs} (tfjs) batches after a warm-up batch${s.quick ? '; --quick' : ''} |`,
    `| commit | ${r.gitCommit ?? '?'} |`,
    '',
  ];
  if (!r.torch.available) out.push(`**PyTorch unavailable**: ${r.torch.reason}. Ratios are not computed.`, '');
  for (const w of r.workloads) out.push(workloadMarkdown(w), '');
  out.push(
    'Reading the table: tokens/s = batch x seq / seconds. Engine level = `ModelRunner.forward` in-process (median of the timed calls);'
    + ' service level = `startActivationServer` on 127.0.0.1 + `ActivationClient.extract` of one stream of batches, wall time to the last'
    + ' batch, including the gRPC transfer of every hidden state in F32. The torch reference and the onnx engine row are measured'
    + ' paired: both loaded in their own processes, single forwards alternated (torch, onnx, onnx, torch, ...), so a change in the'
    + ' machine\'s load hits both. Every other row runs alone in its own process and is divided by that same reference; the drift'
    + ' check (torch again at the end) shows how far the machine moved meanwhile.',
    '',
    `Total wall time ${(r.wallSeconds / 60).toFixed(1)} min.`,
  );
  return out.join('\n') + '\n';
}

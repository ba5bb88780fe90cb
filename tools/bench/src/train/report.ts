/** The training bench's result model and its markdown (the same content as the JSON file). */
import { median } from '../common';
import { torchSetupNote, type BlasChoice, type TorchInfo, type TorchStatus } from '../torch';
import { fairnessRows, fixed, machineCell, resultsDocument, torchUnavailableNotes } from '../markdown';
import type { RunRecord } from '../runInfo';
import type { WorkloadId } from '../workloads';
import type { WeightComparison } from './common';
import type { TrainDone, VerifyStep } from './worker';
import type { StepProfile } from './ours';

/** torch_train.py's @@done. */
export interface TorchTrainDone extends TorchInfo {
  verify: VerifyStep[];
  times: number[];
  median_seconds: number | null;
  tokens: number;
  tokens_per_second: number | null;
}

export interface TrainRow {
  engine: 'torch' | 'onnx' | 'tfjs';
  status: 'ok' | 'failed' | 'unavailable';
  tokensPerSecond?: number;
  secondsPerStep?: number;
  /** ours / torch in tokens/s: median torch step seconds of the same pairing / median ours. */
  ratio?: number;
  /** Median over the paired rounds of torch seconds / ours seconds. */
  pairedMedianRatio?: number;
  steps?: number;
  note?: string;
  /** Paired rounds: torch and ours seconds per round. */
  paired?: { torch: number[]; ours: number[] };
  done?: TrainDone;
  /** Median time split of the timed steps (engine programs vs host work). */
  breakdown?: Breakdown;
}

export interface Breakdown {
  total: number;
  /** The KL target program (log_softmax of the model's logits), once per micro-batch. */
  target: number;
  /** The lens-step program over all layers (and row slices). */
  lensStep: number;
  lensStepCalls: number;
  /** accumulate() minus the engine calls: slicing, gradient accumulation, checks. */
  hostAccumulate: number;
  /** step(): clip + SGD on the host, weight norms. */
  optimizer: number;
}

export interface Agreement {
  engine: string;
  weights: WeightComparison;
  /** max over verify steps and layers of |loss ours - loss torch| / max(1, |loss torch|) */
  lossRelDiff: number;
  /** max over verify steps of |grad norm ours - torch| / torch */
  gradNormRelDiff: number;
  tolerance: number;
  pass: boolean;
}

export interface TrainWorkloadResult {
  id: WorkloadId;
  title: string;
  modelDir: string;
  batch: number;
  seq: number;
  tokens: number;
  numLayers: number;
  maxRowsPerCall: number;
  /** Hidden states came from ModelRunner.forward with this engine, in this many seconds. */
  prepare?: { engine: string; forwardSeconds: number; dataBytes: number };
  torch?: TorchTrainDone;
  rows: TrainRow[];
  checks: Agreement[];
  /** onnxruntime's per-op profile of the lens programs (markdown), when run. */
  opProfile?: string;
  error?: string;
}

export interface TrainTarget {
  statement: string;
  /** Per workload: the faster engine and its ratio. */
  perWorkload: { id: WorkloadId; engine?: string; ratio?: number; met?: boolean }[];
  evaluated: boolean;
  met?: boolean;
  reason?: string;
}

export interface TrainResults extends RunRecord<{ torch?: string }> {
  settings: {
    threads: number; quick: boolean; rounds: { onnx: number; tfjs: number; tfjsGpt2: number }; verifySteps: number; numSteps: number;
    seed: number; glibcTunables: string; cacheDir: string; argv: string[]; torchBlas: string; recipe: string;
  };
  torch: TorchStatus;
  torchBlas?: BlasChoice;
  workloads: TrainWorkloadResult[];
  target: TrainTarget;
}

const tps = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));

export function medianBreakdown(profiles: StepProfile[]): Breakdown | undefined {
  if (!profiles.length) return undefined;
  const pick = (fn: (p: StepProfile) => number) => median(profiles.map(fn));
  const prog = (p: StepProfile, prefix: string) => Object.entries(p.engine.programs).filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v.seconds, 0);
  return {
    total: pick((p) => p.total),
    target: pick((p) => prog(p, 'lens-kl-target')),
    lensStep: pick((p) => prog(p, 'lens-step')),
    lensStepCalls: pick((p) => Object.entries(p.engine.programs).filter(([k]) => k.startsWith('lens-step')).reduce((a, [, v]) => a + v.calls, 0)),
    hostAccumulate: pick((p) => p.accumulate - p.engine.seconds),
    optimizer: pick((p) => p.optimizer),
  };
}

export function targetLine(t: TrainTarget): string {
  if (!t.evaluated) return `target "${t.statement}": NOT EVALUATED (${t.reason})`;
  const parts = t.perWorkload.map((w) => `${w.id}: ${w.engine ?? '–'} ${fixed(w.ratio, 2)}x${w.met === undefined ? '' : w.met ? ' (met)' : ' (not met)'}`);
  return `target "${t.statement}": ${t.met ? 'MET' : 'NOT MET'} (${parts.join('; ')})`;
}

export function workloadMarkdown(w: TrainWorkloadResult): string {
  const lines = [
    `## ${w.title}`,
    '',
    `micro-batch ${w.batch} x ${w.seq} = ${w.tokens} tokens of real hidden states (ModelRunner.forward${w.prepare ? `, ${w.prepare.engine}` : ''}), ${w.numLayers} translators,`
      + ` KL loss; one full step = target + every layer's translator/unembedding/loss/gradients + clip + SGD Nesterov; lens-step rows per call ≤ ${w.maxRowsPerCall} · model: \`${w.modelDir}\``,
    '',
  ];
  if (w.error) lines.push(`**failed**: ${w.error}`, '');
  lines.push(
    '| engine | tokens/s | ratio vs torch | s / step | steps | notes |',
    '|---|---:|---:|---:|---:|---|',
  );
  // Each engine's row follows the torch steps it was paired with, so the two adjacent
  // tokens/s give its ratio; the torch row over all steps shows only when nothing was paired.
  const paired = w.rows.some((r) => r.paired);
  const torchNote = w.torch ? `${torchSetupNote(w.torch)}; autograd, one backward per layer` : '';
  for (const r of w.rows) {
    if (r.engine === 'torch' && paired && r.status === 'ok') continue;
    if (r.paired) {
      const m = median(r.paired.torch);
      lines.push(`| torch (paired with ${r.engine}) | ${tps(w.tokens / m)} | 1.00 (ref) | ${fixed(m, 3)} | ${r.paired.torch.length} | ${torchNote}; the steps alternated with ${r.engine}'s |`);
    }
    const ratio = r.status !== 'ok' ? '–' : r.engine === 'torch' ? '1.00 (ref)' : `**${fixed(r.ratio, 2)}**`;
    const note = r.paired ? (r.note ?? '').replace(/; paired torch median [^,;]*s\/step, /, '; ') : r.note ?? '';
    lines.push(`| ${r.engine} | ${r.status === 'ok' ? tps(r.tokensPerSecond) : r.status} | ${ratio} | ${r.status === 'ok' ? fixed(r.secondsPerStep, 3) : '–'} | ${r.steps ?? '–'} | ${note} |`);
  }
  const withBreakdown = w.rows.filter((r) => r.breakdown);
  if (withBreakdown.length) {
    lines.push('', '| our step, median seconds | total | KL target program | lens-step program (calls) | host work in accumulate | optimiser step (host) |', '|---|---:|---:|---:|---:|---:|');
    for (const r of withBreakdown) {
      const b = r.breakdown!;
      const pct = (x: number) => `${fixed(x, 3)} (${fixed((100 * x) / b.total, 0)}%)`;
      lines.push(`| ${r.engine} | ${fixed(b.total, 3)} | ${pct(b.target)} | ${pct(b.lensStep)} (${b.lensStepCalls}) | ${pct(b.hostAccumulate)} | ${pct(b.optimizer)} |`);
    }
  }
  if (w.checks.length) lines.push('');
  for (const c of w.checks) {
    lines.push(`- check: ${c.engine} vs torch after the verify steps from zero init: translator weights max |diff| ${c.weights.maxAbsDiff.toExponential(2)}`
      + ` (max |w| ${c.weights.maxAbsWeight.toExponential(2)}, relative ${c.weights.relative.toExponential(2)}, tolerance ${c.tolerance.toExponential(0)});`
      + ` per-layer losses rel. diff ≤ ${c.lossRelDiff.toExponential(1)}; grad norm rel. diff ≤ ${c.gradNormRelDiff.toExponential(1)}: ${c.pass ? 'PASS' : 'FAIL'}`);
  }
  if (w.opProfile) lines.push('', `Inside the onnx engine's programs (onnxruntime profile, per op type after its graph fusion, median per node):`, '', w.opProfile.replace(/^### .*\n/, '').trim());
  return lines.join('\n');
}

export function resultsMarkdown(r: TrainResults): string {
  const m = r.machine;
  const s = r.settings;
  return resultsDocument({
    title: `Lens-training throughput vs PyTorch — ${r.date}`,
    target: targetLine(r.target),
    settings: [
      ['CPU', machineCell(m)],
      ['recipe', s.recipe],
      ...fairnessRows(s.threads, r.torchBlas, s.glibcTunables, 'every node worker', m),
      ['software', `node ${m.node}, onnxruntime-node ${m.onnxruntime ?? '?'}, torch ${m.torch ?? 'unavailable'}`],
      ['steps', `${s.verifySteps} verify steps from zero init (also the warm-up), then paired timed steps: ${s.rounds.onnx} rounds with onnx, ${s.rounds.tfjs} with tfjs (${s.rounds.tfjsGpt2} on gpt2-small) (median)${s.quick ? '; --quick' : ''}`],
      ['commit', r.gitCommit ?? '?'],
    ],
    sections: [
      ...torchUnavailableNotes(r.torch),
      ...r.workloads.map(workloadMarkdown),
    ],
    reading: 'Reading the table: tokens/s = micro-batch tokens / seconds per full step (median of the timed steps). Each engine is timed'
      + ' paired with the same live PyTorch process: single full steps alternate (torch, ours, ours, torch, ...), so a change in the'
      + ' machine\'s load hits both; each engine\'s row follows the torch steps it alternated with, and "ratio" = median torch step /'
      + ' median our step over those rounds ("per-round" lists torch/ours of each round). The verify steps (from zero init, on both'
      + ' sides) are the warm-up and the agreement check.',
    wallSeconds: r.wallSeconds,
  });
}

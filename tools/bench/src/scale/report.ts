/** The scale bench's result model and its markdown rendering (the same content as the JSON file). */
import type { LlamaShape } from './llamaRandom';
import type { MonitoredRun } from './monitor';
import { fixed, loadCell, machineCell, resultsDocument } from '../markdown';
import type { RunRecord } from '../runInfo';

export interface Side {
  side: 'ours' | 'transformers-f32' | 'transformers-bf16';
  runs: Array<Omit<MonitoredRun, 'logFile'> & { logFile: string; phases?: Record<string, unknown>; forwardMs?: number; load1?: number }>;
  okRuns: number;
  medianWallSeconds?: number;
  maxPeakRssBytes?: number;
  maxWriteBytesAtLoad?: number;
  maxWriteBytesExceptOutput?: number;
  error?: string;
  /** Not run, and why. */
  skipped?: string;
  /** A variant of the side (e.g. with the memory pre-check off), shown after its label. */
  variant?: string;
}

export interface Comparison {
  what: string;
  /** Pass/fail tolerance on the golden metric max |d| / (1 + |ref|); undefined: informative. */
  tolerance?: number;
  tensors: Array<{ name: string; maxAbsDiff: number; maxAbsRef: number; relToMax: number; scaled: number }>;
  worstScaled: number;
  worstRelToMax: number;
  logitsRelToMax?: number;
  pass?: boolean;
}

export interface ThroughputSide {
  secondsPerBatch: number; tokensPerSecond: number; times: number[]; loadSeconds?: number; version: string; rssMiB?: number;
  /** GFLOP/s of the weight GEMMs implied by the median time. */
  gflops?: number;
}

export interface Throughput {
  batch: number;
  seq: number;
  rounds: number;
  ours?: ThroughputSide;
  theirs?: ThroughputSide;
  /** ours tokens/s / transformers tokens/s (medians). */
  ratio?: number;
  /** Per round: transformers seconds / our seconds. */
  perRound: number[];
  gemmFlopsPerToken?: number;
  /** torch's FP32 GEMM probe (python/hf_extract.py --gemm-probe), with oneMKL's code path. */
  torchGemm?: Record<string, unknown>;
  error?: string;
}

export interface Target { statement: string; evaluated: boolean; met?: boolean; detail?: string; reason?: string }

export interface ModelResult {
  id: '1b' | '7b';
  shape: LlamaShape;
  params: number;
  modelDir: string;
  shards?: string[];
  checkpointBytes: number;
  rssBoundBytes: number;
  generatedSeconds?: number;
  twin?: { dir: string; checkpointBytes: number; ours: unknown; theirs: unknown };
  sides: Side[];
  predict?: unknown;
  /** predict again with the activation service's memory pre-check off, when it refused the load. */
  predictCheckOff?: unknown;
  throughput?: Throughput;
  comparisons: Comparison[];
  /** Files our extract opened for writing (strace), when it wrote anything at load. */
  writtenFiles?: { files: string[]; error?: string };
  targets: Target[];
  notes: string[];
}

export interface ScaleResults extends RunRecord<{ torch?: string; transformers?: string }> {
  /** The commit at the start of the run (gitCommit is at its end; they differ when someone committed meanwhile). */
  gitCommitAtStart?: string;
  settings: { threads: number; repeats: number; seed: number; only?: string; glibcTunables: string; cacheDir: string; python: string; argv: string[]; keptIn?: string };
  models: ModelResult[];
}

const gib = (b: number | undefined) => (b === undefined || !Number.isFinite(b) ? '–' : (b / 2 ** 30).toFixed(2));
const bytes = (b: number | undefined) => (b === undefined ? '–' : b === 0 ? '0' : b < 2 ** 20 ? `${b} B` : b < 2 ** 30 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${gib(b)} GiB`);

/** A table cell's error: the memory pre-check's refusal, or the first 200 characters. */
function cellError(e: string | undefined): string {
  const m = /(needs about [\d.]+ GiB to load).*?(but this process may use [\d.]+ GiB)/.exec(e ?? '');
  if (m) return `refused by the memory pre-check: ${m[1]} ${m[2]}`;
  const t = (e ?? '?').replace(/\|/g, '/');
  return t.length > 200 ? `${t.slice(0, 197)}...` : t;
}

export function targetLine(t: Target): string {
  return `${t.evaluated ? (t.met ? '**MET**' : '**NOT MET**') : 'NOT EVALUATED'} — ${t.statement}${t.detail ? `: ${t.detail}` : t.reason ? `: ${t.reason}` : ''}`;
}

const sideLabel: Record<Side['side'], string> = {
  ours: 'ours: `tuned-lens extract --engine onnx`',
  'transformers-f32': 'transformers, `dtype=torch.float32`',
  'transformers-bf16': 'transformers, `dtype=torch.bfloat16` (reference)',
};

export function modelMarkdown(m: ModelResult): string {
  const s = m.shape;
  const lines = [
    `## ${m.id === '1b' ? 'TinyLlama-1.1B shape' : 'Llama-2-7B shape'} (${s.id}: ${(m.params / 1e9).toFixed(2)} B params, BF16, ${gib(m.checkpointBytes)} GiB${m.shards && m.shards.length > 1 ? ` in ${m.shards.length} shards` : ', one file'})`,
    '',
    `hidden ${s.hidden}, intermediate ${s.intermediate}, ${s.layers} layers, ${s.heads} heads / ${s.kvHeads} kv heads, vocab ${s.vocab}, untied head · RSS bound 1.2 x ${gib(m.checkpointBytes)} + 1.5 = **${gib(m.rssBoundBytes)} GiB** · \`${m.modelDir}\`${m.generatedSeconds !== undefined ? ` (generated in this run, ${m.generatedSeconds.toFixed(0)} s)` : ''}`,
    '',
    '| side | cold start, s (median) | runs | peak RSS, GiB (max) | written at load | written besides the output | forward (in the cold run), s | throughput 4 x 256, tokens/s | ratio |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const side of m.sides) {
    if (side.skipped) {
      lines.push(`| ${sideLabel[side.side]} | not run: ${side.skipped} | | | | | | | |`);
      continue;
    }
    const fw = side.runs.filter((r) => r.ok).map((r) => (r.forwardMs !== undefined ? r.forwardMs / 1000 : (r.phases?.forward as number | undefined))).filter((x): x is number => x !== undefined);
    const tp = side.side === 'ours' ? m.throughput?.ours : side.side === 'transformers-f32' ? m.throughput?.theirs : undefined;
    const ratio = side.side === 'ours' && m.throughput?.ratio ? `**${m.throughput.ratio.toFixed(2)}x**` : side.side === 'transformers-f32' && tp ? '1.00 (ref)' : '';
    const wall = side.okRuns ? `${fixed(side.medianWallSeconds, 1)}${side.runs.length > 1 ? ` (${side.runs.filter((r) => r.ok).map((r) => r.wallSeconds.toFixed(1)).join(', ')})` : ''}` : `FAILED: ${cellError(side.error)}`;
    lines.push(`| ${sideLabel[side.side]}${side.variant ? `, ${side.variant}` : ''} | ${wall} | ${side.okRuns}/${side.runs.length} | ${gib(side.maxPeakRssBytes)} | ${bytes(side.maxWriteBytesAtLoad)} | ${bytes(side.maxWriteBytesExceptOutput)} | ${fw.length ? fw.map((x) => x.toFixed(2)).join(', ') : '–'} | ${tp ? Math.round(tp.tokensPerSecond).toLocaleString('en-US') : ''} | ${ratio} |`);
  }
  for (const [pr, variant] of [[m.predict, ''], [m.predictCheckOff, ', TUNED_LENS_MEMORY_LIMIT_BYTES=max (memory pre-check off)']] as Array<[MonitoredRun | undefined, string]>) {
    if (pr) lines.push(`| ours: \`tuned-lens predict --text\`${variant} (writes no file: its write columns are the whole run) | ${pr.ok ? fixed(pr.wallSeconds, 1) : `FAILED: ${cellError(pr.error)}`} | ${pr.ok ? 1 : 0}/1 | ${gib(pr.peakRssBytes)} | ${bytes(pr.writeBytesAtLoad)} | ${bytes(pr.writeBytesExceptOutput)} | | | |`);
  }
  lines.push('');
  if (m.throughput?.error) lines.push(`- throughput: FAILED: ${m.throughput.error}`);
  else if (m.throughput?.ours && m.throughput.theirs) {
    const t = m.throughput;
    lines.push(`- throughput: paired, ${t.rounds} alternating rounds of one forward (batch ${t.batch} x ${t.seq}) each after a warm-up; s/batch ours ${t.ours!.times.map((x) => x.toFixed(2)).join(', ')} · transformers ${t.theirs!.times.map((x) => x.toFixed(2)).join(', ')}; per-round ratios ${t.perRound.map((x) => x.toFixed(2)).join(', ')}; load + warm-up: ours ${fixed(t.ours!.loadSeconds, 1)} s (${t.ours!.version}), transformers ${fixed(t.theirs!.loadSeconds, 1)} s load (${t.theirs!.version})`);
    if (t.ours!.gflops !== undefined) {
      const g = t.torchGemm;
      lines.push(`- where the ratio comes from: the forwards run the weight GEMMs at ${fixed(t.ours!.gflops, 0)} GFLOP/s (ours) and ${fixed(t.theirs!.gflops, 0)} GFLOP/s (transformers)${g ? `; torch's own FP32 GEMM ${JSON.stringify(g.shape)} on this CPU: ${fixed(g.gflops as number, 0)} GFLOP/s, oneMKL code path "${g.mklCodePath ?? '?'}" (ATen capability ${g.capability ?? '?'})` : ''}`);
    }
  }
  for (const c of m.comparisons) {
    const tens = c.tensors.map((t) => `${t.name.replace('hidden_states.', 'h')} ${t.maxAbsDiff.toExponential(1)}`);
    const shown = tens.length > 8 ? [...tens.slice(0, 3), '...', ...tens.slice(-4)] : tens;
    lines.push(`- ${c.what}: worst max |diff| / max |ref| = ${c.worstRelToMax.toExponential(2)}${c.logitsRelToMax !== undefined ? `, logits ${c.logitsRelToMax.toExponential(2)}` : ''}; golden metric max |d| / (1 + |ref|) = ${c.worstScaled.toExponential(2)}${c.tolerance !== undefined ? ` (tolerance ${c.tolerance}): **${c.pass ? 'PASS' : 'FAIL'}**` : ''}; max |diff| per tensor: ${shown.join(', ')}`);
  }
  if (m.writtenFiles) lines.push(`- files our extract opens for writing besides its output (strace, one extra run): ${m.writtenFiles.error ?? (m.writtenFiles.files.map((x) => `\`${x}\``).join(', ') || 'none')}`);
  for (const side of m.sides.filter((x) => x.side === 'ours')) {
    const sp = side.runs.find((r) => r.ok && r.smapsPeak)?.smapsPeak;
    if (sp) lines.push(`- ours${side.variant ? ` (${side.variant})` : ''}, RSS at its largest 1 s smaps sample (${fixed(sp.atSeconds, 0)} s): ${gib(sp.rssBytes)} GiB, of which the checkpoint files ${gib(sp.watchedRssBytes)} GiB in ${sp.watchedMaps} mappings (checkpoint ${gib(m.checkpointBytes)} GiB; Pss of those mappings ${gib(sp.watchedPssBytes)} GiB); process Pss ${gib(sp.pssBytes)} GiB${sp.watchedRssBytes > 1.1 * m.checkpointBytes ? ' — the checkpoint pages are mapped more than once, and each mapping counts in RSS' : ''}`);
  }
  for (const [pr, what] of [[m.predict, 'predict'], [m.predictCheckOff, 'predict (memory pre-check off)']] as Array<[MonitoredRun | undefined, string]>) {
    const sp = pr?.ok ? pr.smapsPeak : undefined;
    if (sp) lines.push(`- ${what} at its largest 1 s smaps sample: Rss ${gib(sp.rssBytes)} GiB, checkpoint files ${gib(sp.watchedRssBytes)} GiB in ${sp.watchedMaps} mappings (Pss ${gib(sp.watchedPssBytes)}), process Pss ${gib(sp.pssBytes)} GiB`);
  }
  for (const n of m.notes) lines.push(`- ${n}`);
  lines.push('', ...m.targets.map((t) => `- ${targetLine(t)}`));
  return lines.join('\n');
}

export function scaleMarkdown(r: ScaleResults): string {
  const m = r.machine, s = r.settings;
  return resultsDocument({
    title: `Scale: BF16 llama checkpoints, ours vs transformers — ${r.date}`,
    settings: [
      ['CPU', machineCell(m)],
      ['threads (both sides)', `${s.threads}: TUNED_LENS_ORT_THREADS for ours; torch.set_num_threads + OMP/MKL_NUM_THREADS for transformers`],
      ['malloc', `GLIBC_TUNABLES=${s.glibcTunables} for every measured process`],
      ['software', `node ${m.node}, onnxruntime-node ${m.onnxruntime ?? '?'}; transformers ${m.transformers ?? '?'}, torch ${m.torch ?? '?'} (${s.python})`],
      ['load average (1/5/15 min)', loadCell(m)],
      ['commit', r.gitCommitAtStart && r.gitCommitAtStart !== r.gitCommit ? `${r.gitCommitAtStart} at the start, ${r.gitCommit ?? '?'} at the end` : r.gitCommit ?? '?'],
    ],
    sections: r.models.map(modelMarkdown),
    reading: 'Cold start: wall time from spawning the process to its exit, the hidden states of 64 tokens (every layer, F32) and the logits'
      + ' written to a safetensors file; each run a fresh process, sides alternating, checkpoint files in the page cache. Peak RSS: the'
      + ' kernel\'s max RSS of the process (`/usr/bin/time %M`; file-backed pages of a mapped checkpoint count). Written at load:'
      + ' /proc/<pid>/io write_bytes polled every 100 ms, its last value before the output file appeared; "besides the output": the'
      + ' last value minus the output\'s size. Throughput: both sides loaded in live processes, one forward of 4 x 256 tokens each'
      + ' in turn (ours `ModelRunner.forward` on the onnx engine; transformers `model.model(ids, output_hidden_states=True)` in float32).',
    wallSeconds: r.wallSeconds,
  });
}

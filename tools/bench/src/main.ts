/**
 * Extraction throughput benchmark: our engines (onnx, tfjs), in-process and behind the
 * activation service, against a PyTorch forward measured in the same run on this machine.
 *
 *   npm run bench -- [--threads 1|2] [--quick] [--only small-lm|gpt2-small] [--repeats N] ...
 *
 * Why ratios measured in the same run: the machine is a shared 2-core VM whose load
 * changes by the minute, so absolute tokens/s from another day (or the toolchain notes)
 * say little. Timing PyTorch before and after our engines, with the same threads, the same
 * batch, the same weights file and the same malloc settings, makes "ours / torch" the
 * number that means something. See ../README.md for the method and the flags.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModelConfig } from '@tuned-lens/models';
import { benchRoot, HUGETLB, maxAbsDiff, measureScript, median, readF32, shortError, systemPython, type EngineKind } from './common';
import { runJob, serveJob } from './children';
import { CommandLine } from './cli';
import { pairedRounds, ServedProcess, type PairedTimes } from './paired';
import { randomTokenIds } from './prng';
import { runTorch, setUpTorch, torchArgs, torchEnv, torchSetupNote, type BlasChoice, type TorchRun, type TorchStatus } from './torch';
import type { Job, MeasureResult } from './measure';
import { resultsMarkdown, targetLine, workloadMarkdown, type BenchResults, type Row, type Target, type WorkloadResult } from './report';
import { BenchRun, relOrAbs, saveResults } from './runInfo';
import { cpuPin } from './pinning';
import { defaultCacheDir, forEachWorkload, workloadModelDir, type WorkloadId } from './workloads';

const USAGE = `usage: npm run bench -- [options]

  --threads N         threads for both sides (default 1; 2 uses both cores of this VM)
  --quick             fewer repeats (torch/onnx 2, tfjs 1), shorter service streams,
                      one torch run per workload, no tfjs service run on gpt2-small
  --only W            one workload: small-lm | gpt2-small
  --engines LIST      our engines to run (default onnx,tfjs)
  --repeats N         timed calls for torch and onnx (default 5; quick 2)
  --tfjs-repeats N    timed calls for tfjs (default 2; quick 1): it is ~6x slower than torch
  --batches N         batches in each timed service stream (default 4 onnx / 2 tfjs; quick 2 / 1)
  --batch B --seq T   batch shape (default 8 x 256)
  --seed N            seed of the token ids and the random GPT-2 weights (default 1234)
  --cache-dir DIR     where the random GPT-2-small folder is kept
                      (default $TUNED_LENS_BENCH_DIR or /tmp/tuned-lens-bench)
  --out-dir DIR       results folder (default tools/bench/results)
  --torch-blas M      OpenBLAS kernels for torch: auto (default: measure the stock choice and
                      the AVX2/AVX-512 families, keep the fastest), stock, or an
                      OPENBLAS_CORETYPE value such as SkylakeX
  --timeout-min N     give up on one measurement after N minutes (default 8)
  --no-apt            do not apt-get install python3-torch / libopenblas0-pthread when missing
  --help`;
const commandLine = new CommandLine('bench', USAGE);

/** Max |diff| accepted between torch's and our last hidden state on the trained small-lm. */
const SMALL_LM_TOLERANCE = 1e-4;
/** On random GPT-2-small weights (bigger sums, 12 layers) the agreement is informative only. */
const GPT2_TOLERANCE = 1e-3;
const TARGET = 'onnx engine ≥ 2x PyTorch on the GPT-2-small shape';

interface Options {
  threads: number; quick: boolean; only?: WorkloadId; engines: EngineKind[];
  repeats: { torch: number; onnx: number; tfjs: number }; batches: { onnx: number; tfjs: number };
  batch: number; seq: number; seed: number; cacheDir: string; outDir: string; apt: boolean; torchBlas: string; timeoutMs: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      threads: { type: 'string', default: '1' }, quick: { type: 'boolean', default: false }, only: { type: 'string' },
      engines: { type: 'string', default: 'onnx,tfjs' }, repeats: { type: 'string' }, 'tfjs-repeats': { type: 'string' },
      batches: { type: 'string' }, batch: { type: 'string', default: '8' }, seq: { type: 'string', default: '256' },
      seed: { type: 'string', default: '1234' }, 'cache-dir': { type: 'string' }, 'out-dir': { type: 'string' },
      'no-apt': { type: 'boolean', default: false }, 'torch-blas': { type: 'string', default: 'auto' },
      'timeout-min': { type: 'string', default: '8' }, help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) commandLine.help();
  const quick = values.quick!;
  const repeats = commandLine.int('repeats', values.repeats) ?? (quick ? 2 : 5);
  const batches = commandLine.int('batches', values.batches);
  return {
    threads: commandLine.int('threads', values.threads!), quick, only: commandLine.workload(values.only), engines: commandLine.engines(values.engines!),
    repeats: { torch: repeats, onnx: repeats, tfjs: commandLine.int('tfjs-repeats', values['tfjs-repeats']) ?? (quick ? 1 : 2) },
    batches: { onnx: batches ?? (quick ? 2 : 4), tfjs: batches ?? (quick ? 1 : 2) },
    batch: commandLine.int('batch', values.batch!), seq: commandLine.int('seq', values.seq!), seed: commandLine.int('seed', values.seed!, 0),
    cacheDir: values['cache-dir'] ?? defaultCacheDir(),
    outDir: values['out-dir'] ?? join(benchRoot, 'results'),
    apt: !values['no-apt'],
    torchBlas: values['torch-blas']!,
    timeoutMs: commandLine.int('timeout-min', values['timeout-min']!) * 60_000,
  };
}

const say = (line = '') => console.log(line);

/**
 * One measurement in a fresh node process (measure.ts, see there for why), its progress
 * streamed; a measurement that hangs is stopped after --timeout-min.
 */
function measure(job: Job, threads: number, timeoutMs: number): Promise<MeasureResult> {
  return runJob<MeasureResult>(measureScript, job, { engine: job.engine, threads, timeoutMs, name: 'measurement process' });
}

/** "onnxruntime, 1 thread(s)" / "tfjs-wasm: SIMD, 1 thread": the engine's name and thread count. */
function engineNote(m: MeasureResult): string {
  const threads = m.engineThreads ? `, ${m.engineThreads} thread(s)` : '';
  if (!m.engineDetail) return `${m.engine}${threads}`;
  return m.engineDetail.startsWith(m.engine) ? m.engineDetail : `${m.engine}: ${m.engineDetail}`;
}

function pinNote(engine: EngineKind, threads: number): string {
  const pin = cpuPin(engine, threads);
  return pin ? ` (taskset -c ${pin})` : '';
}

async function runWorkload(id: WorkloadId, o: Options, torch: TorchStatus, blas: BlasChoice | undefined, tmp: string): Promise<WorkloadResult> {
  const modelDir = workloadModelDir(id, o.cacheDir, o.seed, (l) => say(`  ${l}`));
  const cfg = loadModelConfig(join(modelDir, 'config.json'));
  const L = cfg.numLayers;
  const title = id === 'small-lm'
    ? `small-lm (trained fixture: ${L} layers, d ${cfg.dModel}, vocab ${cfg.vocabSize}, ctx ${cfg.contextLength}, F16 weights)`
    : `gpt2-small shape (random weights: ${L} layers, d ${cfg.dModel}, ${cfg.numHeads} heads, vocab ${cfg.vocabSize}, n_positions ${cfg.contextLength}, F32)`;
  say(`\n=== ${title}`);
  const idsFile = join(tmp, `${id}-ids.i32`);
  const ids = randomTokenIds(cfg.vocabSize, o.batch, o.seq, o.seed);
  writeFileSync(idsFile, new Uint8Array(ids.buffer));
  const w: WorkloadResult = { id, title, modelDir: relOrAbs(modelDir), batch: o.batch, seq: o.seq, hiddenStates: L + 1, torchRuns: [], rows: [], checks: [] };
  const dumps = new Map<string, string>();
  const tokens = o.batch * o.seq;
  const common = { modelDir, idsFile, batch: o.batch, seq: o.seq, threads: o.threads };
  const torchDump = join(tmp, `${id}-torch-last.f32`);
  let reference: { run: TorchRun; how: string } | undefined;
  let torchFailure: string | undefined;

  // 1. The reference and the headline row: torch and the onnx engine, paired.
  if (torch.available && o.engines.includes('onnx')) {
    say(`  paired: torch (OpenBLAS ${blas?.corename ?? '?'} kernels) and the onnx engine, ${o.repeats.onnx} alternating rounds, ${o.threads} thread(s) ...`);
    try {
      const p = await pairedTorchOnnx(common, o, blas, torchDump, join(tmp, `${id}-onnx-last.f32`), join(tmp, 'result.json'));
      reference = { run: p.torch, how: `paired with the onnx engine (${p.times.ratios.length} alternating rounds; per-round ratios ${p.times.ratios.map((r) => r.toFixed(2)).join(', ')})` };
      dumps.set('torch', torchDump).set('onnx', join(tmp, `${id}-onnx-last.f32`));
      w.paired = { torch: p.times.a, onnx: p.times.b, ratios: p.times.ratios };
      w.rows.push(engineRow('onnx', p.onnx, o, `paired with torch; per-round torch/onnx time ratio median ${median(p.times.ratios).toFixed(2)}`));
    } catch (err) {
      say(`    paired run failed: ${shortError(err)}; falling back to separate runs`);
    }
  }
  if (torch.available && !reference) {
    say(`  torch: ${o.repeats.torch} timed forward(s), ${o.threads} thread(s), OpenBLAS ${blas?.corename ?? '?'} kernels ...`);
    try {
      const r = runTorch({ ...common, repeats: o.repeats.torch, dumpLast: torchDump, coretype: blas?.coretype });
      if (r.hidden_states !== L + 1) throw new Error(`torch returned ${r.hidden_states} hidden states, expected ${L + 1}`);
      reference = { run: r, how: 'measured alone, before our engines' };
      dumps.set('torch', torchDump);
      say(`    median ${r.median_seconds.toFixed(3)} s = ${Math.round(r.tokens_per_second)} tokens/s (runs ${r.times.map((t) => t.toFixed(3)).join(', ')})`);
    } catch (err) {
      torchFailure = shortError(err);
      say(`    torch failed: ${torchFailure}`);
    }
  }
  if (reference) w.torchRuns.push(reference.run);

  // 2. Everything else, one measurement at a time.
  for (const engine of o.engines) {
    if (!(engine === 'onnx' && w.rows.some((r) => r.engine === 'onnx'))) {
      say(`  ${engine} engine: ModelRunner.forward in-process ...`);
      const dumpLast = join(tmp, `${id}-${engine}-last.f32`);
      try {
        const m = await measure({ kind: 'engine', engine, ...common, warmup: 1, repeats: o.repeats[engine], dumpLast, resultFile: join(tmp, 'result.json') }, o.threads, o.timeoutMs);
        dumps.set(engine, dumpLast);
        w.rows.push(engineRow(engine, m, o));
      } catch (err) {
        say(`    failed: ${shortError(err)}`);
        w.rows.push({ engine, level: 'engine', status: engineMissing(err) ? 'unavailable' : 'failed', note: shortError(err) });
      }
    }
    if (o.quick && engine === 'tfjs' && id === 'gpt2-small') {
      w.rows.push({ engine, level: 'service', status: 'skipped', note: '--quick' });
      continue;
    }
    if (w.rows.at(-1)?.engine === engine && w.rows.at(-1)?.status === 'unavailable') {
      w.rows.push({ engine, level: 'service', status: 'unavailable', note: 'engine unavailable (see above)' });
      continue;
    }
    const batches = o.batches[engine];
    say(`  ${engine} service: activation service on loopback + ActivationClient.extract ...`);
    try {
      const m = await measure({ kind: 'service', engine, ...common, vocabSize: cfg.vocabSize, batches, seed: o.seed, resultFile: join(tmp, 'result.json') }, o.threads, o.timeoutMs);
      const fwd = m.forwardSeconds.reduce((a, b) => a + b, 0) / m.forwardSeconds.length;
      w.rows.push({
        engine, level: 'service', status: 'ok', tokensPerSecond: m.tokensPerSecond, secondsPerBatch: m.medianSeconds / batches, runs: batches, measure: m,
        note: `${m.engine}${pinNote(engine, o.threads)}; server forward ${fwd.toFixed(3)} s/batch; ${((m.bytesReceived ?? 0) / batches / 2 ** 20).toFixed(0)} MiB F32 per batch over gRPC`,
      });
    } catch (err) {
      say(`    failed: ${shortError(err)}`);
      w.rows.push({ engine, level: 'service', status: 'failed', note: shortError(err) });
    }
  }

  // 3. torch again at the end (full runs): how much the machine drifted while the
  //    unpaired rows ran. Informative only; the reference stays the paired run.
  let drift: string | undefined;
  if (reference && !o.quick) {
    say(`  torch again (drift check): ${o.repeats.torch} timed forward(s) ...`);
    try {
      const r = runTorch({ ...common, repeats: o.repeats.torch, coretype: blas?.coretype });
      w.torchRuns.push(r);
      const change = r.tokens_per_second / reference.run.tokens_per_second - 1;
      drift = `${Math.round(r.tokens_per_second)} tokens/s at the end (${change >= 0 ? '+' : ''}${(change * 100).toFixed(0)}%)`;
      say(`    median ${r.median_seconds.toFixed(3)} s = ${Math.round(r.tokens_per_second)} tokens/s (${change >= 0 ? '+' : ''}${(change * 100).toFixed(0)}% vs the reference)`);
    } catch (err) {
      say(`    failed: ${shortError(err)}`);
    }
  }

  // 4. For context, torch exactly as Debian ships it when the reference overrides
  //    OpenBLAS's kernel choice: what a naive baseline on this CPU would measure.
  let stockRow: Row | undefined;
  if (torch.available && blas?.coretype && blas.stock && blas.stock.corename !== blas.corename && !o.quick) {
    const repeats = Math.min(2, o.repeats.torch);
    say(`  torch, stock OpenBLAS kernels (${blas.stock.corename}; context only): ${repeats} timed forward(s) ...`);
    try {
      const r = runTorch({ ...common, repeats });
      say(`    median ${r.median_seconds.toFixed(3)} s = ${Math.round(r.tokens_per_second)} tokens/s`);
      stockRow = {
        engine: 'torch', label: 'torch, stock BLAS', level: 'engine', status: 'ok', tokensPerSecond: r.tokens_per_second, secondsPerBatch: r.median_seconds, runs: repeats,
        note: `context only: OpenBLAS's own kernel choice on this CPU (${r.openblas_corename}); not the reference`,
      };
    } catch (err) {
      say(`    failed: ${shortError(err)}`);
    }
  }

  if (reference) {
    const best = reference.run;
    w.torchReference = best.tokens_per_second;
    w.rows.unshift({
      engine: 'torch', level: 'engine', status: 'ok', tokensPerSecond: best.tokens_per_second, secondsPerBatch: tokens / best.tokens_per_second,
      runs: best.times.length, ratio: 1, reference: true,
      note: `${torchSetupNote(best)}; ${reference.how}${drift ? `; drift check: ${drift}` : ''}`,
    });
    if (stockRow) w.rows.push(stockRow);
    for (const r of w.rows) if (r.status === 'ok' && !r.reference) r.ratio = r.tokensPerSecond! / best.tokens_per_second;
  } else {
    if (torch.available) w.rows.unshift({ engine: 'torch', level: 'engine', status: 'failed', note: torchFailure ?? 'no torch result' });
    if (stockRow) w.rows.push(stockRow);
  }

  // Agreement of the last hidden state (after the final LayerNorm) with PyTorch.
  if (dumps.has('torch')) {
    const ref = readF32(dumps.get('torch')!);
    for (const engine of o.engines) {
      const d = dumps.get(engine);
      if (!d) continue;
      const diff = maxAbsDiff(ref, readF32(d));
      const tolerance = id === 'small-lm' ? SMALL_LM_TOLERANCE : GPT2_TOLERANCE;
      w.checks.push({ what: `last hidden state (hidden_states.${L}), ${engine} engine vs torch`, maxAbsDiff: diff, tolerance, pass: diff <= tolerance });
    }
  }
  return w;
}

function engineRow(engine: EngineKind, m: MeasureResult, o: Options, extra?: string): Row {
  return {
    engine, level: 'engine', status: 'ok', tokensPerSecond: m.tokensPerSecond, secondsPerBatch: m.medianSeconds, runs: m.times.length, measure: m,
    note: `${engineNote(m)}${pinNote(engine, o.threads)}; load+compile ${m.loadSeconds.toFixed(1)} s${extra ? `; ${extra}` : ''}`,
  };
}

/**
 * torch_forward.py --serve and an onnx engine measure.ts child, both loaded and warmed
 * up, then alternating single forwards (see paired.ts). Loads run one after the other
 * so neither warm-up competes with the other.
 */
async function pairedTorchOnnx(
  c: { modelDir: string; idsFile: string; batch: number; seq: number; threads: number },
  o: Options, blas: BlasChoice | undefined, torchDump: string, onnxDump: string, resultFile: string,
): Promise<{ torch: TorchRun; onnx: MeasureResult; times: PairedTimes }> {
  const echo = (l: string) => say(`    ${l}`);
  const torchProc = new ServedProcess('torch', systemPython, [
    ...torchArgs({ ...c, repeats: 0, dumpLast: torchDump }), '--serve',
  ], { env: torchEnv(c.threads, blas?.coretype), echo, timeoutMs: o.timeoutMs });
  let onnxProc: ServedProcess | undefined;
  try {
    await torchProc.ready();
    const job: Job = { kind: 'engine', engine: 'onnx', ...c, warmup: 1, repeats: 0, dumpLast: onnxDump, serve: true, resultFile };
    rmSync(resultFile, { force: true });
    onnxProc = serveJob('onnx', measureScript, job, { engine: 'onnx', threads: c.threads, echo, timeoutMs: o.timeoutMs });
    await onnxProc.ready();
    const times = await pairedRounds(torchProc, onnxProc, o.repeats.onnx, (l) => say(`    ${l}`));
    const torchRun = await torchProc.finish<TorchRun>(true);
    await onnxProc.finish(false);
    return { torch: torchRun!, onnx: JSON.parse(readFileSync(resultFile, 'utf8')) as MeasureResult, times };
  } catch (err) {
    torchProc.kill();
    onnxProc?.kill();
    throw err;
  }
}

/** A failure that means "this engine does not exist here" rather than "it broke". */
function engineMissing(err: unknown): boolean {
  return /Cannot find module|ERR_MODULE_NOT_FOUND|not found/i.test(err instanceof Error ? err.message : String(err));
}

function evaluateTarget(workloads: WorkloadResult[]): Target {
  const w = workloads.find((x) => x.id === 'gpt2-small');
  if (!w) return { statement: TARGET, evaluated: false, reason: 'gpt2-small was not run' };
  if (w.torchReference === undefined) return { statement: TARGET, evaluated: false, reason: 'no PyTorch baseline' };
  const row = w.rows.find((r) => r.engine === 'onnx' && r.level === 'engine' && r.status === 'ok');
  if (!row) return { statement: TARGET, evaluated: false, reason: 'no onnx engine result' };
  const service = w.rows.find((r) => r.engine === 'onnx' && r.level === 'service' && r.status === 'ok');
  return {
    statement: TARGET, evaluated: true, met: row.ratio! >= 2, ratio: row.ratio, serviceRatio: service?.ratio,
    pairedMedianRatio: w.paired ? median(w.paired.ratios) : undefined,
  };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const run = new BenchRun();
  say(`extraction benchmark: threads ${o.threads}, batch ${o.batch} x ${o.seq}${o.quick ? ', quick' : ''}; load average ${run.loadBefore.map((x) => x.toFixed(2)).join(' ')}`);

  const { torch, blas } = setUpTorch(o, say);
  const workloads = await forEachWorkload(o, `run-${process.pid}`, async (id, tmp) => {
    const w = await runWorkload(id, o, torch, blas, tmp);
    say(`\n${workloadMarkdown(w)}`);
    return w;
  });

  const torchRun: TorchRun | undefined = workloads.flatMap((w) => w.torchRuns)[0];
  const results: BenchResults = {
    ...run.record({ torch: torch.version, torchBlas: torchRun?.blas }),
    settings: {
      threads: o.threads, quick: o.quick, repeats: o.repeats, serviceBatches: o.batches, batch: o.batch, seq: o.seq, seed: o.seed,
      glibcTunables: HUGETLB, cacheDir: o.cacheDir, argv: process.argv.slice(2), torchBlas: o.torchBlas,
    },
    torch, torchBlas: blas, workloads, target: evaluateTarget(workloads),
  };
  saveResults(o.outDir, 'extract', run.date, results, resultsMarkdown(results), say);
  say(`\n>>> ${targetLine(results.target)}`);
  const failedChecks = workloads.flatMap((w) => w.checks).filter((c) => !c.pass);
  if (failedChecks.length) say(`>>> ${failedChecks.length} agreement check(s) FAILED: ${failedChecks.map((c) => c.what).join('; ')}`);
  process.exitCode = failedChecks.length ? 1 : 0;
}

await main();

/**
 * Lens-training throughput benchmark: libs/lens TranslatorTrainer on our engines (onnx,
 * tfjs) against the same recipe in PyTorch (python/torch_train.py), measured in the same
 * run on this machine, paired step by step.
 *
 *   npm run bench:train -- [--threads 1|2] [--quick] [--only small-lm|gpt2-small] ...
 *
 * Settings follow the extraction bench (../main.ts, ../README.md): same thread count on
 * both sides, GLIBC_TUNABLES=glibc.malloc.hugetlb=1 for torch and every node worker,
 * torch on the OpenBLAS kernels that are fastest on this CPU, one process per side.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModelConfig } from '@tuned-lens/models';
import { benchRoot, HUGETLB, median, readF32, shortError, systemPython, type EngineKind } from '../common';
import { nodeCommand, ourEnv, runJob, serveJob } from '../children';
import { CommandLine } from '../cli';
import { pairedRounds, ServedProcess } from '../paired';
import { setUpTorch, torchEnv, torchSetupNote, type BlasChoice, type TorchStatus } from '../torch';
import { compareWeights, torchTrainScript, trainWorkerScript } from './common';
import type { PrepareResult } from './data';
import { serviceMaxRows } from './ours';
import { medianBreakdown, resultsMarkdown, targetLine, workloadMarkdown, type Agreement, type TorchTrainDone, type TrainResults, type TrainRow, type TrainTarget, type TrainWorkloadResult } from './report';
import type { PrepareJob, TrainDone, TrainJob, TrainReady, VerifyStep } from './worker';
import { BenchRun, relOrAbs, saveResults } from '../runInfo';
import { cpuPin } from '../pinning';
import { defaultCacheDir, forEachWorkload, workloadModelDir, type WorkloadId } from '../workloads';

const USAGE = `usage: npm run bench:train -- [options]

  --threads N         threads for both sides (default 1)
  --quick             fewer timed steps (onnx 2, tfjs 1 paired rounds)
  --only W            one workload: small-lm | gpt2-small
  --engines LIST      our engines (default onnx,tfjs)
  --rounds N          paired timed steps with onnx (default 5; quick 2)
  --tfjs-rounds N     paired timed steps with tfjs (default 2 on small-lm, 1 on gpt2-small,
                      where one tfjs step takes minutes; quick 1)
  --verify-steps K    steps from zero init on both sides before timing: the warm-up and
                      the weight agreement check (default 2)
  --max-rows N        TranslatorTrainer maxRowsPerCall (default: the lens-training
                      service's max(64, 2^26 / vocab): 16384 for small-lm, 1335 for GPT-2)
  --batch-small B     micro-batch of small-lm (default 8; x --seq)
  --batch-gpt2 B      micro-batch of gpt2-small (default 4; x --seq)
  --seq T             sequence length (default 256)
  --seed N            seed of the token ids and the random GPT-2 weights (default 1234)
  --cache-dir DIR     random GPT-2 folder cache (default $TUNED_LENS_BENCH_DIR or /tmp/tuned-lens-bench)
  --out-dir DIR       results folder (default tools/bench/results)
  --torch-blas M      auto (default) | stock | an OPENBLAS_CORETYPE value (see the README)
  --timeout-min N     give up on one answer of a process after N minutes (default 30; a
                      tfjs worker's first answer on gpt2-small includes its verify steps)
  --no-op-profile     skip onnxruntime's per-op profile of the lens programs (run by default
                      when the onnx engine is below the target; src/train/ortProfile.ts)
  --no-apt            do not apt-get install python3-torch / libopenblas0-pthread when missing
  --render FILE       only re-render results/train-latest.md from a train-<date>.json
  --help`;
const commandLine = new CommandLine('bench:train', USAGE);

const TARGET_RATIO = 1.5;
const TARGET = `≥ ${TARGET_RATIO}x PyTorch's lens-training tokens/s with the faster engine`;
/** The schedule's S on both sides: the LR multiplier of step k is (S - k) / S. */
const NUM_STEPS = 1000;
/** Relative max |diff| of the translators after the verify steps (f32 both sides; measured ~1e-7..1e-5). */
const WEIGHT_TOLERANCE = 1e-3;
const RECIPE = 'KL(p ‖ q), z = h + h Wᵀ + b (zero init), final norm + unembedding, global grad clip 1.0, SGD Nesterov momentum 0.9, lr 0.1 × (S − k)/S (S = 1000), weight decay 1e-3, f32';

interface Options {
  threads: number; quick: boolean; only?: WorkloadId; engines: EngineKind[];
  rounds: { onnx: number; tfjs: number; tfjsGpt2: number }; verifySteps: number; maxRows?: number;
  batch: Record<WorkloadId, number>; seq: number; seed: number; cacheDir: string; outDir: string; apt: boolean; opProfile: boolean; torchBlas: string; timeoutMs: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      threads: { type: 'string', default: '1' }, quick: { type: 'boolean', default: false }, only: { type: 'string' },
      engines: { type: 'string', default: 'onnx,tfjs' }, rounds: { type: 'string' }, 'tfjs-rounds': { type: 'string' },
      'verify-steps': { type: 'string', default: '2' }, 'max-rows': { type: 'string' },
      'batch-small': { type: 'string', default: '8' }, 'batch-gpt2': { type: 'string', default: '4' }, seq: { type: 'string', default: '256' },
      seed: { type: 'string', default: '1234' }, 'cache-dir': { type: 'string' }, 'out-dir': { type: 'string' },
      'no-apt': { type: 'boolean', default: false }, 'no-op-profile': { type: 'boolean', default: false }, 'torch-blas': { type: 'string', default: 'auto' },
      'timeout-min': { type: 'string', default: '30' }, render: { type: 'string' }, help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) commandLine.help();
  if (values.render) {
    // npm -w runs us in tools/bench; a relative path means the caller's directory (INIT_CWD).
    const file = resolve(process.env.INIT_CWD ?? process.cwd(), values.render);
    const results = JSON.parse(readFileSync(file, 'utf8')) as TrainResults;
    const md = join(values['out-dir'] ?? join(benchRoot, 'results'), 'train-latest.md');
    writeFileSync(md, resultsMarkdown(results));
    console.log(`${relOrAbs(md)} re-rendered from ${relOrAbs(file)}\n\n${targetLine(results.target)}`);
    process.exit(0);
  }
  const quick = values.quick!;
  return {
    threads: commandLine.int('threads', values.threads!), quick, only: commandLine.workload(values.only), engines: commandLine.engines(values.engines!),
    rounds: {
      onnx: commandLine.int('rounds', values.rounds) ?? (quick ? 2 : 5),
      tfjs: commandLine.int('tfjs-rounds', values['tfjs-rounds']) ?? (quick ? 1 : 2),
      tfjsGpt2: commandLine.int('tfjs-rounds', values['tfjs-rounds']) ?? 1,
    },
    verifySteps: commandLine.int('verify-steps', values['verify-steps']!), maxRows: commandLine.int('max-rows', values['max-rows']),
    batch: { 'small-lm': commandLine.int('batch-small', values['batch-small']!), 'gpt2-small': commandLine.int('batch-gpt2', values['batch-gpt2']!) },
    seq: commandLine.int('seq', values.seq!), seed: commandLine.int('seed', values.seed!, 0),
    cacheDir: values['cache-dir'] ?? defaultCacheDir(),
    outDir: values['out-dir'] ?? join(benchRoot, 'results'),
    apt: !values['no-apt'], opProfile: !values['no-op-profile'], torchBlas: values['torch-blas']!, timeoutMs: commandLine.int('timeout-min', values['timeout-min']!) * 60_000,
  };
}

const say = (line = '') => console.log(line);

/** Error notes in this bench's table keep up to 200 characters (the extraction bench's 160). */
const ERROR_NOTE_CHARS = 200;

/** The prepare worker: real hidden states of the workload's batch, written to the data file. */
function runPrepare(job: PrepareJob, threads: number, timeoutMs: number): Promise<PrepareResult> {
  return runJob<PrepareResult>(trainWorkerScript, job, { engine: 'onnx', threads, timeoutMs, name: 'prepare' });
}

function agreement(engine: string, ours: VerifyStep[], torch: VerifyStep[], oursW: string, torchW: string): Agreement {
  const weights = compareWeights(readF32(oursW), readF32(torchW));
  let lossRelDiff = 0, gradNormRelDiff = 0;
  for (let s = 0; s < Math.min(ours.length, torch.length); s++) {
    ours[s].losses.forEach((x, l) => { lossRelDiff = Math.max(lossRelDiff, Math.abs(x - torch[s].losses[l]) / Math.max(1, Math.abs(torch[s].losses[l]))); });
    gradNormRelDiff = Math.max(gradNormRelDiff, Math.abs(ours[s].grad_norm - torch[s].grad_norm) / torch[s].grad_norm);
  }
  const pass = weights.relative <= WEIGHT_TOLERANCE && lossRelDiff <= WEIGHT_TOLERANCE && Number.isFinite(gradNormRelDiff) && gradNormRelDiff <= WEIGHT_TOLERANCE;
  return { engine, weights, lossRelDiff, gradNormRelDiff, tolerance: WEIGHT_TOLERANCE, pass };
}

async function runWorkload(id: WorkloadId, o: Options, torch: TorchStatus, blas: BlasChoice | undefined, tmp: string): Promise<TrainWorkloadResult> {
  const modelDir = workloadModelDir(id, o.cacheDir, o.seed, (l) => say(`  ${l}`));
  const cfg = loadModelConfig(join(modelDir, 'config.json'));
  const L = cfg.numLayers;
  const batch = o.batch[id];
  const tokens = batch * o.seq;
  const maxRows = o.maxRows ?? serviceMaxRows(cfg.vocabSize);
  const title = id === 'small-lm'
    ? `small-lm (trained fixture: ${L} layers, d ${cfg.dModel}, vocab ${cfg.vocabSize})`
    : `gpt2-small shape (random weights: ${L} layers, d ${cfg.dModel}, vocab ${cfg.vocabSize})`;
  say(`\n=== ${title}: micro-batch ${batch} x ${o.seq} = ${tokens} tokens`);
  const w: TrainWorkloadResult = { id, title, modelDir: relOrAbs(modelDir), batch, seq: o.seq, tokens, numLayers: L, maxRowsPerCall: maxRows, rows: [], checks: [] };

  const dataFile = join(tmp, `${id}-train.safetensors`);
  say(`  hidden states: ModelRunner.forward on ${batch} x ${o.seq} seeded token ids ...`);
  try {
    const p = await runPrepare({ kind: 'prepare', modelDir, batch, seq: o.seq, seed: o.seed, threads: o.threads, dataFile, resultFile: join(tmp, 'prepare.json') }, o.threads, o.timeoutMs);
    w.prepare = { engine: p.engine, forwardSeconds: p.forwardSeconds, dataBytes: p.dataBytes };
    say(`    ${p.engine} forward ${p.forwardSeconds.toFixed(2)} s; ${(p.dataBytes / 2 ** 20).toFixed(0)} MiB data file (hidden states + unembedding, F32)`);
  } catch (err) {
    w.error = `preparing the hidden states failed: ${shortError(err, ERROR_NOTE_CHARS)}`;
    say(`    ${w.error}`);
    return w;
  }

  const echo = (l: string) => say(`    ${l}`);
  const torchW = join(tmp, `${id}-torch-weights.f32`);
  let torchProc: ServedProcess | undefined;
  let torchVerify: VerifyStep[] | undefined;
  if (torch.available) {
    say(`  torch: ${o.verifySteps} verify step(s) from zero init, then serving timed steps (${o.threads} thread(s), OpenBLAS ${blas?.corename ?? '?'}) ...`);
    torchProc = new ServedProcess('torch', systemPython, [
      torchTrainScript, dataFile, '--threads', String(o.threads), '--verify-steps', String(o.verifySteps), '--num-steps', String(NUM_STEPS),
      '--dump-weights', torchW, '--serve',
    ], { env: torchEnv(o.threads, blas?.coretype), echo, timeoutMs: o.timeoutMs });
    try {
      const r = (await torchProc.ready()) as { load_seconds: number; verify: VerifyStep[] };
      torchVerify = r.verify;
      say(`    ready: verify steps ${r.verify.map((v) => `${v.seconds.toFixed(2)} s`).join(', ')}; grad norms ${r.verify.map((v) => v.grad_norm.toPrecision(6)).join(', ')}`);
    } catch (err) {
      torchProc.kill();
      torchProc = undefined;
      w.rows.push({ engine: 'torch', status: 'failed', note: shortError(err, ERROR_NOTE_CHARS) });
      say(`    torch failed: ${shortError(err, ERROR_NOTE_CHARS)}`);
    }
  }

  const torchTimes: number[] = [];
  for (const engine of o.engines) {
    const rounds = engine === 'onnx' ? o.rounds.onnx : id === 'gpt2-small' ? o.rounds.tfjsGpt2 : o.rounds.tfjs;
    const oursW = join(tmp, `${id}-${engine}-weights.f32`);
    const job: TrainJob = {
      kind: 'train', engine, modelDir, dataFile, threads: o.threads, verifySteps: o.verifySteps, numSteps: NUM_STEPS,
      maxRowsPerCall: maxRows, dumpWeights: oursW, profile: true,
    };
    const pin = cpuPin(engine, o.threads);
    say(`  ${engine}: TranslatorTrainer, ${o.verifySteps} verify step(s) from zero init, then ${rounds} timed step(s)${torchProc ? ' paired with torch' : ''}${pin ? ` (taskset -c ${pin})` : ''} ...`);
    const proc = serveJob(engine, trainWorkerScript, job, { engine, threads: o.threads, echo, timeoutMs: o.timeoutMs });
    const oursTimes: number[] = [];
    const pairTorch: number[] = [];
    try {
      const ready = (await proc.ready()) as unknown as TrainReady;
      say(`    ready in ${ready.load_seconds.toFixed(1)} s: verify steps ${ready.verify.map((v) => `${v.seconds.toFixed(2)} s`).join(', ')}; grad norms ${ready.verify.map((v) => v.grad_norm.toPrecision(6)).join(', ')}`);
      if (torchVerify) {
        const a = agreement(engine, ready.verify, torchVerify, oursW, torchW);
        w.checks.push(a);
        say(`    agreement with torch: weights max |diff| ${a.weights.maxAbsDiff.toExponential(2)} (relative ${a.weights.relative.toExponential(2)}), losses ${a.lossRelDiff.toExponential(1)}, grad norm ${a.gradNormRelDiff.toExponential(1)}: ${a.pass ? 'PASS' : 'FAIL'}`);
      }
      if (torchProc) {
        const p = await pairedRounds(torchProc, proc, rounds, (l) => say(`    ${l}`));
        pairTorch.push(...p.a);
        oursTimes.push(...p.b);
      } else {
        for (let i = 0; i < rounds; i++) {
          oursTimes.push(await proc.run());
          say(`    step ${i + 1}: ${oursTimes.at(-1)!.toFixed(3)} s`);
        }
      }
      const done = (await proc.finish<TrainDone>(true))!;
      torchTimes.push(...pairTorch);
      const m = median(done.times);
      const row: TrainRow = {
        engine, status: 'ok', tokensPerSecond: tokens / m, secondsPerStep: m, steps: done.times.length, done,
        breakdown: done.profile ? medianBreakdown(done.profile) : undefined,
        note: `${done.engineDetail ?? `${done.engine}${done.engineThreads ? `, ${done.engineThreads} thread(s)` : ''}`}${pin ? ` (taskset -c ${pin})` : ''}; ready (load + compile + verify steps) ${done.load_seconds.toFixed(1)} s; RSS ${done.rssMiB.toFixed(0)} MiB`,
      };
      if (pairTorch.length) {
        row.ratio = median(pairTorch) / m;
        row.pairedMedianRatio = median(pairTorch.map((t, i) => t / done.times[i]));
        row.paired = { torch: pairTorch, ours: done.times };
        row.note += `; paired torch median ${median(pairTorch).toFixed(3)} s/step, per-round torch/ours ${pairTorch.map((t, i) => (t / done.times[i]).toFixed(2)).join(', ')}`;
      }
      w.rows.push(row);
    } catch (err) {
      proc.kill();
      torchTimes.push(...pairTorch);
      say(`    ${engine} failed: ${shortError(err, ERROR_NOTE_CHARS)}`);
      w.rows.push({ engine, status: 'failed', note: shortError(err, ERROR_NOTE_CHARS) });
      if (torchProc && /^torch/.test((err as Error)?.message ?? '')) {
        torchProc.kill();
        torchProc = undefined;
        w.rows.push({ engine: 'torch', status: 'failed', note: shortError(err, ERROR_NOTE_CHARS) });
      }
    }
  }

  if (torchProc) {
    try {
      const done = (await torchProc.finish<TorchTrainDone>(true))!;
      w.torch = done;
      const m = median(done.times);
      w.rows.unshift({
        engine: 'torch', status: done.times.length ? 'ok' : 'failed', tokensPerSecond: tokens / m, secondsPerStep: m, steps: done.times.length, ratio: 1,
        note: `${torchSetupNote(done)}; autograd, one backward per layer; median over all its paired steps`,
      });
    } catch (err) {
      w.rows.unshift({ engine: 'torch', status: 'failed', note: shortError(err, ERROR_NOTE_CHARS) });
    }
  }

  // Below target: where the onnx engine's time goes inside the lens programs.
  const onnx = w.rows.find((r) => r.engine === 'onnx' && r.status === 'ok');
  if (o.opProfile && onnx && (onnx.ratio === undefined || onnx.ratio < TARGET_RATIO)) {
    say('  onnxruntime per-op profile of the lens programs (src/train/ortProfile.ts) ...');
    const { command, args } = nodeCommand(join('src', 'train', 'ortProfile.ts'), [
      '--only', id, '--threads', String(o.threads), '--runs', o.quick ? '3' : '5',
      '--rows', String(Math.min(tokens, maxRows)), '--cache-dir', o.cacheDir, '--seed', String(o.seed),
    ], 'onnx', o.threads);
    const r = spawnSync(command, args, { cwd: benchRoot, env: ourEnv(o.threads), encoding: 'utf8', timeout: o.timeoutMs, maxBuffer: 16 * 2 ** 20 });
    if (r.status === 0) {
      w.opProfile = r.stdout.trim();
      say(w.opProfile.split('\n').map((l) => `    ${l}`).join('\n'));
    } else say(`    failed: ${(r.stderr || r.error?.message || '').trim().split('\n').at(-1)}`);
  }
  return w;
}

function evaluateTarget(workloads: TrainWorkloadResult[], torch: TorchStatus): TrainTarget {
  if (!torch.available) return { statement: TARGET, perWorkload: [], evaluated: false, reason: 'no PyTorch baseline' };
  const perWorkload = workloads.map((w) => {
    const best = w.rows.filter((r) => r.engine !== 'torch' && r.status === 'ok' && r.ratio !== undefined).sort((a, b) => b.ratio! - a.ratio!)[0];
    return best ? { id: w.id, engine: best.engine, ratio: best.ratio, met: best.ratio! >= TARGET_RATIO } : { id: w.id };
  });
  const evaluated = perWorkload.filter((p) => p.met !== undefined);
  if (!evaluated.length) return { statement: TARGET, perWorkload, evaluated: false, reason: 'no paired result' };
  return { statement: TARGET, perWorkload, evaluated: true, met: perWorkload.every((p) => p.met === true) };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const run = new BenchRun();
  say(`lens-training benchmark: threads ${o.threads}${o.quick ? ', quick' : ''}; load average ${run.loadBefore.map((x) => x.toFixed(2)).join(' ')}`);

  const { torch, blas } = setUpTorch(o, say);
  const workloads = await forEachWorkload(o, `train-run-${process.pid}`, async (id, tmp) => {
    const w = await runWorkload(id, o, torch, blas, tmp);
    say(`\n${workloadMarkdown(w)}`);
    return w;
  });

  const results: TrainResults = {
    ...run.record({ torch: torch.version }),
    settings: {
      threads: o.threads, quick: o.quick, rounds: o.rounds, verifySteps: o.verifySteps, numSteps: NUM_STEPS, seed: o.seed,
      glibcTunables: HUGETLB, cacheDir: o.cacheDir, argv: process.argv.slice(2), torchBlas: o.torchBlas, recipe: RECIPE,
    },
    torch, torchBlas: blas, workloads, target: evaluateTarget(workloads, torch),
  };
  saveResults(o.outDir, 'train', run.date, results, resultsMarkdown(results), say);
  say(`\n>>> ${targetLine(results.target)}`);
  const failed = workloads.flatMap((w) => w.checks).filter((c) => !c.pass);
  if (failed.length) say(`>>> ${failed.length} agreement check(s) FAILED: ${failed.map((c) => c.engine).join(', ')}`);
  process.exitCode = failed.length ? 1 : 0;
}

await main();

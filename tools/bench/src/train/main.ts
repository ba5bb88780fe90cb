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
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { smallLmDir } from '@tuned-lens/fixtures';
import { loadModelConfig } from '@tuned-lens/models';
import { benchRoot, ENGINES, HUGETLB, median, readF32, systemPython, type EngineKind } from '../common';
import { pairedRounds, ServedProcess } from '../paired';
import { ensureRandomGpt2, gpt2SmallShape } from '../gpt2Random';
import { chooseBlas, ensureTorch, torchEnv, type BlasChoice, type TorchStatus } from '../torch';
import { WORKLOADS, type WorkloadId } from '../report';
import { compareWeights, torchTrainScript } from './common';
import type { PrepareResult } from './data';
import { serviceMaxRows } from './ours';
import { medianBreakdown, resultsMarkdown, targetLine, workloadMarkdown, type Agreement, type TorchTrainDone, type TrainResults, type TrainRow, type TrainTarget, type TrainWorkloadResult } from './report';
import type { PrepareJob, TrainDone, TrainJob, TrainReady, VerifyStep } from './worker';
import { cpuDescription, gitCommit, packageVersion, relOrAbs, saveResults } from '../runInfo';
import { cpuPin } from '../pinning';

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

function usage(msg: string): never {
  console.error(`bench:train: ${msg}\n\n${USAGE}`);
  process.exit(2);
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
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.render) {
    // npm -w runs us in tools/bench; a relative path means the caller's directory (INIT_CWD).
    const file = resolve(process.env.INIT_CWD ?? process.cwd(), values.render);
    const results = JSON.parse(readFileSync(file, 'utf8')) as TrainResults;
    const md = join(values['out-dir'] ?? join(benchRoot, 'results'), 'train-latest.md');
    writeFileSync(md, resultsMarkdown(results));
    console.log(`${relOrAbs(md)} re-rendered from ${relOrAbs(file)}\n\n${targetLine(results.target)}`);
    process.exit(0);
  }
  const int = (name: string, raw: string | undefined, min = 1): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
    return n;
  };
  const quick = values.quick!;
  const only = values.only as WorkloadId | undefined;
  if (only !== undefined && !WORKLOADS.includes(only)) usage(`--only must be one of ${WORKLOADS.join(', ')}, got "${only}"`);
  const engines = values.engines!.split(',').map((e) => e.trim()).filter(Boolean) as EngineKind[];
  for (const e of engines) if (!ENGINES.includes(e)) usage(`unknown engine "${e}" (known: ${ENGINES.join(', ')})`);
  return {
    threads: int('threads', values.threads)!, quick, only, engines,
    rounds: {
      onnx: int('rounds', values.rounds) ?? (quick ? 2 : 5),
      tfjs: int('tfjs-rounds', values['tfjs-rounds']) ?? (quick ? 1 : 2),
      tfjsGpt2: int('tfjs-rounds', values['tfjs-rounds']) ?? 1,
    },
    verifySteps: int('verify-steps', values['verify-steps'])!, maxRows: int('max-rows', values['max-rows']),
    batch: { 'small-lm': int('batch-small', values['batch-small'])!, 'gpt2-small': int('batch-gpt2', values['batch-gpt2'])! },
    seq: int('seq', values.seq)!, seed: int('seed', values.seed, 0)!,
    cacheDir: values['cache-dir'] ?? process.env.TUNED_LENS_BENCH_DIR ?? '/tmp/tuned-lens-bench',
    outDir: values['out-dir'] ?? join(benchRoot, 'results'),
    apt: !values['no-apt'], opProfile: !values['no-op-profile'], torchBlas: values['torch-blas']!, timeoutMs: int('timeout-min', values['timeout-min'])! * 60_000,
  };
}

const say = (line = '') => console.log(line);

/** Our workers' environment: hugetlb malloc, ORT threads, quiet logs (as the extraction bench). */
function nodeEnv(threads: number): NodeJS.ProcessEnv {
  return {
    ...process.env, GLIBC_TUNABLES: HUGETLB, TUNED_LENS_ORT_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads), TUNED_LENS_LOG_LEVEL: process.env.TUNED_LENS_LOG_LEVEL ?? 'warn',
  };
}



function workerCommand(job: TrainJob | PrepareJob, engine: EngineKind, threads: number): [string, string[]] {
  const args = ['--import', 'tsx', join('src', 'train', 'worker.ts'), JSON.stringify(job)];
  const pin = cpuPin(engine, threads);
  return pin ? ['taskset', ['-c', pin, process.execPath, ...args]] : [process.execPath, args];
}

function shortError(err: unknown): string {
  const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0].replace(/\s*Build with -sASSERTIONS for more info\.?/g, '').trim();
  return msg.length > 200 ? `${msg.slice(0, 197)}...` : msg;
}

/** The prepare worker: real hidden states of the workload's batch, written to the data file. */
function runPrepare(job: PrepareJob, threads: number, timeoutMs: number): Promise<PrepareResult> {
  const [cmd, args] = workerCommand(job, 'onnx', threads);
  return new Promise((resolve, reject) => {
    rmSync(job.resultFile, { force: true });
    const child = spawn(cmd, args, { cwd: benchRoot, env: nodeEnv(threads), stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && existsSync(job.resultFile)) resolve(JSON.parse(readFileSync(job.resultFile, 'utf8')) as PrepareResult);
      else reject(new Error(stderr.trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-2).join(' ') || `prepare exited with ${signal ?? code}`));
    });
  });
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
  const modelDir = id === 'small-lm' ? smallLmDir : ensureRandomGpt2(o.cacheDir, gpt2SmallShape, o.seed, (l) => say(`  ${l}`));
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
    w.error = `preparing the hidden states failed: ${shortError(err)}`;
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
      w.rows.push({ engine: 'torch', status: 'failed', note: shortError(err) });
      say(`    torch failed: ${shortError(err)}`);
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
    const [cmd, args] = workerCommand(job, engine, o.threads);
    const proc = new ServedProcess(engine, cmd, args, { cwd: benchRoot, env: nodeEnv(o.threads), echo, timeoutMs: o.timeoutMs });
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
      say(`    ${engine} failed: ${shortError(err)}`);
      w.rows.push({ engine, status: 'failed', note: shortError(err) });
      if (torchProc && /^torch/.test((err as Error)?.message ?? '')) {
        torchProc.kill();
        torchProc = undefined;
        w.rows.push({ engine: 'torch', status: 'failed', note: shortError(err) });
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
        note: `torch ${done.torch_version}, ${done.threads} thread(s), OpenBLAS ${done.openblas_corename}${done.openblas_coretype_env ? ' (forced)' : ''}; autograd, one backward per layer; median over all its paired steps`,
      });
    } catch (err) {
      w.rows.unshift({ engine: 'torch', status: 'failed', note: shortError(err) });
    }
  }

  // Below target: where the onnx engine's time goes inside the lens programs.
  const onnx = w.rows.find((r) => r.engine === 'onnx' && r.status === 'ok');
  if (o.opProfile && onnx && (onnx.ratio === undefined || onnx.ratio < TARGET_RATIO)) {
    say('  onnxruntime per-op profile of the lens programs (src/train/ortProfile.ts) ...');
    const r = spawnSync(process.execPath, [
      '--import', 'tsx', join('src', 'train', 'ortProfile.ts'), '--only', id, '--threads', String(o.threads), '--runs', o.quick ? '3' : '5',
      '--rows', String(Math.min(tokens, maxRows)), '--cache-dir', o.cacheDir, '--seed', String(o.seed),
    ], { cwd: benchRoot, env: nodeEnv(o.threads), encoding: 'utf8', timeout: o.timeoutMs, maxBuffer: 16 * 2 ** 20 });
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
  const t0 = performance.now();
  const loadBefore = loadavg();
  const date = new Date();
  say(`lens-training benchmark: threads ${o.threads}${o.quick ? ', quick' : ''}; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`);

  say('\n--- PyTorch baseline (Debian python3-torch + OpenBLAS)');
  const torch = ensureTorch({ allowInstall: o.apt, log: (l) => say(`  ${l}`) });
  let blas: BlasChoice | undefined;
  if (!torch.available) say(`  PyTorch UNAVAILABLE: ${torch.reason}; benching our engines without ratios`);
  else {
    try {
      blas = chooseBlas(o.threads, o.torchBlas, (l) => say(`  ${l}`));
    } catch (err) {
      say(`  BLAS probe failed (${shortError(err)}); torch runs with OpenBLAS's own choice`);
    }
  }

  mkdirSync(o.cacheDir, { recursive: true });
  const tmp = join(o.cacheDir, `train-run-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const workloads: TrainWorkloadResult[] = [];
  try {
    for (const id of WORKLOADS) {
      if (o.only && o.only !== id) continue;
      const w = await runWorkload(id, o, torch, blas, tmp);
      workloads.push(w);
      say(`\n${workloadMarkdown(w)}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const results: TrainResults = {
    date: date.toISOString(),
    gitCommit: gitCommit(),
    settings: {
      threads: o.threads, quick: o.quick, rounds: o.rounds, verifySteps: o.verifySteps, numSteps: NUM_STEPS, seed: o.seed,
      glibcTunables: HUGETLB, cacheDir: o.cacheDir, argv: process.argv.slice(2), torchBlas: o.torchBlas, recipe: RECIPE,
    },
    machine: {
      cpuModel: cpuDescription(), cores: availableParallelism(), memGiB: totalmem() / 2 ** 30, kernel: release(), node: process.versions.node,
      onnxruntime: packageVersion('onnxruntime-node'), torch: torch.version, loadBefore, loadAfter: loadavg(),
    },
    torch,
    torchBlas: blas,
    workloads,
    target: evaluateTarget(workloads, torch),
    wallSeconds: (performance.now() - t0) / 1000,
  };
  saveResults(o.outDir, 'train', date, results, resultsMarkdown(results), say);
  say(`\n>>> ${targetLine(results.target)}`);
  const failed = workloads.flatMap((w) => w.checks).filter((c) => !c.pass);
  if (failed.length) say(`>>> ${failed.length} agreement check(s) FAILED: ${failed.map((c) => c.engine).join(', ')}`);
  process.exitCode = failed.length ? 1 : 0;
}

await main();

/**
 * One child process of the training bench: `node --import tsx src/train/worker.ts '<job json>'`.
 *
 * - `prepare`: loads the model, runs ModelRunner.forward once on the workload's token
 *   batch (onnx engine) and writes the data file (hidden states + unembedding, data.ts)
 *   that both sides then train on.
 * - `train`: TranslatorTrainer on one engine (onnx | tfjs) over that data: `verifySteps`
 *   steps from zero init (they are also the warm-up; the weights are dumped after them
 *   for the agreement check), then `@@ready`, then one timed full step (accumulate of the
 *   micro-batch + optimiser step) per `run` line on stdin, answering `@@result
 *   {"seconds"}`, until `finish`, which prints `@@done {json}` (the protocol of
 *   ../paired.ts, the same as python/torch_train.py --serve).
 *
 * Own process for the same reasons as ../measure.ts: GLIBC_TUNABLES is read at process
 * start, each engine starts from a clean heap, a crash (tfjs' wasm heap on GPT-2) fails
 * one row only.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { median, type EngineKind } from '../common';
import { engineSetup, processState, runChild, say, type EngineSetup, type ProcessState } from '../measuredChild';
import { serveTimedCalls } from '../paired';
import { prepareTrainData, type PrepareResult } from './data';
import { OurTraining, type StepProfile } from './ours';

export interface PrepareJob {
  kind: 'prepare';
  modelDir: string;
  batch: number;
  seq: number;
  seed: number;
  threads: number;
  dataFile: string;
  /** Where the PrepareResult JSON goes. */
  resultFile: string;
}

export interface TrainJob {
  kind: 'train';
  engine: EngineKind;
  modelDir: string;
  dataFile: string;
  threads: number;
  verifySteps: number;
  /** The schedule's length S (lr multiplier (S - k) / S at step k), the same on both sides. */
  numSteps: number;
  maxRowsPerCall: number;
  /** Translators after the verify steps, raw f32 (layer by layer: weight [d, d], bias [d]). */
  dumpWeights?: string;
  /** Time every engine program call (see profile.ts): engine time vs host work. */
  profile?: boolean;
}

export interface VerifyStep {
  losses: number[];
  grad_norm: number;
  seconds: number;
}

/** What a train worker reports at @@ready and @@done. */
export interface TrainReady extends EngineSetup {
  engine: string;
  load_seconds: number;
  verify: VerifyStep[];
}

export interface TrainDone extends TrainReady, ProcessState {
  times: number[];
  median_seconds: number;
  tokens: number;
  tokens_per_second: number;
  loadBefore: number[];
  /** With `profile`: per timed step, where the time went. */
  profile?: StepProfile[];
}

async function prepare(job: PrepareJob): Promise<PrepareResult> {
  return prepareTrainData(job.modelDir, job.dataFile, job);
}

async function train(job: TrainJob): Promise<void> {
  const loadBefore = loadavg();
  const t0 = performance.now();
  const ours = await OurTraining.create(job.engine, job.modelDir, job.dataFile, job);
  const name = ours.engine.name;
  const verify: VerifyStep[] = [];
  for (let i = 0; i < job.verifySteps; i++) {
    const r = await ours.fullStep();
    verify.push({ losses: r.losses, grad_norm: r.stats.gradNorm, seconds: r.seconds });
    say(`    ${name}: step ${i + 1} (from zero init) in ${r.seconds.toFixed(2)} s; grad norm ${r.stats.gradNorm.toPrecision(6)}`);
  }
  if (job.dumpWeights) {
    const w = ours.weights();
    writeFileSync(job.dumpWeights, new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  }
  const ready: TrainReady = { engine: name, ...engineSetup(ours.engine), load_seconds: (performance.now() - t0) / 1000, verify };
  const times: number[] = [];
  const profiles: StepProfile[] = [];
  await serveTimedCalls(ready, async () => {
    const r = await ours.fullStep();
    times.push(r.seconds);
    if (r.profile) profiles.push(r.profile);
    return r.seconds;
  });
  const m = median(times);
  const done: TrainDone = {
    ...ready, times, median_seconds: m, tokens: ours.tokens, tokens_per_second: ours.tokens / m,
    ...processState(), loadBefore, profile: job.profile ? profiles : undefined,
  };
  say(`@@done ${JSON.stringify(done)}`);
  await ours.dispose();
}

runChild(async () => {
  const job = JSON.parse(process.argv[2] ?? '') as PrepareJob | TrainJob;
  if (job.kind === 'prepare') writeFileSync(job.resultFile, JSON.stringify(await prepare(job)));
  else await train(job);
});

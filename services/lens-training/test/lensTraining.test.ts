// Integration tests: training jobs over real gRPC on loopback, fed by a real tokenizer
// service and two real activation services (tiny GPT-2 fixture, so it stays fast).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, mkdirSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelsDir, valCorpus } from '@tuned-lens/fixtures';
import { createClient, createLogger, status, unary } from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { trainingV1 } from '@tuned-lens/proto';
import { readLensFolder, writeLensFolder, makeLensConfig, zeroTunedLens } from '@tuned-lens/lens';
import { ActivationClient } from '@tuned-lens/clients';
import { openCheckpoint, writeSafetensors } from '@tuned-lens/formats';
import { startTokenizerServer } from '@tuned-lens/tokenizer-service';
import { startActivationServer } from '@tuned-lens/activation-service';
import { startLensTrainingServer, type LensTrainingServer } from '../src/index';

const quiet = createLogger('test', { level: 'error', write: () => {} });
const model = join(tinyModelsDir, 'tiny-gpt2');
const work = mkdtempSync(join(tmpdir(), 'lens-train-'));
mkdirSync(join(work, 'data'));
copyFileSync(valCorpus, join(work, 'data', 'val.jsonl'));
// A short corpus for the data-runs-out case (its first 60 documents).
writeFileSync(join(work, 'data', 'short.jsonl'), readFileSync(valCorpus, 'utf8').split('\n').slice(0, 60).join('\n') + '\n');
const stops: Array<() => Promise<void>> = [];
after(async () => { for (const s of stops.reverse()) await s(); });

const tokenizer = await startTokenizerServer({ tokenizerDir: model, dataRoots: [join(work, 'data')], logger: quiet, registry: new Registry() });
await tokenizer.ready;
stops.push(() => tokenizer.shutdown(500));
const activations = await Promise.all([0, 1].map(async () => {
  const s = await startActivationServer({ modelDir: model, engine: 'onnx', logger: quiet, registry: new Registry() });
  await s.ready;
  stops.push(() => s.shutdown(500));
  return s;
}));

async function trainingServer(): Promise<LensTrainingServer> {
  const s = await startLensTrainingServer({ roots: [work], engine: 'onnx', logger: quiet, registry: new Registry(), metricsPort: 0 });
  stops.push(() => s.shutdown(500));
  return s;
}

const baseConfig = (output: string, extra: Partial<trainingV1.TrainConfig> = {}) => trainingV1.TrainConfig.fromPartial({
  activationEndpoints: activations.map((a) => a.address),
  tokenizerEndpoint: tokenizer.address,
  dataPath: 'val.jsonl',
  outputPath: join(work, output),
  numSteps: 6, tokensPerStep: 1024, maxSeqLen: 128, perGpuBatchSize: 4, ...extra,
});

async function runJob(server: LensTrainingServer, config: trainingV1.TrainConfig, onStatus?: (s: trainingV1.JobStatus) => void | Promise<void>) {
  const client = createClient(trainingV1.LensTrainingServiceClient, server.address);
  const { jobId } = await unary(client, client.startJob, { config, resumeJobId: '' });
  let last: trainingV1.JobStatus | undefined;
  for await (const res of client.watchJob({ jobId }) as AsyncIterable<trainingV1.WatchJobResponse>) {
    last = res.status!;
    await onStatus?.(last);
  }
  client.close();
  return last!;
}

test('a job trains, lowers the loss, writes a lens folder and exposes training metrics', async () => {
  const server = await trainingServer();
  const steps: trainingV1.JobStatus[] = [];
  const final = await runJob(server, baseConfig('lens-a'), (s) => { if (s.step > 0) steps.push(s); });
  assert.equal(final.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, final.message);
  assert.equal(final.step, 6);
  assert.equal(final.tokensSeen, 6 * 1024);
  const first = steps[0].layerLosses, last = final.layerLosses;
  assert.equal(last.length, 3);
  assert.ok(last[0].nats < first[0].nats, `layer 0 loss fell: ${first[0].nats} -> ${last[0].nats}`);
  assert.ok(last.every((l) => l.bitsPerByte > 0));
  const lens = readLensFolder(join(work, 'lens-a'));
  assert.equal(lens.translators.length, 3);
  assert.equal(lens.config.dModel, 64);
  const activation = new ActivationClient(activations[0].address);
  assert.equal(lens.config.unembedSha256, (await activation.info()).unembedHash);
  activation.close();
  const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
  for (const name of ['tunedlens_training_layer_loss_nats', 'tunedlens_training_layer_loss_bits_per_byte', 'tunedlens_training_tokens_per_second', 'tunedlens_training_step_seconds', 'tunedlens_training_grad_norm', 'tunedlens_training_weight_norm', 'tunedlens_training_tokens_total', 'tunedlens_training_jobs']) {
    assert.match(metrics, new RegExp(`^${name}`, 'm'), name);
  }
  assert.match(metrics, /^tunedlens_training_step\{training_job="[0-9a-f]+"\} 6$/m);
  // The training log: one line per step with what WatchJob streamed.
  const log = readTrainLog('lens-a');
  assert.deepEqual(log.map((r) => r.step), [0, 1, 2, 3, 4, 5]);
  log.forEach((r, k) => {
    assert.deepEqual(r.loss_nats, steps[k].layerLosses.map((l) => l.nats));
    assert.deepEqual(r.loss_bpb, steps[k].layerLosses.map((l) => l.bitsPerByte));
    assert.equal(r.grad_norm, steps[k].gradNorm);
    assert.equal(r.lr, steps[k].lr);
    assert.equal(r.weight_norm, steps[k].weightNorm);
    assert.equal(r.bias_norm, steps[k].biasNorm);
    assert.equal(r.tokens_seen, (k + 1) * 1024);
    assert.ok(r.tokens_per_s > 0 && r.step_seconds > 0 && r.elapsed_seconds >= r.step_seconds);
  });
  // SGD's linear decay to 0 over 6 steps from lr_scale * (1 - momentum) = 0.1.
  assert.ok(Math.abs(log[3].lr - 0.1 * (6 - 3) / 6) < 1e-12);
});

interface TrainLogLine { step: number; lr: number; grad_norm: number; loss_nats: number[]; loss_bpb: number[]; weight_norm: number; bias_norm: number; tokens_seen: number; tokens_per_s: number; step_seconds: number; elapsed_seconds: number }
const readTrainLog = (output: string): TrainLogLine[] => readFileSync(join(work, output, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as TrainLogLine);

test('killing a trainer mid-job and resuming from its checkpoint gives the same lens', async () => {
  const reference = await runJob(await trainingServer(), baseConfig('lens-ref'));
  assert.equal(reference.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, reference.message);

  const first = await trainingServer();
  const cfg = baseConfig('lens-resumed', { checkpointFreq: 2 });
  let killed = false;
  const interrupted = await runJob(first, cfg, async (s) => {
    if (!killed && s.checkpointStep >= 2) { killed = true; await first.shutdown(2000); }
  }).catch((err) => ({ state: -1, message: String(err) }) as unknown as trainingV1.JobStatus);
  assert.ok(killed, 'the trainer was stopped after a checkpoint');
  assert.notEqual(interrupted.state, trainingV1.JobState.JOB_STATE_SUCCEEDED);
  assert.ok(existsSync(join(work, 'lens-resumed', 'checkpoints')));
  assert.ok(!existsSync(join(work, 'lens-resumed', 'params.pt')), 'no lens before the job ends');

  const resumed = await runJob(await trainingServer(), cfg);
  assert.equal(resumed.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, resumed.message);
  const a = readLensFolder(join(work, 'lens-ref')), b = readLensFolder(join(work, 'lens-resumed'));
  let maxDiff = 0;
  a.translators.forEach((t, l) => {
    t.weight.forEach((x, i) => { maxDiff = Math.max(maxDiff, Math.abs(x - b.translators[l].weight[i])); });
    t.bias!.forEach((x, i) => { maxDiff = Math.max(maxDiff, Math.abs(x - b.translators[l].bias![i])); });
  });
  // Same data order, same arithmetic: expected bitwise; allow float reassociation noise.
  assert.ok(maxDiff <= 1e-6, `resumed lens differs from the uninterrupted one by ${maxDiff}`);
  console.log(`# resumed vs uninterrupted lens: max abs difference ${maxDiff}`);
  // The resumed job's log keeps the steps its checkpoint holds, drops what the killed run did
  // after it, and appends: one line per step, the same losses as the uninterrupted run.
  const resumedLog = readTrainLog('lens-resumed'), refLog = readTrainLog('lens-ref');
  assert.deepEqual(resumedLog.map((r) => r.step), [0, 1, 2, 3, 4, 5]);
  resumedLog.forEach((r, k) => r.loss_nats.forEach((x, l) => assert.ok(Math.abs(x - refLog[k].loss_nats[l]) <= 1e-6 * Math.abs(x), `step ${k} layer ${l}`)));
});

test('checkpoint_dir moves checkpoints; a checkpoint from before the data-order change is refused, not resumed', async () => {
  const server = await trainingServer();
  const ckDir = join(work, 'elsewhere', 'cks');
  const moved = await runJob(server, baseConfig('lens-ckdir', { checkpointFreq: 2, checkpointDir: ckDir }));
  assert.equal(moved.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, moved.message);
  assert.deepEqual(readdirSync(ckDir).sort(), ['step-000002.safetensors', 'step-000004.safetensors']);
  assert.ok(!existsSync(join(work, 'lens-ckdir', 'checkpoints')));

  // A checkpoint as written before this change: same tensors, fingerprint without dataOrder.
  const oldDir = join(work, 'lens-old-order', 'checkpoints');
  mkdirSync(oldDir, { recursive: true });
  const ck = openCheckpoint(join(ckDir, 'step-000002.safetensors'));
  const meta = JSON.parse(ck.metadata.meta) as { fingerprint: string; corpusChunks?: number };
  const fp = JSON.parse(meta.fingerprint) as Record<string, unknown>;
  delete fp.dataOrder; delete fp.datasetShuffle; delete fp.tokenShift; delete meta.corpusChunks;
  meta.fingerprint = JSON.stringify(fp);
  const tensors = Object.fromEntries(ck.names().map((n) => [n, { dtype: 'F32' as const, shape: ck.info(n).shape, data: ck.getF32(n).slice() }]));
  writeSafetensors(join(oldDir, 'step-000002.safetensors'), tensors, { meta: JSON.stringify(meta) });
  const refused = await runJob(server, baseConfig('lens-old-order', { checkpointFreq: 2 }));
  assert.equal(refused.state, trainingV1.JobState.JOB_STATE_FAILED);
  assert.match(refused.message, /step-000002\.safetensors was written before the training data order changed .* use another output folder or remove its checkpoints/);
  // resume_job_id: a finished job of this server continues from its newest checkpoint
  // (here the last one is step 4 of 6, so the resumed job only redoes steps 5 and 6).
  const client = createClient(trainingV1.LensTrainingServiceClient, server.address);
  const done = (await unary(client, client.listJobs, {})).jobs!.find((j) => j.config?.outputPath === join(work, 'lens-ckdir'))!;
  const { jobId } = await unary(client, client.startJob, { config: undefined, resumeJobId: done.jobId });
  assert.notEqual(jobId, done.jobId);
  let resumedFinal: trainingV1.JobStatus | undefined;
  for await (const res of client.watchJob({ jobId }) as AsyncIterable<trainingV1.WatchJobResponse>) resumedFinal = res.status!;
  assert.equal(resumedFinal!.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, resumedFinal!.message);
  assert.equal(resumedFinal!.tokensSeen, 6 * 1024);
  assert.deepEqual(readTrainLog('lens-ckdir').map((r) => r.step), [0, 1, 2, 3, 4, 5]);
  // A job without checkpoints cannot be resumed.
  const noCk = await runJob(server, baseConfig('lens-no-ck', { numSteps: 2 }));
  assert.equal(noCk.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, noCk.message);
  await assert.rejects(unary(client, client.startJob, { config: undefined, resumeJobId: noCk.jobId }), (e: { code: number; details: string }) => e.code === status.FAILED_PRECONDITION && /left no checkpoint to resume from/.test(e.details));
  client.close();
  // Another config: the message names what differs.
  const other = await runJob(server, baseConfig('lens-ckdir', { checkpointFreq: 2, checkpointDir: ckDir, seed: 7 }));
  assert.equal(other.state, trainingV1.JobState.JOB_STATE_FAILED);
  assert.match(other.message, /written by a job with another config \(seed differs\)/);
});

test('losing one of two activation services mid-job: the job still finishes', async () => {
  const spare = await startActivationServer({ modelDir: model, engine: 'onnx', logger: quiet, registry: new Registry() });
  await spare.ready;
  let stopped = false;
  const cfg = baseConfig('lens-failover', { activationEndpoints: [spare.address, activations[0].address] });
  const final = await runJob(await trainingServer(), cfg, async (s) => {
    if (!stopped && s.step >= 2) { stopped = true; await spare.shutdown(0); }
  });
  assert.ok(stopped);
  assert.equal(final.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, final.message);
  assert.equal(final.step, 6);
});

test('bad jobs fail with messages a person can act on', async () => {
  const server = await trainingServer();
  const client = createClient(trainingV1.LensTrainingServiceClient, server.address);
  const start = (config: trainingV1.TrainConfig) => unary(client, client.startJob, { config, resumeJobId: '' });
  await assert.rejects(start(baseConfig('x', { activationEndpoints: [] })), (e: { code: number; details: string }) => e.code === status.INVALID_ARGUMENT && /activation_endpoints/.test(e.details));
  await assert.rejects(start(baseConfig('../../escape')), (e: { code: number }) => e.code === status.PERMISSION_DENIED);
  await assert.rejects(unary(client, client.getJob, { jobId: 'nope' }), (e: { code: number }) => e.code === status.NOT_FOUND);
  // Enum values this server does not know, and clip bounds that would turn clipping off, are refused naming the field.
  const invalid = (details: RegExp) => (e: { code: number; details: string }) => e.code === status.INVALID_ARGUMENT && details.test(e.details);
  await assert.rejects(start(baseConfig('x', { loss: 99 as trainingV1.Loss })), invalid(/^loss 99 is not one this server knows/));
  await assert.rejects(start(baseConfig('x', { optimizer: 99 as trainingV1.Optimizer })), invalid(/^optimizer 99 is not one this server knows/));
  for (const clip of [-1, NaN]) await assert.rejects(start(baseConfig('x', { gradClip: clip })), invalid(/^grad_clip must be positive/));
  await assert.rejects(start(baseConfig('x', { seed: 2 ** 40 })), invalid(/^seed must be an integer in 0\.\.4294967295/));
  await assert.rejects(unary(client, client.startJob, { config: undefined, resumeJobId: '' }), invalid(/StartJob needs a config/));
  // resume_job_id names a job of this server; an unknown one is NOT_FOUND, not a fresh start.
  await assert.rejects(unary(client, client.startJob, { config: undefined, resumeJobId: 'no-such-job' }), (e: { code: number; details: string }) => e.code === status.NOT_FOUND && /no training job "no-such-job" on this server to resume/.test(e.details));
  // data too small for the requested steps: says how many tokens are needed
  const tooMuch = await runJob(server, baseConfig('lens-too-much', { dataPath: 'short.jsonl', numSteps: 100, tokensPerStep: 1024 }));
  assert.equal(tooMuch.state, trainingV1.JobState.JOB_STATE_FAILED);
  assert.match(tooMuch.message, /short\.jsonl gives \d+ chunks of 128 tokens, but the job needs 800 /);
  // missing corpus
  const missing = await runJob(server, baseConfig('lens-missing', { dataPath: 'nope.jsonl' }));
  assert.equal(missing.state, trainingV1.JobState.JOB_STATE_FAILED);
  assert.match(missing.message, /nope\.jsonl/);
  // A tokenizer that dies mid-job (or is gone): the message names it, not just "Connection dropped".
  const doomed = await startTokenizerServer({ tokenizerDir: model, dataRoots: [join(work, 'data')], logger: quiet, registry: new Registry() });
  await doomed.ready;
  const doomedJob = runJob(server, baseConfig('lens-tokenizer-dies', { tokenizerEndpoint: doomed.address }));
  await new Promise((r) => setTimeout(r, 300));
  await doomed.shutdown(0);
  const died = await doomedJob;
  assert.equal(died.state, trainingV1.JobState.JOB_STATE_FAILED);
  console.log(`# the job whose tokenizer died: ${died.message}`);
  assert.match(died.message, new RegExp(`the tokenizer service at ${doomed.address.replace(/\./g, '\\.')} (failed while chunking val\\.jsonl|did not answer)`));
  // warm start from a lens for another model (width 32, not 64)
  writeLensFolder(join(work, 'foreign-lens'), { config: makeLensConfig({ baseModelNameOrPath: 'other', dModel: 32, numHiddenLayers: 3 }), translators: zeroTunedLens(3, 32).translators });
  const other = await runJob(server, baseConfig('lens-other', { lensInitPath: join(work, 'foreign-lens') }));
  assert.equal(other.state, trainingV1.JobState.JOB_STATE_FAILED);
  assert.match(other.message, /3 layers of width 32, but .* has 3 of width 64: it is a lens for another model/);
  // A damaged warm-start lens named relative to the root: the message names it as the client did, never by the server's absolute path.
  mkdirSync(join(work, 'broken-lens'));
  writeFileSync(join(work, 'broken-lens', 'config.json'), '{"d_model": 64, "num_hidden_layers": 3');
  const broken = await runJob(server, baseConfig('lens-broken-init', { lensInitPath: 'broken-lens' }));
  assert.equal(broken.state, trainingV1.JobState.JOB_STATE_FAILED);
  console.log(`# a damaged warm-start lens: ${broken.message}`);
  assert.match(broken.message, /broken-lens/);
  assert.ok(!broken.message.includes(work), `no server path in: ${broken.message}`);
  client.close();
});

test('a training run that diverges fails the job with the cause and keeps only finite checkpoints', async () => {
  // An absurd learning rate (lr_scale only has to be positive). warmup_steps 1 makes step
  // 1's update zero, so checkpoint 1 holds the starting lens; step 2's update would send
  // the weights to +-inf: the trainer refuses it before anything is saved.
  const server = await trainingServer();
  const final = await runJob(server, baseConfig('lens-diverged', { lrScale: 1e300, warmupSteps: 1, checkpointFreq: 1 }));
  assert.equal(final.state, trainingV1.JobState.JOB_STATE_FAILED, final.message);
  assert.match(final.message, /^training stopped at step 2 of 6: the update of step 2 made the translator weights non-finite \(learning rate [^)]+\): stopping before they are saved or used\. .*lr_scale/);
  assert.match(final.message, /the last checkpoint \(step 1\) is kept in .*lens-diverged\/checkpoints$/);
  assert.equal(final.step, 1);
  console.log(`# the failed job's message: ${final.message}`);
  const dir = join(work, 'lens-diverged', 'checkpoints');
  assert.deepEqual(readdirSync(dir).sort(), ['step-000001.safetensors']);
  const good = openCheckpoint(join(dir, 'step-000001.safetensors'));
  for (let l = 0; l < 3; l++) assert.ok(good.getF32(`lens.${l}.weight`).every(Number.isFinite), `checkpoint 1, layer ${l}: finite`);
  assert.ok(!existsSync(join(work, 'lens-diverged', 'params.pt')), 'no lens is written');
  // The service is unharmed: it lists the job and runs the next one.
  const client = createClient(trainingV1.LensTrainingServiceClient, server.address);
  const { jobs } = await unary(client, client.listJobs, {});
  client.close();
  assert.ok(jobs.some((j) => j.state === trainingV1.JobState.JOB_STATE_FAILED && /non-finite/.test(j.message)));
  const next = await runJob(server, baseConfig('lens-after-diverged', { numSteps: 1 }));
  assert.equal(next.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, next.message);
});

test('cancelling a running job stops its trainer thread and keeps its checkpoint', async () => {
  const server = await trainingServer();
  const client = createClient(trainingV1.LensTrainingServiceClient, server.address);
  let cancelled = false;
  const final = await runJob(server, baseConfig('lens-cancelled', { numSteps: 120, checkpointFreq: 1 }), async (s) => {
    if (!cancelled && s.checkpointStep >= 1) {
      cancelled = true;
      const { status: st } = await unary(client, client.cancelJob, { jobId: s.jobId });
      assert.equal(st!.jobId, s.jobId);
    }
  });
  client.close();
  assert.ok(cancelled);
  assert.equal(final.state, trainingV1.JobState.JOB_STATE_CANCELLED, final.message);
  assert.match(final.message, /^cancelled at step \d+; the last checkpoint \(step \d+\) is kept/);
  assert.ok(final.step < 120, `stopped at step ${final.step}`);
  assert.ok(readdirSync(join(work, 'lens-cancelled', 'checkpoints')).length > 0);
  assert.ok(!existsSync(join(work, 'lens-cancelled', 'params.pt')));
  // The thread is gone: the next job starts at once (one job at a time on this server).
  const next = await runJob(server, baseConfig('lens-after-cancel', { numSteps: 1 }));
  assert.equal(next.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, next.message);
});

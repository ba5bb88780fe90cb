// The local multi-process run as a user starts it (`npm run local-cluster` runs
// src/localCluster.ts): every service its own `tuned-lens serve` process, two activation
// replicas, a training job fed by both, real /metrics scrapes checked against every
// metric name the alerts, dashboard and autoscaler use, then SIGTERM and exit codes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHealth } from '@tuned-lens/grpc-kit';
import { fixturesRoot, tinyModelsDir, valCorpus } from '@tuned-lens/fixtures';
import { metricUses } from '../src/metricUses';
import { declaredSampleNames, externalMetrics, pendingMetrics } from '../src/declaredMetrics';
import { parseExposition, type Exposition } from '../src/promql';
import { tunedLensBin } from '../src/paths';

const script = fileURLToPath(new URL('../src/localCluster.ts', import.meta.url));
interface Line { label: string; address: string; metrics: string; pid: number; health: string }

let child: ChildProcess;
let stdout = '';
let stderr = '';
const procs: Line[] = [];
let lensRoot = '';
const scrapes = new Map<string, Exposition>();
let exited: Promise<number | null>;

async function scrapeAll() {
  for (const p of procs) scrapes.set(p.label, parseExposition(await (await fetch(p.metrics)).text()));
}

before(async () => {
  child = spawn(process.execPath, ['--import', 'tsx', script, '--model', join(tinyModelsDir, 'tiny-gpt2'), '--data-root', fixturesRoot, '--grace-ms', '3000'], {
    stdio: ['ignore', 'pipe', 'pipe'], cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  child.stderr!.on('data', (d) => { stderr += d; });
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local-cluster not ready in 90 s:\n${stdout}\n${stderr}`)), 90_000);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      stdout += l + '\n';
      const m = /^(\S+) grpc=(\S+) metrics=(\S+) pid=(\d+) health=(\S+)$/.exec(l);
      if (m) procs.push({ label: m[1], address: m[2], metrics: m[3], pid: Number(m[4]), health: m[5] });
      const lr = /^# lenses: (.*)$/.exec(l);
      if (lr) lensRoot = lr[1];
      if (l === 'ready') { clearTimeout(timer); resolve(); }
    });
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`local-cluster exited ${c}:\n${stdout}\n${stderr}`)); });
  });
});

after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });

test('local-cluster: tokenizer, two activation processes and lens-training, each its own process, all SERVING', async () => {
  const labels = procs.map((p) => p.label);
  for (const l of ['tokenizer', 'activation-0', 'activation-1', 'lens-training']) assert.ok(labels.includes(l), `${l} in ${labels}`);
  assert.equal(new Set(procs.map((p) => p.pid)).size, procs.length, 'one process each');
  for (const p of procs) {
    assert.equal(await checkHealth(p.address, p.health), 'SERVING', p.label);
    assert.equal(await checkHealth(p.address, ''), 'SERVING', p.label);
  }
});

const hasTrain = spawnSync(tunedLensBin, ['train', '--help'], { encoding: 'utf8' }).status === 0;
test('a training job fed by both activation processes runs, and tunedlens_training_* metrics appear on lens-training\'s /metrics while it runs', { skip: hasTrain ? false : 'no `tuned-lens train` in this build', timeout: 60_000 }, async () => {
  const at = (label: string) => procs.find((p) => p.label === label)!;
  const training = at('lens-training');
  // the train-lens Job's flags (infra/k8s/jobs/train-lens), pointed at these processes
  const run = spawn(tunedLensBin, [
    'train', '--training-endpoint', training.address, '--tokenizer-endpoint', at('tokenizer').address,
    '--activation-endpoint', at('activation-0').address, '--activation-endpoint', at('activation-1').address,
    '--data', valCorpus, '--output', join(lensRoot, 'tiny-gpt2-lens'),
    '--num-steps', '4', '--tokens-per-step', '256', '--max-seq-len', '64', '--per-gpu-batch-size', '2',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  run.stdout!.on('data', (d) => { out += d; });
  run.stderr!.on('data', (d) => { out += d; });
  const done = new Promise<number | null>((resolve) => run.once('exit', resolve));
  let seenWhileRunning = false;
  while (run.exitCode === null) {
    const m = parseExposition(await (await fetch(training.metrics)).text());
    if (m.samples.some((s) => s.name === 'tunedlens_training_jobs' && s.labels.state === 'running' && s.value > 0)
      && m.samples.some((s) => s.name === 'tunedlens_training_layer_loss_nats' && s.labels.training_job)) seenWhileRunning = true;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await done, 0, out);
  const m = parseExposition(await (await fetch(training.metrics)).text());
  const losses = m.samples.filter((s) => s.name === 'tunedlens_training_layer_loss_nats');
  assert.deepEqual([...new Set(losses.map((s) => s.labels.layer))].sort(), ['0', '1', '2'], 'one loss per translator (tiny-gpt2: 3 layers)');
  assert.ok(losses.every((s) => Number.isFinite(s.value)));
  assert.ok(m.samples.find((s) => s.name === 'tunedlens_training_tokens_total')!.value >= 4 * 256);
  assert.equal(m.samples.find((s) => s.name === 'tunedlens_training_step')?.value, 4);
  assert.ok(seenWhileRunning || /step 4\/4/.test(out), 'training metrics were visible while the job ran');
  for (const a of ['activation-0', 'activation-1']) {
    const e = parseExposition(await (await fetch(at(a).metrics)).text());
    const extracts = e.samples.find((s) => s.name === 'grpc_server_handled_total' && s.labels.grpc_method === 'Extract' && s.labels.grpc_code === 'OK');
    assert.ok(extracts && extracts.value > 0, `${a} served Extract calls (round-robin over both)`);
    assert.ok(e.samples.find((s) => s.name === 'tunedlens_activation_hidden_state_bytes_total')!.value > 0);
  }
});

test('every metric name used by the alerts, the dashboard and prometheus-adapter is exposed by a running service (or declared in src/declaredMetrics.ts)', async () => {
  await scrapeAll();
  const exposed = new Set<string>();
  for (const s of scrapes.values()) for (const n of s.names) exposed.add(n);
  const external = declaredSampleNames(externalMetrics);
  const pending = declaredSampleNames(pendingMetrics);
  for (const [name, family] of pending) assert.ok(!exposed.has(name), `${family} is exposed now: remove it from pendingMetrics`);
  const missing = metricUses().filter((u) => !exposed.has(u.name) && !external.has(u.name) && !pending.has(u.name));
  assert.deepEqual(missing, []);
  // No label Prometheus sets itself (job, instance): the ServiceMonitor has no relabeling,
  // so such a label would arrive renamed exported_job / exported_instance.
  for (const [label, s] of scrapes) {
    const clashing = s.samples.filter((x) => 'job' in x.labels || 'instance' in x.labels).map((x) => x.name);
    assert.deepEqual(clashing, [], `${label} exposes samples labelled job/instance`);
  }
  assert.ok([...scrapes.values()].some((s) => s.samples.some((x) => x.name === 'tunedlens_training_step' && x.labels.training_job)), 'training series carry training_job');
  // the families named in the issue are all there
  for (const f of ['grpc_server_handled_total', 'grpc_server_handling_seconds_bucket', 'grpc_server_in_flight_requests', 'tunedlens_activation_queue_depth',
    'tunedlens_activation_model_info', 'tunedlens_training_layer_loss_bits_per_byte', 'tunedlens_training_step_seconds_bucket', 'process_resident_memory_bytes']) {
    assert.ok(exposed.has(f), f);
  }
});

test('SIGTERM stops every process cleanly: each exits 0, and so does local-cluster', { timeout: 60_000 }, async () => {
  child.kill('SIGTERM');
  assert.equal(await exited, 0, `${stdout}\n${stderr}`);
  for (const p of procs) {
    assert.match(stdout, new RegExp(`^stopped ${p.label}: exit 0$`, 'm'));
    assert.throws(() => process.kill(p.pid, 0), /ESRCH/, `${p.label} (pid ${p.pid}) is gone`);
  }
});

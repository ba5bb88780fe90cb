// A frozen activation replica must not stall training (issue 13, item 1). Every service
// is its own `tuned-lens serve` process (startLocalCluster); one of the two activation
// processes gets SIGSTOP mid-job: it keeps its TCP connections open and answers nothing,
// which is what a hung node looks like to a client. The job must finish within 60 s of
// the freeze and write the same lens, byte for byte, as an uninterrupted run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tinyModelsDir, fixturesRoot, valCorpus } from '@tuned-lens/fixtures';
import { createClient, status, unary } from '@tuned-lens/grpc-kit';
import { lensV1, trainingV1 } from '@tuned-lens/proto';
import { startLocalCluster, type LocalCluster } from '../src/localCluster';
import { scrape, servableServices } from '../src/processes';

const canTrain = servableServices().includes('lens-training');
let cluster: LocalCluster | undefined;
let frozenPid: number | undefined;
const frozenPids: number[] = [];

before(async () => {
  if (!canTrain) return;
  cluster = await startLocalCluster({ modelDir: join(tinyModelsDir, 'tiny-gpt2'), dataRoot: fixturesRoot, activations: 2, graceMs: 1_000 });
});

after(async () => {
  for (const pid of [frozenPid, ...frozenPids]) if (pid) try { process.kill(pid, 'SIGCONT'); } catch { /* already gone */ }
  await cluster?.stop();
});

/** Runs a job to its end; `onStep` sees every status. Returns the last status. */
async function runJob(output: string, onStatus?: (s: trainingV1.JobStatus) => void): Promise<trainingV1.JobStatus> {
  const training = cluster!.byService('lens-training')[0];
  const client = createClient(trainingV1.LensTrainingServiceClient, training.address);
  try {
    const config = trainingV1.TrainConfig.fromPartial({
      activationEndpoints: cluster!.byService('activation').map((a) => a.address),
      tokenizerEndpoint: cluster!.byService('tokenizer')[0].address,
      dataPath: valCorpus,
      outputPath: join(cluster!.lensRoot, output),
      numSteps: 20, tokensPerStep: 1024, maxSeqLen: 128, perGpuBatchSize: 2, seed: 3,
    });
    const { jobId } = await unary(client, client.startJob, { config, resumeJobId: '' });
    let last: trainingV1.JobStatus | undefined;
    for await (const res of client.watchJob({ jobId }) as AsyncIterable<trainingV1.WatchJobResponse>) {
      last = res.status!;
      onStatus?.(last);
    }
    return last!;
  } finally {
    client.close();
  }
}

test('SIGSTOP of one of two activation processes at step 5 of 20: the job finishes within 60 s of the freeze, with the same lens as an uninterrupted run', { skip: canTrain ? false : 'no lens-training in this build', timeout: 180_000 }, async () => {
  const plain = await runJob('lens-plain');
  assert.equal(plain.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, plain.message);

  const victim = cluster!.byService('activation')[1];
  let frozeAt = 0;
  const frozen = await runJob('lens-frozen', (s) => {
    if (!frozeAt && s.step >= 5) {
      frozeAt = Date.now();
      frozenPid = victim.child.pid;
      process.kill(frozenPid!, 'SIGSTOP');
    }
  });
  const afterFreezeS = (Date.now() - frozeAt) / 1000;
  assert.ok(frozeAt > 0, 'the replica was frozen mid-job');
  assert.equal(frozen.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, frozen.message);
  assert.equal(frozen.step, 20);
  assert.ok(afterFreezeS < 60, `finished ${afterFreezeS.toFixed(1)} s after the freeze`);
  console.log(`# job finished ${afterFreezeS.toFixed(1)} s after the freeze`);

  const lens = (name: string) => readFileSync(join(cluster!.lensRoot, name, 'params.safetensors'));
  assert.ok(lens('lens-plain').equals(lens('lens-frozen')), 'byte-identical params.safetensors');

  // The frozen replica was benched (counted on lens-training's /metrics), and thawed it serves again.
  const metrics = await scrape(cluster!.byService('lens-training')[0].metricsUrl);
  assert.match(metrics, new RegExp(`tunedlens_training_activation_benched_total\\{endpoint="${victim.address.replace(/[.]/g, '\\.')}"\\} [1-9]`));
  process.kill(frozenPid!, 'SIGCONT');
  frozenPid = undefined;
  const again = await runJob('lens-thawed');
  assert.equal(again.state, trainingV1.JobState.JOB_STATE_SUCCEEDED, again.message);
  assert.ok(lens('lens-plain').equals(lens('lens-thawed')));
});

test('a Predict cancelled while its activation service is frozen frees its admission slot at once', { skip: servableServices().includes('evaluation') ? false : 'no evaluation in this build', timeout: 60_000 }, async () => {
  const evaluation = cluster!.byService('evaluation')[0];
  const inFlight = async () => Number(/^tunedlens_lens_in_flight (\S+)$/m.exec(await scrape(evaluation.metricsUrl))?.[1]);
  const client = createClient(lensV1.LensServiceClient, evaluation.address);
  // A first call, thawed, so the service has its model link (info, unembedding) before the freeze.
  await new Promise<void>((resolve, reject) => {
    const warm = client.predict(lensV1.PredictRequest.fromPartial({ input: { kind: { $case: 'text', text: 'warm up' } }, lenses: [lensV1.LensKind.LENS_KIND_LOGIT] }));
    warm.on('data', () => {}).on('end', resolve).on('error', reject);
  });
  const pids = cluster!.byService('activation').map((a) => a.child.pid!);
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  frozenPids.push(...pids);
  try {
    const call = client.predict(lensV1.PredictRequest.fromPartial({ input: { kind: { $case: 'text', text: 'The quick brown fox' } }, lenses: [lensV1.LensKind.LENS_KIND_LOGIT] }));
    const ended = new Promise<number | undefined>((resolve) => call.on('data', () => {}).on('error', (e: { code?: number }) => resolve(e.code)).on('end', () => resolve(undefined)));
    // Admitted and waiting on the frozen forward pass.
    const waitUntil = async (want: number) => {
      for (let t0 = Date.now(); Date.now() - t0 < 5_000;) {
        if ((await inFlight()) === want) return Date.now();
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.fail(`tunedlens_lens_in_flight did not reach ${want} within 5 s (it is ${await inFlight()})`);
    };
    await waitUntil(1);
    const cancelledAt = Date.now();
    call.cancel();
    assert.equal(await ended, status.CANCELLED);
    const freedMs = (await waitUntil(0)) - cancelledAt;
    console.log(`# admission slot freed ${freedMs} ms after the cancel (the forward pass is still frozen)`);
    assert.ok(freedMs < 1_000, `${freedMs} ms`);
  } finally {
    for (const pid of pids) process.kill(pid, 'SIGCONT');
    frozenPids.splice(0);
    client.close();
  }
});

// The training data order: one seeded permutation of ALL chunks (torch.randperm), so a
// short run on a corpus ordered by source still sees every source, and a run on the
// bundled corpus reads exactly the chunks the reference lens was trained on.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceLensDir, smallLmDir, tinyModelsDir, trainCorpus } from '@tuned-lens/fixtures';
import { createClient, createLogger, unary } from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { trainingV1 } from '@tuned-lens/proto';
import { TokenizerClient } from '@tuned-lens/clients';
import { startTokenizerServer } from '@tuned-lens/tokenizer-service';
import { startActivationServer } from '@tuned-lens/activation-service';
import { permutedChunks, startLensTrainingServer, type PositionedChunk } from '../src/index';

const quiet = createLogger('test', { level: 'error', write: () => {} });
const work = mkdtempSync(join(tmpdir(), 'lens-order-'));
mkdirSync(join(work, 'data'));
const stops: Array<() => Promise<void>> = [];
after(async () => { for (const s of stops.reverse()) await s(); });

// A corpus ordered by source, as users' concatenated corpora are: 300 documents of
// source A, then 300 of B, then 300 of C, each source with its own words.
const words = { A: 'apple', B: 'river', C: 'engine' } as const;
const lines: string[] = [];
for (const [source, word] of Object.entries(words)) {
  for (let d = 0; d < 300; d++) lines.push(JSON.stringify({ text: Array.from({ length: 40 }, () => word).join(' '), meta: { source } }));
}
writeFileSync(join(work, 'data', 'by-source.jsonl'), lines.join('\n') + '\n');

const tokenizer = await startTokenizerServer({ tokenizerDir: smallLmDir, dataRoots: [join(work, 'data'), join(trainCorpus, '..')], logger: quiet, registry: new Registry() });
await tokenizer.ready;
stops.push(() => tokenizer.shutdown(500));

async function take(gen: AsyncGenerator<PositionedChunk>, n: number): Promise<PositionedChunk[]> {
  const out: PositionedChunk[] = [];
  for await (const c of gen) { out.push(c); if (out.length === n) break; }
  return out;
}

test('a short run on a corpus ordered by source draws its chunks from every source', async () => {
  const client = new TokenizerClient(tokenizer.address);
  const [a, b, c] = (await client.encode(Object.values(words).map((w) => ` ${w}`))).map((e) => e.ids[e.ids.length - 1]);
  const opts = { corpusPath: 'by-source.jsonl', maxSeqLen: 32, seed: 42, startPosition: 0, shuffleDocuments: false, shuffleSeed: 42, vocabSize: 4096, chunksNeeded: 0 };
  let total = 0;
  const all = await take(permutedChunks(client, { ...opts, onChunked: (info) => { total = info.chunks; } }), 1e9);
  assert.ok(total > 1000 && all.length === total, `the corpus has ${total} chunks`);
  const sourcesOf = (chunks: PositionedChunk[]) => [a, b, c].map((id) => chunks.filter((chunk) => chunk.ids.includes(id)).length);
  // The first 10% of the chunks (a short run): every source is there in about its share of
  // the corpus (the old block order read only source A here).
  const first = all.slice(0, Math.round(total / 10));
  const counts = sourcesOf(first), shares = sourcesOf(all);
  console.log(`# first ${first.length} of ${total} chunks containing source A/B/C words: ${counts.join('/')} (whole corpus: ${shares.join('/')})`);
  counts.forEach((n, s) => assert.ok(n >= shares[s] / 10 / 2, `source ${'ABC'[s]} is drawn in proportion: ${n} of its ${shares[s]} chunks`));
  assert.deepEqual(first.map((x) => x.position), Array.from({ length: first.length }, (_, i) => i + 1));

  // A resume at position 25 continues with exactly the same chunks.
  const resumed = await take(permutedChunks(client, { ...opts, startPosition: 25 }), 15);
  assert.deepEqual(resumed.map((x) => [...x.ids]), all.slice(25, 40).map((x) => [...x.ids]));

  // Too little data for the job fails before any chunk, naming both counts.
  await assert.rejects(take(permutedChunks(client, { ...opts, chunksNeeded: 1_000_000 }), 1), /by-source\.jsonl gives \d+ chunks of 32 tokens, but the job needs 1000000/);
  // A resumed checkpoint trained on another chunk count (the corpus changed) is refused.
  await assert.rejects(take(permutedChunks(client, { ...opts, expectedChunks: total + 1 }), 1), /the corpus changed/);

  // --dataset-shuffle: documents shuffled before chunking, so sources mix inside chunks too.
  const mixed = await take(permutedChunks(client, { ...opts, shuffleDocuments: true }), 1e9);
  const mixing = (chunks: PositionedChunk[]) => chunks.filter((chunk) => [a, b, c].filter((id) => chunk.ids.includes(id)).length > 1).length;
  console.log(`# chunks mixing two sources: ${mixing(all)}/${total} in file order, ${mixing(mixed)}/${mixed.length} with documents shuffled`);
  assert.ok(mixing(mixed) > total / 4 && mixing(all) <= 2, `documents shuffled: ${mixing(mixed)} chunks mix sources (file order: ${mixing(all)})`);
  client.close();
});

test('training on the bundled corpus reads the reference lens\'s chunks: its first steps equal the reference log', async () => {
  const activation = await startActivationServer({ modelDir: smallLmDir, engine: 'onnx', logger: quiet, registry: new Registry() });
  await activation.ready;
  stops.push(() => activation.shutdown(500));
  const server = await startLensTrainingServer({ roots: [work], engine: 'onnx', logger: quiet, registry: new Registry(), metricsPort: 0 });
  stops.push(() => server.shutdown(500));
  const client = createClient(trainingV1.LensTrainingServiceClient, server.address);
  // The reference's recipe (training_settings.json), stopped after 2 of its 250 steps: the
  // schedule needs num_steps 250, so the job is cancelled once step 2 is reported.
  const config = trainingV1.TrainConfig.fromPartial({
    activationEndpoints: [activation.address], tokenizerEndpoint: tokenizer.address, dataPath: trainCorpus,
    outputPath: join(work, 'lens-ref-order'), numSteps: 250, tokensPerStep: 4096, maxSeqLen: 256, perGpuBatchSize: 4,
  });
  const { jobId } = await unary(client, client.startJob, { config, resumeJobId: '' });
  const seen: trainingV1.JobStatus[] = [];
  for await (const res of client.watchJob({ jobId }) as AsyncIterable<trainingV1.WatchJobResponse>) {
    const s = res.status!;
    if (s.state === trainingV1.JobState.JOB_STATE_FAILED) assert.fail(s.message);
    if (s.step > seen.length && s.step <= 2) seen.push(s);
    if (s.step >= 2 && s.state === trainingV1.JobState.JOB_STATE_RUNNING) await unary(client, client.cancelJob, { jobId }).catch(() => {});
  }
  client.close();
  assert.equal(seen.length, 2, 'the job reported two steps');
  const reference = readFileSync(join(referenceLensDir, 'train_log.jsonl'), 'utf8').trim().split('\n').slice(0, 2).map((l) => JSON.parse(l) as { lr: number; grad_norm: number; kl_per_layer: number[] });
  const ours = readFileSync(join(work, 'lens-ref-order', 'train_log.jsonl'), 'utf8').trim().split('\n').slice(0, 2).map((l) => JSON.parse(l) as { step: number; lr: number; grad_norm: number; loss_nats: number[] });
  assert.equal(ours.length, 2);
  // Step 0 is the logit lens (zero translators) on the first 16 chunks of the order; step 1
  // follows one SGD update. Same chunks + same math: equal to f32 accumulation noise
  // (the reference logs KL rounded to 5 decimals).
  ours.forEach((o, k) => {
    assert.equal(o.step, k);
    assert.ok(Math.abs(o.lr - reference[k].lr) < 1e-12);
    assert.ok(Math.abs(o.grad_norm - reference[k].grad_norm) / reference[k].grad_norm < 1e-5, `step ${k} grad norm ${o.grad_norm} vs ${reference[k].grad_norm}`);
    o.loss_nats.forEach((x, l) => assert.ok(Math.abs(x - reference[k].kl_per_layer[l]) < 2e-5, `step ${k} layer ${l}: ${x} vs ${reference[k].kl_per_layer[l]}`));
    assert.equal(seen[k].layerLosses[0].nats, o.loss_nats[0], 'WatchJob streams what the log holds');
  });
  console.log(`# step 0 KL per layer: ours ${ours[0].loss_nats.map((x) => x.toFixed(5)).join(' ')} | reference ${reference[0].kl_per_layer.join(' ')}`);
});

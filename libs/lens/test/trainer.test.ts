// TranslatorTrainer's guards (float64 reference engine, a tiny random unembedding): an
// update that makes the weights non-finite is refused before anything can save them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReferenceEngine, makeRng } from '@tuned-lens/engine';
import { TranslatorTrainer, defaultOptimizerConfig, type Unembedding } from '../src/index';

const d = 4, V = 7, L = 2, B = 1, T = 3;
const rng = makeRng(11);
const randn = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
const u: Unembedding = { norm: 'layer_norm', eps: 1e-5, dModel: d, vocabSize: V, normWeight: randn(d, 1), normBias: randn(d, 0.1), lmHead: randn(V * d) };
const hiddenStates = new Map(Array.from({ length: L + 1 }, (_, i) => [i, randn(B * T * d, 2)] as const));
const microBatch = { batch: B, seq: T, inputIds: Int32Array.from([1, 2, 3]), hiddenStates };

async function trainer(lrScale: number): Promise<TranslatorTrainer> {
  return TranslatorTrainer.create(new ReferenceEngine(), u, {
    loss: 'kl', numLayers: L, numSteps: 10, warmupSteps: 0, biasOnly: false, maxRowsPerCall: 64,
    optimizer: { ...defaultOptimizerConfig, lrScale, maxGradNorm: 0 },
  });
}

test('a sane learning rate gives finite weights and stats', async () => {
  const t = await trainer(1);
  await t.accumulate(microBatch, 1);
  const stats = await t.step(0);
  assert.ok(stats.weightNorm > 0 && Number.isFinite(stats.weightNorm) && Number.isFinite(stats.gradNorm));
});

test('an update that overflows the weights stops the step with a message naming the cause', async () => {
  const t = await trainer(1e300);
  const losses = await t.accumulate(microBatch, 1);
  assert.ok(losses.every(Number.isFinite), 'the loss itself is finite: only the update overflows');
  await assert.rejects(t.step(0), /step 1 made the translator weights non-finite \(learning rate [^)]*, gradient norm [^)]*\)/);
});

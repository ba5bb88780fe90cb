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

/** The micro-batch [2, 5] re-cut by hand: lens rows [lensStart, +count), targets (KL: h_L rows; CE: ids) from targetStart. */
function recut(mb: { batch: number; seq: number; inputIds: Int32Array; hiddenStates: Map<number, Float32Array> }, lensStart: number, targetStart: number, count: number) {
  const rows = (x: Float32Array, start: number) => {
    const out = new Float32Array(mb.batch * count * d);
    for (let b = 0; b < mb.batch; b++) out.set(x.subarray((b * mb.seq + start) * d, (b * mb.seq + start + count) * d), b * count * d);
    return out;
  };
  const hs = new Map([...mb.hiddenStates].map(([l, h]) => [l, rows(h, l === L ? targetStart : lensStart)] as const));
  return { batch: mb.batch, seq: count, inputIds: new Int32Array(mb.batch * count), hiddenStates: hs };
}

test('token shift s trains the lens at t against the target at t + s (KL: equal to shift 0 on re-cut rows)', async () => {
  const Tb = 5, Bb = 2;
  const mb = { batch: Bb, seq: Tb, inputIds: Int32Array.from({ length: Bb * Tb }, (_, i) => i % V), hiddenStates: new Map(Array.from({ length: L + 1 }, (_, i) => [i, randn(Bb * Tb * d, 2)] as const)) };
  const make = (tokenShift?: number, loss: 'kl' | 'ce' = 'kl') => TranslatorTrainer.create(new ReferenceEngine(), u, {
    loss, numLayers: L, numSteps: 10, warmupSteps: 0, biasOnly: false, maxRowsPerCall: 3, tokenShift,
    optimizer: { ...defaultOptimizerConfig, maxGradNorm: 0 },
  });
  for (const [shift, lensStart, targetStart] of [[2, 0, 2], [-1, 1, 0]] as const) {
    const shifted = await make(shift), plain = await make(0);
    const a = await shifted.accumulate(mb, 1);
    const b = await plain.accumulate(recut(mb, lensStart, targetStart, Tb - Math.abs(shift)), 1);
    a.forEach((x, l) => assert.ok(Math.abs(x - b[l]) <= 1e-12 * Math.abs(b[l]), `shift ${shift} layer ${l}: ${x} vs ${b[l]}`));
    await shifted.step(0); await plain.step(0);
    shifted.lens.translators.forEach((t, l) => t.weight.forEach((w, i) => assert.equal(w, plain.lens.translators[l].weight[i])));
  }
  // CE's default is shift 1; an explicit 1 is the same run, and shift 2 reads ids two ahead.
  const ceDefault = await (await make(undefined, 'ce')).accumulate(mb, 1);
  const ceOne = await (await make(1, 'ce')).accumulate(mb, 1);
  assert.deepEqual(ceOne, ceDefault);
  const ceTwo = await (await make(2, 'ce')).accumulate(mb, 1);
  assert.notDeepEqual(ceTwo, ceOne);
  await assert.rejects((await make(5)).accumulate(mb, 1), /no positions to train on with the kl loss and token shift 5/);
});

// The trainer thread against the in-process TranslatorTrainer (same numbers, bit for
// bit), its error paths (an engine error, a stop, a thread that dies), and that
// micro-batch buffers are moved to the thread rather than copied.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { createEngine } from '@tuned-lens/engine';
import { loadModel, ModelRunner } from '@tuned-lens/models';
import { TranslatorTrainer, zeroTunedLens, type MicroBatch, type TrainerOptions, type TunedLensWeights, type Unembedding } from '@tuned-lens/lens';
import { TrainerThread, TrainerThreadError } from '../src/trainerThread';

const model = await loadModel(join(tinyModelsDir, 'tiny-gpt2'));
const engine = await createEngine('onnx');
after(() => engine.dispose?.());
const runner = new ModelRunner(model, engine);
const { dModel: d, vocabSize, numLayers: L } = model.dims;
const ue = model.unembedding();
const unembedding = (): Unembedding => ({
  norm: ue.spec.norm, eps: ue.spec.eps, normWeight: ue.normWeight.slice(), normBias: ue.normBias?.slice(),
  lmHead: ue.lmHead.slice(), lmHeadBias: ue.lmHeadBias?.slice(), dModel: d, vocabSize,
});
const options: TrainerOptions = {
  loss: 'kl', numLayers: L, numSteps: 4, warmupSteps: 0, biasOnly: false, maxRowsPerCall: 24,
  optimizer: { kind: 'sgd', lrScale: 1, momentum: 0.9, weightDecay: 1e-3, maxGradNorm: 1 },
};

/** A [2, 16] micro-batch of real hidden states; every array owns its buffer. */
async function microBatch(seed: number): Promise<MicroBatch> {
  const inputIds = Int32Array.from({ length: 32 }, (_, i) => (i * 37 + seed * 101) % vocabSize);
  const out = await runner.forward({ inputIds, batch: 2, seq: 16 });
  return { batch: 2, seq: 16, inputIds, hiddenStates: new Map([...out.hiddenStates].map(([l, h]) => [l, h.slice()])) };
}
const copy = (mb: MicroBatch): MicroBatch => ({ ...mb, inputIds: mb.inputIds.slice(), hiddenStates: new Map([...mb.hiddenStates].map(([l, h]) => [l, h.slice()])) });
const lensCopy = (lens: TunedLensWeights): TunedLensWeights => ({ dModel: lens.dModel, translators: lens.translators.map((t) => ({ weight: t.weight.slice(), bias: t.bias && t.bias.slice() })) });

test('the thread computes what the in-process trainer computes, bit for bit, and takes the buffers', async () => {
  const lens = zeroTunedLens(L, d);
  const local = await TranslatorTrainer.create(engine, unembedding(), options, lensCopy(lens));
  const thread = await TrainerThread.start({ engine: 'onnx', unembedding: unembedding(), options, lens: lensCopy(lens) });
  try {
    for (let step = 0; step < 2; step++) {
      for (const seed of [step * 2, step * 2 + 1]) {
        const mb = await microBatch(seed);
        const expected = await local.accumulate(copy(mb), 0.5);
        const h0 = mb.hiddenStates.get(0)!;
        const losses = await thread.accumulate(mb, 0.5);
        assert.deepEqual(losses, expected);
        assert.equal(h0.byteLength, 0, 'the hidden states were transferred (detached here), not copied');
        assert.equal(mb.inputIds.byteLength, 0);
      }
      assert.deepEqual(await thread.step(step), await local.step(step));
    }
    const snap = await thread.snapshot();
    snap.lens.translators.forEach((t, l) => {
      assert.deepEqual(t.weight, local.lens.translators[l].weight, `layer ${l} weight`);
      assert.deepEqual(t.bias, local.lens.translators[l].bias, `layer ${l} bias`);
    });
    assert.equal(snap.optimizer.step, 2);
    assert.deepEqual(snap.optimizer.m, local.optimizer.state.m);
  } finally {
    await thread.dispose();
    await local.dispose();
  }
});

test('an engine-side error rejects that call with the trainer\'s message; the thread keeps answering', async () => {
  const thread = await TrainerThread.start({ engine: 'onnx', unembedding: unembedding(), options, lens: zeroTunedLens(L, d) });
  try {
    const mb = await microBatch(7);
    mb.hiddenStates.delete(L); // the KL target needs the model's output
    await assert.rejects(thread.accumulate(mb, 1), new RegExp(`the KL loss needs hidden state ${L}`));
    assert.equal((await thread.snapshot()).lens.translators.length, L);
  } finally {
    await thread.dispose();
  }
});

test('a non-finite loss comes back naming the layer', async () => {
  const lens = zeroTunedLens(L, d);
  lens.translators[1].weight.fill(3e38); // finite, but h + W h overflows f32
  const thread = await TrainerThread.start({ engine: 'onnx', unembedding: unembedding(), options, lens });
  try {
    await assert.rejects(thread.accumulate(await microBatch(3), 1), /^NonFiniteError: the loss of layer 1 is (NaN|-?Infinity): stopping before a bad update$/);
  } finally {
    await thread.dispose();
  }
});

test('stop() rejects the pending work at once and ends the thread', async () => {
  const thread = await TrainerThread.start({ engine: 'onnx', unembedding: unembedding(), options, lens: zeroTunedLens(L, d) });
  const pending = thread.accumulate(await microBatch(1), 1);
  const stepping = thread.step(0);
  const stopped = thread.stop();
  await assert.rejects(pending, (e) => e instanceof TrainerThreadError && /was stopped/.test(e.message));
  await assert.rejects(stepping, TrainerThreadError);
  await stopped; // resolves once the thread has exited
  await assert.rejects(thread.snapshot(), /was stopped/);
});

// Threads that speak the protocol's first message and then die, standing in for a crash
// of the real one (out of memory, a bug in its JavaScript).
const dyingThread = (death: string) => new URL(`data:text/javascript,${encodeURIComponent(`
  import { parentPort } from 'node:worker_threads';
  parentPort.postMessage({ type: 'ready', engine: 'none', log: '' });
  parentPort.once('message', () => { ${death} });
`)}`);

test('a thread that crashes or exits fails the pending and later calls instead of hanging', async () => {
  for (const [death, expected] of [
    ["throw new Error('out of luck')", /the trainer thread crashed: out of luck/],
    ['process.exit(3)', /the trainer thread exited unexpectedly \(exit code 3\)/],
  ] as const) {
    const thread = await TrainerThread.start({ engine: 'onnx', unembedding: unembedding(), options, lens: zeroTunedLens(L, d) }, dyingThread(death));
    await assert.rejects(thread.step(0), expected);
    await assert.rejects(thread.snapshot(), expected);
    await thread.dispose();
  }
});

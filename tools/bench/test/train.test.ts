/**
 * The training bench's PyTorch baseline (python/torch_train.py) and our TranslatorTrainer
 * (onnx engine) train the same thing: on tiny-gpt2's real hidden states, two full steps
 * from zero init give the same per-layer losses, gradient norms and translator weights.
 * Skipped with a message when /usr/bin/python3 has no torch (the bench installs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { systemPython } from '../src/common';
import { probeTorch, torchEnv } from '../src/torch';
import { prepareTrainData, readTrainData } from '../src/train/data';
import { OurTraining } from '../src/train/ours';
import { compareWeights, torchTrainScript } from '../src/train/common';

const probe = probeTorch();
const skip = probe.ok ? false : `skipped: ${systemPython} has no torch (${probe.why}); the bench installs python3-torch`;
if (skip) console.log(`# ${skip}`);

test('torch_train.py and TranslatorTrainer (onnx) agree after 2 steps on tiny-gpt2', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-train-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const modelDir = join(tinyModelsDir, 'tiny-gpt2');
  const dataFile = join(dir, 'data.safetensors');
  await prepareTrainData(modelDir, dataFile, { batch: 2, seq: 24, seed: 5, threads: 1 });
  const data = readTrainData(dataFile);
  assert.equal(data.numLayers, 3);
  assert.equal(data.hiddenStates.get(3)!.length, 2 * 24 * 64);

  // 20 rows per call: the 48 rows go through the lens step in three slices (20, 20, 8).
  const ours = await OurTraining.create('onnx', modelDir, dataFile, { threads: 1, numSteps: 10, maxRowsPerCall: 20 });
  t.after(() => ours.dispose());
  const steps = [await ours.fullStep(), await ours.fullStep()];

  const r = spawnSync(systemPython, [torchTrainScript, dataFile, '--verify-steps', '2', '--num-steps', '10', '--dump-weights', join(dir, 'torch.f32')], {
    encoding: 'utf8', env: torchEnv(1),
  });
  assert.equal(r.status, 0, `torch_train.py failed:\n${r.stderr}`);
  const torch = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { verify: { losses: number[]; grad_norm: number }[]; shape: { tokens: number; vocab: number } };
  assert.deepEqual(torch.shape.tokens, 48);
  assert.equal(torch.shape.vocab, data.vocabSize);

  for (let s = 0; s < 2; s++) {
    const tv = torch.verify[s];
    for (let l = 0; l < 3; l++) {
      const a = steps[s].losses[l], b = tv.losses[l];
      assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `step ${s + 1} layer ${l}: loss ${a} vs torch ${b}`);
    }
    const a = steps[s].stats.gradNorm, b = tv.grad_norm;
    assert.ok(Math.abs(a - b) <= 1e-4 * b, `step ${s + 1}: grad norm ${a} vs torch ${b}`);
  }
  // The first step's loss at layer l is the logit lens's KL (zero translators): > 0.
  assert.ok(steps[0].losses.every((x) => x > 0));

  const b = readFileSync(join(dir, 'torch.f32'));
  const cmp = compareWeights(ours.weights(), new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4));
  assert.ok(cmp.maxAbsWeight > 0, 'the translators moved');
  assert.ok(cmp.relative <= 1e-4, `weights: max |diff| ${cmp.maxAbsDiff} (relative ${cmp.relative})`);
});

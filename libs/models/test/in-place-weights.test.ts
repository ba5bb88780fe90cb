// Weights stay in their checkpoint files: on the onnx engine every tensor is ONNX external
// data pointing into the safetensors file, in its stored dtype (BF16 stays 2 bytes), the
// graph widens and transposes matrices at run time, and nothing is written to disk.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelsDir, smallLmDir } from '@tuned-lens/fixtures';
import { OnnxEngine, ReferenceEngine, StoredParam, graphStats } from '@tuned-lens/engine';
import { loadModel } from '../src/index';
import { openCheckpoint } from '@tuned-lens/formats';

const engine = new OnnxEngine({ intraOpNumThreads: 1 });
after(() => engine.dispose());

const ortTempDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('tuned-lens-ort-'));

for (const [name, dir] of [['tiny-llama (BF16)', join(tinyModelsDir, 'tiny-llama')], ['tiny-gpt2 (F32, Conv1D + fused qkv + tied head)', join(tinyModelsDir, 'tiny-gpt2')], ['small-lm (F16)', smallLmDir], ['tiny-phi3-longrope (fused qkv and gate_up rows)', join(tinyModelsDir, 'tiny-phi3-longrope')]] as const) {
  test(`${name}: every weight is read in place from the checkpoint, nothing is written`, async () => {
    const model = await loadModel(dir);
    const stored = [...model.params.values()].filter((p): p is StoredParam => p instanceof StoredParam);
    const matrices = [...model.params.values()].filter((p) => p.shape.length === 2);
    assert.ok(matrices.every((p) => p instanceof StoredParam), 'every matrix param is a StoredParam');
    const ckpt = openCheckpoint(dir, { maxResidentBytes: 0 });
    const fileBytes = ckpt.names().reduce((s, n) => s + ckpt.location(n).byteLength, 0);

    const before = ortTempDirs();
    const compiled = await engine.compile(model.program({ logits: true }));
    const stats = graphStats(compiled.graphFor());
    // Distinct tensors referenced in place add up to the checkpoint (the tied head reuses the embedding's bytes).
    const distinct = new Map(stored.map((p) => [`${p.location.file}@${p.location.offset}`, p.storedBytes]));
    const referenced = [...distinct.values()].reduce((a, b) => a + b, 0);
    console.log(`# ${name}: ${stats.externalBytes} bytes in place (checkpoint tensors ${fileBytes}), ${stats.initializerBytes} bytes in the graph`);
    assert.equal(stats.externalBytes, referenced);
    assert.ok(referenced >= 0.97 * fileBytes, `at least 97% of the checkpoint is used in place (${referenced} of ${fileBytes})`);
    assert.ok(stats.initializerBytes < 0.02 * fileBytes, `the graph holds only small constants (${stats.initializerBytes} bytes)`);
    assert.deepEqual(ortTempDirs(), before, 'no temp folder');

    // The in-place program computes what the float64 reference engine computes from f32 copies.
    const ids = Int32Array.from([3, 17, 101, 42, 7, 99, 64]);
    const inputs = { input_ids: { shape: [1, ids.length], data: ids }, ...model.runtimeInputs(1, ids.length) };
    const ours = await compiled.run(inputs, ['logits']);
    const ref = await (await new ReferenceEngine().compile(model.program({ logits: true }))).run(inputs, ['logits']);
    let maxDiff = 0, maxAbs = 0;
    ours.logits.data.forEach((x, i) => { maxDiff = Math.max(maxDiff, Math.abs(x - ref.logits.data[i])); maxAbs = Math.max(maxAbs, Math.abs(ref.logits.data[i])); });
    assert.ok(maxDiff <= 1e-4 * Math.max(1, maxAbs), `logits agree with the reference engine: max diff ${maxDiff} (max |logit| ${maxAbs})`);
    await compiled.dispose();
  });
}

test('the unembedding comes straight from the checkpoint: W_U [vocab, d] as stored', async () => {
  const model = await loadModel(smallLmDir);
  const u = model.unembedding();
  const ckpt = openCheckpoint(smallLmDir);
  const wte = ckpt.getF32('transformer.wte.weight');
  assert.deepEqual(u.lmHead, wte, 'the tied head is the embedding as stored');
});

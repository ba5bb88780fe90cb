// Table-driven golden tests of the families ported in test/golden/hf_port.py and of those
// whose goldens the real transformers computed (test/golden/hf_real.py): every tiny
// checkpoint x every golden sequence x every engine (in-process onnx, tfjs, and the
// float64 reference), all L+1 hidden states and the logits. Same tolerance as
// golden.test.ts, 2e-5 * (1 + |golden|) (see there for the reasoning).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { fixturesRoot, hfRealGoldenIndex, hfRealTinyModelNames, portedGoldenIndex, portedTinyModelNames, tinyModelsDir } from '@tuned-lens/fixtures';
import { createEngine, ReferenceEngine, type Engine } from '@tuned-lens/engine';
import { loadModel, ModelRunner } from '../src/index';
import { openCheckpoint } from '@tuned-lens/formats';

interface GoldenIndex {
  sequences: Record<string, number[]>;
  models: Record<string, { model_type: string; num_hidden_layers: number; files: Record<string, { path: string }> }>;
}
const readIndex = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as GoldenIndex;
/** Each fixture set: its index file and the models the fixtures package lists for it. */
const suites: Array<{ file: string; index: GoldenIndex; models: readonly string[] }> = [
  { file: 'ported-index.json', index: readIndex(portedGoldenIndex), models: portedTinyModelNames },
  { file: 'hf-real-index.json', index: readIndex(hfRealGoldenIndex), models: hfRealTinyModelNames },
];

type EngineKind = 'onnx' | 'tfjs' | 'reference';
const engines: EngineKind[] = ['onnx', 'tfjs', 'reference'];
const engineCache = new Map<EngineKind, Promise<Engine>>();
const engineFor = (k: EngineKind) => {
  let e = engineCache.get(k);
  if (!e) { e = k === 'reference' ? Promise.resolve(new ReferenceEngine()) : createEngine(k); engineCache.set(k, e); }
  return e;
};
after(async () => { for (const e of engineCache.values()) await (await e).dispose?.(); });

const TOL = 2e-5;

function maxError(got: Float32Array, want: Float32Array): { abs: number; scaled: number } {
  assert.equal(got.length, want.length, 'length');
  let abs = 0, scaled = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= abs)) abs = e; // NaN-safe: a NaN error becomes the max
    const s = e / (1 + Math.abs(want[i]));
    if (!(s <= scaled)) scaled = s;
  }
  return { abs, scaled };
}

test('every listed fixture model is in its golden index, and every indexed model is listed', () => {
  for (const { file, index, models } of suites) {
    for (const m of models) assert.ok(index.models[m], `${m} has no entry in ${file}`);
    assert.deepEqual(Object.keys(index.models).sort(), [...models].sort(), `${file} vs the fixtures package's list`);
  }
});

for (const engineKind of engines) {
  for (const { index, models } of suites) for (const model of models) {
    test(`${model} on ${engineKind}: hidden states and logits match the goldens`, async () => {
      const entry = index.models[model];
      const loaded = await loadModel(join(tinyModelsDir, model));
      assert.equal(loaded.dims.modelType, entry.model_type);
      const runner = new ModelRunner(loaded, await engineFor(engineKind));
      const L = entry.num_hidden_layers;
      assert.equal(loaded.dims.numLayers, L);
      let worst = 0;
      try {
        for (const [seqName, ids] of Object.entries(index.sequences)) {
          const golden = openCheckpoint(join(fixturesRoot, entry.files[seqName].path));
          const out = await runner.forward({ inputIds: Int32Array.from(ids), batch: 1, seq: ids.length, logits: true });
          for (let i = 0; i <= L; i++) {
            const err = maxError(out.hiddenStates.get(i)!, golden.getF32(`hidden_states.${i}`));
            worst = Math.max(worst, err.abs);
            assert.ok(err.scaled <= TOL, `${model} ${seqName} hidden_states.${i}: max error ${err.abs} (scaled ${err.scaled}) > ${TOL}`);
          }
          const err = maxError(out.logits!, golden.getF32('logits'));
          worst = Math.max(worst, err.abs);
          assert.ok(err.scaled <= TOL, `${model} ${seqName} logits: max error ${err.abs} (scaled ${err.scaled}) > ${TOL}`);
        }
      } finally {
        console.log(`# ${model} ${engineKind} max abs error over all hidden states and logits: ${worst.toExponential(2)}`);
        await runner.dispose();
      }
    });
  }
}

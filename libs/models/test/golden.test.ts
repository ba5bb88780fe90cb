// Table-driven golden tests: every tiny checkpoint x every golden sequence x every
// engine, all L+1 hidden states and the logits against the float64 goldens (HF
// semantics, computed from the same rounded weights by an independent implementation).
//
// Tolerance: the goldens are exact float64 results rounded to f32; we compute in f32.
// Each block adds a few ulps of relative error per accumulation (d = 64 here, so sums
// of 64-256 terms), and layer norms rescale it; after 3 blocks we see max abs errors of
// a few 1e-6 on values of magnitude ~1-10 (measured: see the printed table). We allow
// 2e-5 * (1 + |golden|), i.e. ~1e-5 relative as the issue expects, which is still ~100x
// below any real bug we have seen (a wrong rotary half or norm eps shows up at 1e-2).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { goldenDir, tinyModelsDir, tinyModelNames, fixturesRoot } from '@tuned-lens/fixtures';
import { createEngine, type Engine } from '@tuned-lens/engine';
import { loadModel, ModelRunner } from '../src/index';
import { openCheckpoint } from '@tuned-lens/formats';

const index = JSON.parse(readFileSync(join(goldenDir, 'index.json'), 'utf8')) as {
  sequences: Record<string, number[]>;
  models: Record<string, { num_hidden_layers: number; files: Record<string, { path: string }> }>;
};
const engines: Array<'onnx' | 'tfjs'> = ['onnx', 'tfjs'];
const engineCache = new Map<string, Promise<Engine>>();
const engineFor = (k: 'onnx' | 'tfjs') => {
  let e = engineCache.get(k);
  if (!e) { e = createEngine(k); engineCache.set(k, e); }
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

for (const engineKind of engines) {
  for (const model of tinyModelNames) {
    test(`${model} on ${engineKind}: hidden states and logits match the goldens`, async () => {
      const loaded = await loadModel(join(tinyModelsDir, model));
      const runner = new ModelRunner(loaded, await engineFor(engineKind));
      const L = index.models[model].num_hidden_layers;
      assert.equal(loaded.dims.numLayers, L);
      const rows: string[] = [];
      try {
        for (const [seqName, ids] of Object.entries(index.sequences)) {
          const golden = openCheckpoint(join(fixturesRoot, index.models[model].files[seqName].path));
          const out = await runner.forward({ inputIds: Int32Array.from(ids), batch: 1, seq: ids.length, logits: true });
          for (let i = 0; i <= L; i++) {
            const err = maxError(out.hiddenStates.get(i)!, golden.getF32(`hidden_states.${i}`));
            rows.push(`${seqName} h${i} ${err.abs.toExponential(2)}`);
            assert.ok(err.scaled <= TOL, `${model} ${seqName} hidden_states.${i}: max error ${err.abs} (scaled ${err.scaled}) > ${TOL}`);
          }
          const err = maxError(out.logits!, golden.getF32('logits'));
          rows.push(`${seqName} logits ${err.abs.toExponential(2)}`);
          assert.ok(err.scaled <= TOL, `${model} ${seqName} logits: max error ${err.abs} (scaled ${err.scaled}) > ${TOL}`);
        }
      } finally {
        console.log(`# ${model} ${engineKind} max abs errors: ${rows.join('; ')}`);
        await runner.dispose();
      }
    });
  }
}

test('a batch of several sequences gives each row what it gives alone', async () => {
  const loaded = await loadModel(join(tinyModelsDir, 'tiny-llama'));
  const runner = new ModelRunner(loaded, await engineFor('onnx'));
  const a = index.sequences.seq32.slice(0, 16), b = index.sequences.seq32.slice(16, 32);
  const both = await runner.forward({ inputIds: Int32Array.from([...a, ...b]), batch: 2, seq: 16 });
  const alone = await runner.forward({ inputIds: Int32Array.from(b), batch: 1, seq: 16 });
  const d = loaded.dims.dModel;
  const err = maxError(both.hiddenStates.get(3)!.subarray(16 * d), alone.hiddenStates.get(3)!);
  assert.ok(err.abs < 1e-5, `row 1 differs from running it alone by ${err.abs}`);
  await runner.dispose();
});

test('the residual convention gives the last block output before the final norm', async () => {
  const loaded = await loadModel(join(tinyModelsDir, 'tiny-gpt2'));
  const runner = new ModelRunner(loaded, await engineFor('onnx'));
  const ids = Int32Array.from(index.sequences.seq7);
  const hf = await runner.forward({ inputIds: ids, batch: 1, seq: 7, layers: [3] });
  const raw = await runner.forward({ inputIds: ids, batch: 1, seq: 7, layers: [3], convention: 'residual' });
  // Applying ln_f to the raw residual by hand must give the HF hidden state.
  const d = loaded.dims.dModel, eps = loaded.config.normEps;
  const w = loaded.params.get('ln_f.w')!.data, b = loaded.params.get('ln_f.b')!.data;
  const r = raw.hiddenStates.get(3)!, h = hf.hiddenStates.get(3)!;
  for (let t = 0; t < 7; t++) {
    const row = r.subarray(t * d, (t + 1) * d);
    const mean = row.reduce((s, v) => s + v, 0) / d;
    const varr = row.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
    for (let j = 0; j < d; j++) {
      const want = ((row[j] - mean) / Math.sqrt(varr + eps)) * w[j] + b[j];
      assert.ok(Math.abs(h[t * d + j] - want) < 1e-4, `t${t} j${j}: ${h[t * d + j]} vs ${want}`);
    }
  }
  assert.ok(Math.abs(r[0] - h[0]) > 1e-3, 'raw residual differs from the normed state');
  await runner.dispose();
});

test('bad requests are refused with messages naming the problem', async () => {
  const loaded = await loadModel(join(tinyModelsDir, 'tiny-gpt2'));
  const runner = new ModelRunner(loaded, await engineFor('onnx'));
  assert.throws(() => runner.validate({ inputIds: Int32Array.from([1, 4096]), batch: 1, seq: 2 }), /token id 4096 at \[0, 1\] is outside the vocabulary \(0\.\.4095\)/);
  assert.throws(() => runner.validate({ inputIds: new Int32Array(129), batch: 1, seq: 129 }), /exceeds the model's context length 128/);
  assert.throws(() => runner.validate({ inputIds: new Int32Array(4), batch: 1, seq: 3 }), /input_ids has 4 ids/);
  assert.throws(() => runner.validate({ inputIds: new Int32Array(2), batch: 1, seq: 2, layers: [4] }), /out of range 0\.\.3/);
  await runner.dispose();
});

// The unembedding each ported or hf_real family exposes (final norm + LM head, as the lens
// code applies it, then Gemma 2's final soft-capping when the spec carries it) turns the raw
// last residual into the model's golden logits; OPT without a final norm, or with
// project_out, refuses with a message saying why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { fixturesRoot, hfRealGoldenIndex, hfRealTinyModelNames, portedGoldenIndex, portedTinyModelNames, tinyModelsDir } from '@tuned-lens/fixtures';
import { ReferenceEngine } from '@tuned-lens/engine';
import { loadModel, ModelRunner, type UnembeddingTensors } from '../src/index';
import { openCheckpoint } from '@tuned-lens/formats';

type Index = { sequences: Record<string, number[]>; models: Record<string, { num_hidden_layers: number; files: Record<string, { path: string }> }> };
const readIndex = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Index;
const suites: Array<{ index: Index; models: readonly string[] }> = [
  { index: readIndex(portedGoldenIndex), models: portedTinyModelNames },
  { index: readIndex(hfRealGoldenIndex), models: hfRealTinyModelNames },
];
const withoutUnembedding = new Set(['tiny-opt-post-ln']);

/** logits [T, vocab] = head(norm(residual [T, d])) in float64, from the spec alone. */
function unembed(u: UnembeddingTensors, residual: Float32Array, d: number): Float64Array {
  const T = residual.length / d, V = u.lmHead.length / d;
  const out = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    const x = residual.subarray(t * d, (t + 1) * d);
    const n = new Float64Array(d);
    if (u.spec.norm === 'layer_norm') {
      const mean = x.reduce((s, v) => s + v, 0) / d;
      const inv = 1 / Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / d + u.spec.eps);
      for (let j = 0; j < d; j++) n[j] = (x[j] - mean) * inv * u.normWeight[j] + (u.normBias?.[j] ?? 0);
    } else {
      const inv = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / d + u.spec.eps);
      const plusOne = u.spec.norm === 'rms_norm_plus_one' ? 1 : 0;
      for (let j = 0; j < d; j++) n[j] = x[j] * inv * (plusOne + u.normWeight[j]);
    }
    const cap = u.spec.logitSoftcap;
    for (let v = 0; v < V; v++) {
      let s = u.lmHeadBias?.[v] ?? 0;
      for (let j = 0; j < d; j++) s += n[j] * u.lmHead[v * d + j];
      out[t * V + v] = cap === undefined ? s : cap * Math.tanh(s / cap);
    }
  }
  return out;
}

for (const { index, models } of suites) for (const model of models) {
  test(`${model}: the unembedding of residual.L gives the golden logits${withoutUnembedding.has(model) ? ' (or is refused)' : ''}`, async () => {
    const loaded = await loadModel(join(tinyModelsDir, model));
    if (withoutUnembedding.has(model)) {
      assert.throws(() => loaded.unembedding(), /only defined for pre-LN OPT .*do_layer_norm_before false.*the forward pass \(hidden states, logits\) is exact/);
      return;
    }
    const runner = new ModelRunner(loaded, new ReferenceEngine());
    const ids = index.sequences.seq7;
    const L = loaded.dims.numLayers, d = loaded.dims.dModel;
    const out = await runner.forward({ inputIds: Int32Array.from(ids), batch: 1, seq: ids.length, layers: [L], convention: 'residual' });
    const logits = unembed(loaded.unembedding(), out.hiddenStates.get(L)!, d);
    const golden = openCheckpoint(join(fixturesRoot, index.models[model].files.seq7.path)).getF32('logits');
    let worst = 0;
    for (let i = 0; i < golden.length; i++) worst = Math.max(worst, Math.abs(logits[i] - golden[i]) / (1 + Math.abs(golden[i])));
    assert.ok(worst <= 2e-5, `${model}: unembedded residual differs from the golden logits by ${worst} (scaled)`);
    await runner.dispose();
  });
}

test('gemma2: the spec carries final_logit_softcapping when set, nothing when null', async () => {
  assert.equal((await loadModel(join(tinyModelsDir, 'tiny-gemma2'))).unembedding().spec.logitSoftcap, 8);
  assert.equal('logitSoftcap' in (await loadModel(join(tinyModelsDir, 'tiny-gemma2-nocap'))).unembedding().spec, false);
});

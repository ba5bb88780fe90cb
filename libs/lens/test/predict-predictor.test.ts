// LensPredictor against the float64 oracle (plain loops from the definitions), on the
// reference engine and on onnxruntime (the default engine), for LayerNorm and RMSNorm
// unembeddings, logit and tuned lenses; slicing must not change anything.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxEngine, ReferenceEngine, makeRng, type Engine } from '@tuned-lens/engine';
import { LensPredictor, type PositionResult, type SequenceStates } from '../src/predict/index';
import type { Unembedding } from '../src/math/index';
import type { TunedLensWeights } from '../src/lens/tunedLens';
import { oracleCell, oracleDistances, oracleLogProbs } from './predict-oracle';

const d = 8, V = 37, L = 3, T = 6;
const rng = makeRng(21);
const randn = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);

function unembedding(norm: Unembedding['norm']): Unembedding {
  return {
    norm, eps: 1e-5, dModel: d, vocabSize: V,
    normWeight: Float32Array.from({ length: d }, () => 0.5 + rng.next()),
    normBias: norm === 'layer_norm' ? randn(d, 0.1) : undefined,
    lmHead: randn(V * d), lmHeadBias: norm === 'layer_norm' ? randn(V, 0.3) : undefined,
  };
}

function sequence(u: Unembedding): SequenceStates {
  const hiddenStates = new Map<number, Float32Array>();
  for (let l = 0; l < L; l++) hiddenStates.set(l, randn(T * d, 1 + l));
  // hidden state L is already through the final norm (HF convention)
  hiddenStates.set(L, randn(T * d, 1));
  return { inputIds: Int32Array.from({ length: T }, () => Math.floor(rng.next() * u.vocabSize)), hiddenStates };
}

const tuned: TunedLensWeights = { dModel: d, translators: Array.from({ length: L }, () => ({ weight: randn(d * d, 0.2), bias: randn(d, 0.2) })) };

const engines: Array<[string, () => Engine, number]> = [
  ['reference', () => new ReferenceEngine(), 1e-5],
  ['onnx', () => new OnnxEngine(), 2e-4],
];
const open: LensPredictor[] = [];
after(async () => { for (const p of open) await p.dispose(); });

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

for (const [name, make, tol] of engines) {
  for (const norm of ['layer_norm', 'rms_norm'] as const) {
    test(`${name}, ${norm}: every cell equals the float64 oracle (logit and tuned lens, model row)`, async () => {
      const u = unembedding(norm);
      const seq = sequence(u);
      const p = await LensPredictor.create(make(), u, L);
      open.push(p);
      const layers = [2, 0];
      const positions = await collect(p.predict(seq, {
        layers, lenses: [{ kind: 'logit' }, { kind: 'tuned', weights: tuned }], topK: 5,
        fullCells: [{ layer: 0, position: 1 }, { layer: L, position: 5 }],
      }));
      assert.deepEqual(positions.map((x) => x.position), [0, 1, 2, 3, 4, 5]);
      const model = oracleLogProbs(u, seq.hiddenStates.get(L)!, null, { normed: true });
      const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
      for (const pos of positions) {
        const t = pos.position;
        assert.equal(pos.tokenId, seq.inputIds[t]);
        const target = t + 1 < T ? seq.inputIds[t + 1] : -1;
        assert.deepEqual(pos.cells.map((c) => `${c.lens}:${c.layer}`), ['logit:2', 'logit:0', 'tuned:2', 'tuned:0', `model:${L}`]);
        for (const c of pos.cells) {
          const translator = c.lens === 'tuned' ? tuned.translators[c.layer] : null;
          const logq = c.lens === 'model' ? model[t] : oracleLogProbs(u, seq.hiddenStates.get(c.layer)!.subarray(t * d, (t + 1) * d), translator)[0];
          const o = oracleCell(logq, target, c.lens === 'model' ? undefined : model[t]);
          const what = `${c.lens} layer ${c.layer} position ${t}`;
          close(c.entropy, o.entropy, `${what} entropy`);
          close(c.maxProb, o.maxProb, `${what} max`);
          if (c.lens === 'model') assert.equal(c.klToModel, 0);
          else close(c.klToModel, o.kl, `${what} kl`);
          if (target < 0) {
            assert.ok(Number.isNaN(c.crossEntropy));
            assert.equal(c.targetRank, 0);
          } else {
            close(c.crossEntropy, o.crossEntropy, `${what} ce`);
            assert.equal(c.targetRank, o.rank, `${what} rank`);
          }
          assert.deepEqual(c.top.map((x) => x.id), o.order.slice(0, 5), `${what} top-5`);
          c.top.forEach((x, i) => close(x.prob, o.probs[o.order[i]], `${what} top prob ${i}`));
          const wantFull = (c.layer === 0 && t === 1) || (c.layer === L && t === 5);
          assert.equal(c.fullLogProbs !== undefined, wantFull, `${what} full distribution`);
          if (c.fullLogProbs) c.fullLogProbs.forEach((x, v) => close(x, logq[v], `${what} full[${v}]`));
        }
      }
      // slicing (2 rows per call) changes nothing
      const sliced = await collect(p.predict(seq, { layers, lenses: [{ kind: 'logit' }, { kind: 'tuned', weights: tuned }], topK: 5, rowsPerCall: 2 }));
      const strip = (xs: PositionResult[]) => xs.map((x) => ({ ...x, cells: x.cells.map(({ fullLogProbs: _f, ...rest }) => rest) }));
      assert.deepEqual(strip(sliced), strip(positions));
    });
  }

  test(`${name}: compare equals the textbook KL / JS / TV between the two inputs' distributions`, async () => {
    const u = unembedding('layer_norm');
    const a = sequence(u), b = sequence(u);
    b.inputIds = b.inputIds.subarray(0, T - 2);
    for (const [l, h] of b.hiddenStates) b.hiddenStates.set(l, h.subarray(0, (T - 2) * d));
    const p = await LensPredictor.create(make(), u, L);
    open.push(p);
    const out = await collect(p.compare(a, b, { layers: [1], lens: { kind: 'tuned', weights: tuned }, topK: 3, rowsPerCall: 3 }));
    assert.equal(out.length, T - 2, 'the shorter input sets the positions');
    for (const pos of out) {
      const t = pos.position;
      assert.deepEqual(pos.cells.map((c) => c.layer), [1, L]);
      for (const c of pos.cells) {
        const row = (s: SequenceStates) => (c.layer === L
          ? oracleLogProbs(u, s.hiddenStates.get(L)!.subarray(t * d, (t + 1) * d), null, { normed: true })[0]
          : oracleLogProbs(u, s.hiddenStates.get(1)!.subarray(t * d, (t + 1) * d), tuned.translators[1])[0]);
        const want = oracleDistances(row(a), row(b));
        for (const k of ['kl', 'js', 'tv'] as const) assert.ok(Math.abs(c[k] - want[k]) <= tol * 10 * (1 + want[k]), `${k} at ${c.layer}/${t}: ${c[k]} vs ${want[k]}`);
        assert.equal(c.largestDeltas.length, 3);
      }
    }
  });
}

test('bad layers and lenses of another shape are refused with RangeError', async () => {
  const u = unembedding('rms_norm');
  const p = await LensPredictor.create(new ReferenceEngine(), u, L);
  open.push(p);
  const seq = sequence(u);
  await assert.rejects(collect(p.predict(seq, { layers: [L], lenses: [{ kind: 'logit' }], topK: 1 })), /layer 3 is out of range: lensed layers are 0\.\.2/);
  const wrong: TunedLensWeights = { dModel: d, translators: tuned.translators.slice(0, 2) };
  await assert.rejects(collect(p.predict(seq, { layers: [0], lenses: [{ kind: 'tuned', weights: wrong }], topK: 1 })), /2 translators of width 8; the model needs 3/);
});

// Trajectory statistics on small analytic cases, and the true JS / TV definitions
// (the original's "js_divergence" and "total_variation" were not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRng } from '@tuned-lens/engine';
import { distributionDistances, rowStatistics, TopK } from '../src/predict/index';
import { oracleCell, oracleDistances } from './predict-oracle';

const close = (a: number, b: number, tol = 1e-9, what = '') => assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
const logs = (ps: number[]) => Float32Array.from(ps, Math.log);

test('uniform distribution: entropy ln V, CE ln V, rank 1, max 1/V, top-k ties by lower id', () => {
  const V = 8;
  const row = new Float32Array(V).fill(-Math.log(V));
  const s = rowStatistics(row, { topK: 3, target: 5, modelLogProbs: row });
  close(s.entropy, Math.log(V), 1e-7, 'entropy');
  close(s.crossEntropy, Math.log(V), 1e-7, 'ce');
  assert.equal(s.targetRank, 1);
  close(s.maxProb, 1 / V, 1e-7, 'max');
  close(s.klToModel, 0, 1e-7, 'kl');
  assert.deepEqual(s.top.map((x) => x.id), [0, 1, 2]);
});

test('a known distribution: entropy, KL to a uniform model, CE, rank with ties, top-k order', () => {
  // q = [0.5, 0.25, 0.125, 0.125]; model = uniform over 4.
  const q = [0.5, 0.25, 0.125, 0.125];
  const s = rowStatistics(logs(q), { topK: 4, target: 3, modelLogProbs: logs([0.25, 0.25, 0.25, 0.25]) });
  close(s.entropy, 1.75 * Math.LN2, 1e-7, 'entropy'); // 0.5*1 + 0.25*2 + 2*0.125*3 bits
  close(s.klToModel, 0.25 * (Math.log(0.25 / 0.5) + Math.log(0.25 / 0.25) + 2 * Math.log(0.25 / 0.125)), 1e-7, 'kl');
  close(s.crossEntropy, 3 * Math.LN2, 1e-7, 'ce');
  assert.equal(s.targetRank, 3, 'ties share the best rank: ids 2 and 3 both rank 3');
  assert.deepEqual(s.top.map((x) => x.id), [0, 1, 2, 3]);
  assert.deepEqual(s.top.map((x) => Number(x.prob.toFixed(6))), q);
  close(s.maxProb, 0.5, 1e-7, 'max');
  // no target (last position) and no model
  const last = rowStatistics(logs(q), { topK: 1 });
  assert.ok(Number.isNaN(last.crossEntropy));
  assert.equal(last.targetRank, 0);
  assert.ok(Number.isNaN(last.klToModel));
});

test('unnormalised rows (logits) give the same statistics as their log-softmax', () => {
  const rng = makeRng(3);
  const logits = Float32Array.from({ length: 50 }, () => rng.normal() * 3);
  const z = Math.log(Array.from(logits).reduce((a, x) => a + Math.exp(x), 0));
  const norm = logits.map((x) => x - z);
  const a = rowStatistics(logits, { topK: 5, target: 7, modelLogProbs: norm });
  const b = rowStatistics(norm, { topK: 5, target: 7, modelLogProbs: logits });
  for (const k of ['entropy', 'crossEntropy', 'klToModel', 'maxProb'] as const) close(a[k], b[k], 1e-6, k);
  assert.equal(a.targetRank, b.targetRank);
  assert.deepEqual(a.top.map((x) => x.id), b.top.map((x) => x.id));
  // and both agree with the float64 oracle
  const o = oracleCell(Float64Array.from(norm), 7, Float64Array.from(norm));
  close(a.entropy, o.entropy, 1e-6, 'oracle entropy');
  assert.equal(a.targetRank, o.rank);
  assert.deepEqual(a.top.map((x) => x.id), o.order.slice(0, 5));
});

test('zero probabilities: entropy stays finite, KL to a model with mass there is infinite', () => {
  const q = Float32Array.of(0, -Infinity, -Infinity);
  const s = rowStatistics(q, { topK: 2, target: 1, modelLogProbs: logs([0.5, 0.5, 0]) });
  close(s.entropy, 0, 0, 'entropy');
  assert.equal(s.crossEntropy, Infinity);
  assert.equal(s.klToModel, Infinity);
  assert.equal(s.targetRank, 2);
});

test('TopK keeps the k largest, largest first, earlier index on ties', () => {
  const t = new TopK(3);
  [5, 1, 9, 9, 3, 7].forEach((v, i) => t.push(i, v));
  assert.deepEqual([...t.ids.subarray(0, t.size)], [2, 3, 5]);
  assert.deepEqual([...t.values.subarray(0, t.size)], [9, 9, 7]);
  const none = new TopK(0);
  none.push(0, 1);
  assert.equal(none.size, 0);
});

test('distances: identical, disjoint and a case where TV != max |p - q| and JS != half Jeffreys', () => {
  const p = logs([0.4, 0.4, 0.1, 0.1]);
  const same = distributionDistances(p, p, 2);
  close(same.kl, 0, 1e-7, 'kl'); close(same.js, 0, 1e-7, 'js'); close(same.tv, 0, 1e-7, 'tv');

  const disjoint = distributionDistances(logs([1, 0]), logs([0, 1]));
  close(disjoint.js, Math.LN2, 1e-12, 'js of disjoint = ln 2');
  close(disjoint.tv, 1, 1e-12, 'tv of disjoint = 1');
  assert.equal(disjoint.kl, Infinity);

  const q = logs([0.1, 0.1, 0.4, 0.4]);
  const d = distributionDistances(p, q, 4);
  close(d.tv, 0.6, 1e-7, 'TV = 1/2 sum |p - q|'); // the original's max |p - q| would say 0.3
  const kl = 0.4 * Math.log(4) * 2 + 0.1 * Math.log(0.25) * 2; // KL(P||Q)
  close(d.kl, kl, 1e-6, 'kl');
  // M = [0.25]*4: JS = 1/2 KL(P||M) + 1/2 KL(Q||M) = KL(P||M) by symmetry here
  const klPM = 2 * 0.4 * Math.log(0.4 / 0.25) + 2 * 0.1 * Math.log(0.1 / 0.25);
  close(d.js, klPM, 1e-6, 'js');
  const halfJeffreys = 0.5 * kl + 0.5 * kl;
  assert.ok(Math.abs(d.js - halfJeffreys) > 0.1, 'not the original half-Jeffreys value');
  assert.ok(d.js <= Math.LN2 + 1e-12);
  // largest deltas: q - p, by |delta|, ties by lower id
  assert.deepEqual(d.largestDeltas.map((x) => x.id), [0, 1, 2, 3]);
  close(d.largestDeltas[0].delta, -0.3, 1e-6, 'delta'); close(d.largestDeltas[2].delta, 0.3, 1e-6, 'delta');
});

test('distances agree with the textbook formulas on random distributions', () => {
  const rng = makeRng(11);
  for (let trial = 0; trial < 20; trial++) {
    const V = 2 + Math.floor(rng.next() * 60);
    const a = Float32Array.from({ length: V }, () => rng.normal() * 2);
    const b = Float32Array.from({ length: V }, () => rng.normal() * 2);
    const got = distributionDistances(a, b);
    const want = oracleDistances(a, b);
    close(got.kl, want.kl, 1e-9, 'kl'); close(got.js, want.js, 1e-9, 'js'); close(got.tv, want.tv, 1e-9, 'tv');
    assert.ok(got.js >= 0 && got.js <= Math.LN2 && got.tv >= 0 && got.tv <= 1);
  }
});

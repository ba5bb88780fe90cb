// An untrained (zero-initialised) tuned lens is exactly the logit lens: z = h + h 0^T + 0
// is h to the bit, so everything after it is the same computation.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxEngine, ReferenceEngine, makeRng, type Engine, type Ops, type TensorProgram } from '@tuned-lens/engine';
import { lensLogProbsProgram, unembed, unembeddingParams, zeroTunedLens, type Unembedding } from '../src/index';

const d = 8, V = 13, N = 6;
const rng = makeRng(3);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
const engines: Engine[] = [];
after(async () => { for (const e of engines) await e.dispose?.(); });

for (const norm of ['layer_norm', 'rms_norm'] as const) {
  test(`${norm}: zero translators give the logit lens bit for bit`, async () => {
    const u: Unembedding = { norm, eps: 1e-5, dModel: d, vocabSize: V, normWeight: randn(d), normBias: norm === 'layer_norm' ? randn(d) : undefined, lmHead: randn(V * d), lmHeadBias: randn(V) };
    const logitLens: TensorProgram = {
      name: 'logit-lens', params: unembeddingParams(u), inputs: { h: { dtype: 'f32', rank: 2 } }, outputs: ['logq'],
      fn<T>(ops: Ops<T>) { ops.output('logq', ops.logSoftmax(unembed(ops, u, ops.input('h')))); },
    };
    const h = randn(N * d);
    const zero = zeroTunedLens(1, d).translators[0];
    for (const engine of [new ReferenceEngine(), new OnnxEngine({ intraOpNumThreads: 1 })]) {
      engines.push(engine);
      const tuned = await (await engine.compile(lensLogProbsProgram(u))).run({
        h: { shape: [N, d], data: h }, weight: { shape: [d, d], data: zero.weight }, bias: { shape: [d], data: zero.bias! },
      });
      const logit = await (await engine.compile(logitLens)).run({ h: { shape: [N, d], data: h } });
      assert.deepEqual(tuned.logq.data, logit.logq.data, `${engine.name}: untrained tuned lens == logit lens exactly`);
    }
  });
}

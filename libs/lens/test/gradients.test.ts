// The hand-written translator gradients: against central finite differences of the
// float64 reference engine (exact arithmetic up to ~1e-12, so FD error dominates), and
// against tfjs autograd of the same loss written with tf ops; for LayerNorm and RMSNorm
// unembeddings, KL and CE. The KL step's loss is also checked against the textbook
// sum_v p (log p - log q) of lensMetricsProgram, so the rewritten loss (see lensStep.ts)
// and, through the finite differences, its gradients are those of the KL divergence.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ReferenceEngine, ReferenceProgram, OnnxEngine, TfjsEngine, makeRng, tfjsOps, type Engine } from '@tuned-lens/engine';
import { klTargetProgram, lensMetricsProgram, lensStepProgram, targetProgram, type Unembedding, type LossKind } from '../src/math/index';

const d = 6, V = 11, N = 5;
const rng = makeRng(7);
const randn = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);

function unembedding(norm: Unembedding['norm']): Unembedding {
  return {
    norm, eps: 1e-5, dModel: d, vocabSize: V,
    normWeight: Float32Array.from({ length: d }, () => 0.5 + rng.next()),
    normBias: norm === 'layer_norm' ? randn(d, 0.1) : undefined,
    lmHead: randn(V * d), lmHeadBias: randn(V, 0.1),
  };
}

const h = randn(N * d, 2);
const W = randn(d * d, 0.3);
const b = randn(d, 0.3);
const labels = Int32Array.from({ length: N }, () => Math.floor(rng.next() * V));
const hFinal = randn(N * d, 2);

async function inputsFor(u: Unembedding, loss: LossKind, w: Float32Array, bias: Float32Array) {
  const base = {
    h: { shape: [N, d], data: h }, weight: { shape: [d, d], data: w }, bias: { shape: [d], data: bias },
    inv_count: { shape: [1], data: Float32Array.of(1 / N) },
  };
  if (loss === 'ce') return { ...base, labels: { shape: [N], data: labels } };
  const target = await new ReferenceEngine().compile(klTargetProgram(u));
  const t = await target.run({ h_final: { shape: [N, d], data: hFinal } });
  return { ...base, p_head: { shape: [N, d], data: t.p_head.data }, p_const: { shape: [N, 1], data: t.p_const.data } };
}

for (const [norm, headBias] of [['layer_norm', true], ['rms_norm', true], ['layer_norm', false]] as const) {
  test(`${norm}, ${headBias ? 'with' : 'without'} an LM-head bias: the KL step's loss is the textbook KL(p || q) (float64 reference)`, async () => {
    const u = { ...unembedding(norm), ...(headBias ? {} : { lmHeadBias: undefined }) };
    const ref = new ReferenceEngine();
    const logp = (await (await ref.compile(targetProgram(u))).run({ h_final: { shape: [N, d], data: hFinal } })).target_logp;
    const textbook = await (await ref.compile(lensMetricsProgram(u))).run({
      h: { shape: [N, d], data: h }, weight: { shape: [d, d], data: W }, bias: { shape: [d], data: b },
      target_logp: logp, labels: { shape: [N], data: labels },
    });
    const step = new ReferenceProgram(lensStepProgram(u, 'kl')).runF64(await inputsFor(u, 'kl', W, b), ['loss']);
    const want = textbook.kl_sum.data[0] / N, got = step[0][1].data[0];
    assert.ok(want > 0.1, `a KL worth comparing (${want})`);
    assert.ok(Math.abs(got - want) <= 1e-6 * want, `step loss ${got} vs textbook KL ${want}`);
  });
}

for (const [norm, headBias] of [['layer_norm', true], ['rms_norm', true], ['rms_norm', false]] as const) {
  for (const loss of ['kl', 'ce'] as const) {
    test(`${norm} ${loss}${headBias ? '' : ', no LM-head bias'}: gradients equal central finite differences (float64 reference)`, async () => {
      const u = { ...unembedding(norm), ...(headBias ? {} : { lmHeadBias: undefined }) };
      const prog = new ReferenceProgram(lensStepProgram(u, loss));
      const lossAt = async (w: Float32Array, bias: Float32Array) => {
        const out = prog.runF64(await inputsFor(u, loss, w, bias), ['loss']);
        return out[0][1].data[0];
      };
      const grads = new Map(prog.runF64(await inputsFor(u, loss, W, b)).map(([k, t]) => [k, t.data]));
      const eps = 1e-3;
      // every bias entry and a spread of weight entries
      for (const [name, arr, idxs] of [['grad_bias', b, [0, 1, 2, 3, 4, 5]], ['grad_weight', W, [0, 7, 14, 20, 29, 35]]] as const) {
        for (const i of idxs) {
          const plus = arr.slice(), minus = arr.slice();
          plus[i] += eps; minus[i] -= eps;
          const [wp, bp] = name === 'grad_bias' ? [W, plus] : [plus, b];
          const [wm, bm] = name === 'grad_bias' ? [W, minus] : [minus, b];
          // the inputs are f32: use the perturbation actually applied
          const step = (name === 'grad_bias' ? bp[i] - bm[i] : wp[i] - wm[i]);
          const fd = ((await lossAt(wp, bp)) - (await lossAt(wm, bm))) / step;
          const g = grads.get(name)![i];
          assert.ok(Math.abs(fd - g) <= 1e-5 + 1e-4 * Math.abs(g), `${name}[${i}]: analytic ${g} vs finite difference ${fd}`);
        }
      }
      assert.ok(grads.get('loss')![0] > 0, 'loss is positive');
    });
  }
}

const engines: Engine[] = [];
after(async () => { for (const e of engines) await e.dispose?.(); });

test('onnx and tfjs give the reference gradients; tfjs autograd agrees with the hand-written backward', async () => {
  const onnx = new OnnxEngine({ intraOpNumThreads: 1 });
  const tfjs = await TfjsEngine.create();
  engines.push(onnx, tfjs);
  for (const norm of ['layer_norm', 'rms_norm'] as const) {
    for (const loss of ['kl', 'ce'] as const) {
      const u = unembedding(norm);
      const program = lensStepProgram(u, loss);
      const inputs = await inputsFor(u, loss, W, b);
      const want = await (await new ReferenceEngine().compile(program)).run(inputs);
      for (const engine of [onnx, tfjs]) {
        const got = await (await engine.compile(program)).run(inputs);
        for (const k of ['loss', 'grad_weight', 'grad_bias']) {
          const scale = Math.max(...Array.from(want[k].data, Math.abs));
          want[k].data.forEach((v, i) => assert.ok(Math.abs(got[k].data[i] - v) <= 1e-5 * Math.max(1, scale), `${engine.name} ${norm} ${loss} ${k}[${i}]: ${got[k].data[i]} vs ${v}`));
        }
      }
      // autograd: the same loss as a tf function of (W, b), differentiated by tfjs
      const tf = tfjs.tf;
      type Tensor = ReturnType<typeof tf.tensor>;
      const lossFn = (w: Tensor, bias: Tensor) => {
        const program2 = lensStepProgram(u, loss);
        const params = new Map([...program2.params].map(([k, v]) => [k, tf.tensor(v.data as Float32Array, v.shape)]));
        const inputTensors: Record<string, Tensor> = {
          h: tf.tensor(h, [N, d]), weight: w, bias, inv_count: tf.tensor([1 / N], [1]),
          ...(loss === 'kl'
            ? Object.fromEntries((['p_head', 'p_const'] as const).map((k) => { const x = (inputs as Record<typeof k, { shape: number[]; data: Float32Array }>)[k]; return [k, tf.tensor(x.data, x.shape)]; }))
            : { labels: tf.tensor(labels, [N], 'int32') }),
        };
        let out: Tensor | undefined;
        const o = tfjsOps(tf, { param: (n: string) => params.get(n)!, input: (n: string) => inputTensors[n], output: (n: string, x: Tensor) => { if (n === 'loss') out = x; } });
        program2.fn(o);
        return out!.sum();
      };
      const [gw, gb] = tf.grads(lossFn as never)([tf.tensor(W, [d, d]), tf.tensor(b, [d])]);
      const autoW = await gw.data(), autoB = await gb.data();
      want.grad_weight.data.forEach((v, i) => assert.ok(Math.abs(autoW[i] - v) <= 1e-5 * Math.max(1, Math.abs(v)), `autograd ${norm} ${loss} dW[${i}] ${autoW[i]} vs ${v}`));
      want.grad_bias.data.forEach((v, i) => assert.ok(Math.abs(autoB[i] - v) <= 1e-5 * Math.max(1, Math.abs(v)), `autograd ${norm} ${loss} db[${i}] ${autoB[i]} vs ${v}`));
    }
  }
});

/**
 * Every op of the tfjs engine (on the backend chosen here: tfjs-wasm) against
 * hand-computed values, then against the reference engine on random inputs and random
 * op chains, and tf autograd through the ops against finite differences.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '@tensorflow/tfjs';
import type { Ops, TensorProgram } from '../src/ops.js';
import { ReferenceEngine, ReferenceOps, RefTensor, assertAllClose, fromHost, makeRng, randomF32, type Tolerance } from '../src/reference/index.js';
import { TfjsEngine, tfjsOps } from '../src/tfjs/index.js';
import { OP_CASES, checkErrorCases, checkOpCase } from './reference-fixtures.js';
import { RANDOM_OP_CASES, randomChain, type RandomCase } from './tfjs-fixtures.js';

const engine = await TfjsEngine.create();
const { tf } = engine;
after(() => engine.dispose());

/**
 * Tolerance for f32 results against the float64 reference: 2e-6 times the output's own
 * magnitude (~32 units of f32 rounding, u = 2^-24 = 6e-8). Justification: the sums here
 * have at most 48 terms, whose f32 error grows like sqrt(K) u typically and K u at worst,
 * relative to the sum of |terms| (~ the output scale with these normalised weights);
 * elementwise kernels (exp, tanh, erf, sigmoid) add a few ulp each. Measured on this
 * machine over 40 cases per op and 60 chains: worst 4.2e-7 of the output scale (so the
 * tolerance has ~5x headroom); the error of exact ops (reshape, gather, ...) is 0.
 */
function f32Tol(expected: { data: ArrayLike<number> }): Tolerance {
  let scale = 0;
  for (let i = 0; i < expected.data.length; i++) scale = Math.max(scale, Math.abs(expected.data[i]));
  return { atol: 2e-6 * scale, rtol: 0 };
}

async function compare(c: RandomCase, what: string): Promise<void> {
  const ref = await new ReferenceEngine().compile(c.program);
  const compiled = await engine.compile(c.program);
  try {
    const want = new Map(ref.runF64(c.inputs));
    const got = await compiled.run(c.inputs);
    for (const name of c.program.outputs) {
      const w = want.get(name)!;
      assertAllClose(got[name], w, f32Tol(w), `${what} output "${name}"`);
    }
  } finally {
    await compiled.dispose();
  }
}

test('the engine runs on tfjs-wasm here', () => {
  assert.equal(engine.name, 'tfjs-wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

describe('tfjs: every op against hand-computed values', () => {
  for (const c of OP_CASES) test(c.name, () => checkOpCase(engine, c));
});

test('tfjs: bad programs and inputs give errors naming the culprit', () => checkErrorCases(engine));

describe('tfjs vs reference: each op on random shapes (25 cases each, broadcasting included)', () => {
  for (const [name, gen] of Object.entries(RANDOM_OP_CASES)) {
    test(name, async () => {
      const rng = makeRng(name.length * 7919 + name.charCodeAt(0));
      for (let i = 0; i < 25; i++) {
        const c = gen(rng);
        const shapes = Object.entries(c.inputs).map(([n, h]) => `${n}[${h.shape}]`).join(' ');
        await compare(c, `${name} #${i} (${shapes})`);
      }
    });
  }
});

test('tfjs vs reference: 40 random op chains (transformer-layer ops, 4-10 steps)', async () => {
  for (let seed = 0; seed < 40; seed++) {
    const c = randomChain(makeRng(1000 + seed), seed);
    await compare(c, `chain seed ${seed} [${c.steps.join(', ')}]`);
  }
});

test('no tensors leak from runs, failed runs included', async () => {
  const c = randomChain(makeRng(5), 5);
  const compiled = await engine.compile(c.program);
  const before = tf.memory().numTensors;
  await compiled.run(c.inputs);
  await compiled.run(c.inputs, ['mid']);
  await assert.rejects(compiled.run({}));
  const failing: TensorProgram = { ...c.program, name: 'throws midway', fn: <T>(ops: Ops<T>) => void ops.reshapeTail(ops.gelu(ops.input('x'), 'erf'), 0, [7, 7, 7]) };
  const bad = await engine.compile(failing);
  await assert.rejects(bad.run(c.inputs), /reshapeTail: cannot cut/);
  // only the second program's params were added
  assert.equal(tf.memory().numTensors, before + failing.params.size);
  await bad.dispose();
  assert.equal(tf.memory().numTensors, before);
  await compiled.dispose();
  assert.equal(tf.memory().numTensors, before - c.program.params.size);
});

describe('tf autograd through tfjsOps', () => {
  /**
   * loss(x) = sum(target * logSoftmax(linear(gelu(layerNorm(x, 2g)), W, b))) + sum(c * silu(x)):
   * a lens-like objective, written with the ops plus a final sum. The reference gradient is a central difference of the same
   * function in float64 (h = 1e-5: truncation ~h^2 and rounding ~1e-16/h, both << f32).
   */
  const rng = makeRng(99);
  const [n, d, v] = [3, 6, 5];
  const x0 = randomF32(rng, [n, d]);
  const hosts = { w: randomF32(rng, [d, v], 0.5), b: randomF32(rng, [v], 0.1), g: randomF32(rng, [d], 0.1), c: randomF32(rng, [n, d]), target: randomF32(rng, [n, v]) };

  test('gradient of a lens-like loss matches finite differences of the reference', () => {
    const params = Object.fromEntries(Object.entries(hosts).map(([k, h]) => [k, tf.tensor(h.data, h.shape)])) as Record<keyof typeof hosts, Tensor>;
    const ops = tfjsOps(tf);
    const tfLoss = (x: Tensor) => {
      const h = ops.gelu(ops.layerNorm(x, ops.add(params.g, params.g), null, 1e-5), 'erf');
      const lp = ops.logSoftmax(ops.linear(h, params.w, params.b));
      return tf.add(tf.sum(ops.mul(lp, params.target)), tf.sum(ops.mul(ops.silu(x), params.c)));
    };
    const grad = tf.tidy(() => tf.grad(tfLoss)(tf.tensor(x0.data, x0.shape)).dataSync().slice());
    for (const t of Object.values(params)) t.dispose();

    const ref = new ReferenceOps();
    const refParams = Object.fromEntries(Object.entries(hosts).map(([k, h]) => [k, fromHost(h)])) as Record<keyof typeof hosts, RefTensor>;
    const refLoss = (xd: Float64Array) => {
      const x = new RefTensor(x0.shape, xd);
      const h = ref.gelu(ref.layerNorm(x, ref.add(refParams.g, refParams.g), null, 1e-5), 'erf');
      const lp = ref.logSoftmax(ref.linear(h, refParams.w, refParams.b));
      const a = ref.mul(lp, refParams.target).data.reduce((s, z) => s + z, 0);
      return a + ref.mul(ref.silu(x), refParams.c).data.reduce((s, z) => s + z, 0);
    };
    const fd = new Float64Array(x0.data.length);
    const h = 1e-5;
    for (let i = 0; i < fd.length; i++) {
      const up = Float64Array.from(x0.data);
      const down = Float64Array.from(x0.data);
      up[i] += h;
      down[i] -= h;
      fd[i] = (refLoss(up) - refLoss(down)) / (2 * h);
    }
    const scale = fd.reduce((m, z) => Math.max(m, Math.abs(z)), 0);
    // f32 forward and backward passes: ~1e-6 of the gradient's scale; 1e-4 leaves room
    assertAllClose({ shape: x0.shape, data: grad }, { shape: x0.shape, data: fd }, { atol: 1e-4 * scale, rtol: 0 }, 'd loss / d x');
    assert.ok(scale > 0.1, 'the gradient is not trivially small');
  });

  test('every op is differentiable on this backend', () => {
    const ops = tfjsOps(tf);
    const x = tf.tensor(randomF32(makeRng(4), [2, 3, 4]).data, [2, 3, 4]);
    const w = tf.ones([4]);
    const square = tf.ones([4, 4]);
    const table = tf.ones([5, 4]);
    const ids = tf.tensor([[0, 4, 2]], [1, 3], 'int32');
    const uses: Array<[string, (t: Tensor) => Tensor]> = [
      ['add/sub/mul/scale/neg', (t) => ops.neg(ops.scale(ops.mul(ops.sub(ops.add(t, t), w), t), 2))],
      ['gelu/silu/relu', (t) => ops.relu(ops.silu(ops.add(ops.gelu(t, 'tanh'), ops.gelu(t, 'erf'))))],
      ['norms/softmax', (t) => ops.add(ops.softmax(ops.layerNorm(t, w, w, 1e-5)), ops.logSoftmax(ops.rmsNorm(t, w, 1e-6, true)))],
      ['linear/matmul', (t) => ops.matmulTransposeB(ops.matmul(ops.linear(t, square, w), square), t)],
      ['causalAttention', (t) => ops.causalAttention(t, ops.scale(t, 0.5), t, tf.linalg.bandPart(tf.ones([3, 3]), -1, 0).sub(1).mul(1e9), 0.5)],
      ['shapes', (t) => ops.repeatHeads(ops.transpose(ops.reshapeTail(ops.concatLast([ops.sliceLast(t, 0, 2), ops.sliceLast(t, 2, 4)]), 2, [2, 2]), [0, 2, 1, 3]), 2)],
      ['embedding (grad w.r.t. the table is via x here)', (t) => ops.add(ops.embedding(table, ids), t)],
    ];
    for (const [name, f] of uses) {
      const g = tf.tidy(() => tf.grad((t: Tensor) => tf.sum(f(t)))(x).dataSync().slice());
      assert.equal(g.length, 24, name);
      assert.ok(g.every(Number.isFinite), `${name}: gradient is finite`);
      assert.ok(g.some((z) => z !== 0), `${name}: gradient is not all zero`);
    }
    tf.dispose([x, w, square, table, ids]);
  });
});

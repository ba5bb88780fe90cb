/**
 * TfjsEngine as a whole: backend selection, a GQA attention block against the reference
 * and against plain loops, one compiled program over many batch/sequence sizes, output
 * selection, disposal, and concurrent runs.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Ops, TensorProgram } from '../src/ops.js';
import { ReferenceEngine, assertAllClose, causalBias, makeRng, randomF32, randomI32 } from '../src/reference/index.js';
import { TfjsEngine, currentTfjsBackend, getTf, selectTfjsBackend } from '../src/tfjs/index.js';
import { attentionParams, attentionProgram, f32, naiveAttention } from './reference-fixtures.js';

const resolvable = (pkg: string) => {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
};
const nativeInstalled = resolvable('@tensorflow/tfjs-node-gpu') || resolvable('@tensorflow/tfjs-node');

const engine = await TfjsEngine.create();
const { tf } = engine;
after(() => engine.dispose());

/** Output-scale tolerance for f32 vs the float64 reference (see tfjs-ops.test.ts). */
const scaled = (data: ArrayLike<number>, k = 2e-6) => ({ atol: k * Array.from(data).reduce((m, v) => Math.max(m, Math.abs(v)), 0), rtol: 0 });

describe('backend selection', () => {
  test('picks tfjs-wasm here, saying why node-gpu and node were skipped', { skip: nativeInstalled && 'a native tfjs package is installed' }, async (t) => {
    const sel = await selectTfjsBackend();
    assert.equal(sel.name, 'tfjs-wasm');
    assert.equal(sel.tfBackend, 'wasm');
    assert.deepEqual(
      sel.skipped.map((s) => s.name),
      ['tfjs-node-gpu', 'tfjs-node'],
    );
    assert.match(sel.skipped[0].reason, /^tfjs-node-gpu not installed \(@tensorflow\/tfjs-node-gpu cannot be resolved\)$/);
    assert.match(sel.skipped[1].reason, /^tfjs-node not installed \(@tensorflow\/tfjs-node cannot be resolved\)$/);
    assert.match(sel.reason, /^SIMD, \d+ threads?$/);
    assert.equal(sel.wasm?.simd, true);
    assert.ok(sel.wasm!.threads >= 1);
    t.diagnostic(`${sel.name}: ${sel.reason}; ${sel.wasm!.note}; skipped: ${sel.skipped.map((s) => `${s.name} (${s.reason})`).join(', ')}`);
  });

  test('is idempotent: later calls and engines share the one initialised backend', async () => {
    const a = await selectTfjsBackend();
    const [b, c] = await Promise.all([selectTfjsBackend('auto'), selectTfjsBackend()]);
    assert.equal(a, b);
    assert.equal(a, c);
    assert.equal(currentTfjsBackend(), a);
    assert.equal(getTf(), tf);
    assert.equal(engine.selection, a);
    const again = await TfjsEngine.create();
    assert.equal(again.name, engine.name);
    assert.equal(again.tf, tf);
    // asking for the backend in use by name also returns it
    assert.equal(await selectTfjsBackend('wasm'), a);
  });

  test('a strict preference for a missing package fails with the reason', { skip: nativeInstalled && 'a native tfjs package is installed' }, async () => {
    await assert.rejects(selectTfjsBackend('node', { fallback: false }), /tfjs: no usable backend for preference 'node': tfjs-node: tfjs-node not installed/);
    await assert.rejects(selectTfjsBackend('node-gpu', { fallback: false }), /tfjs-node-gpu not installed/);
    // ... and leaves the backend in use alone
    assert.equal(currentTfjsBackend()?.name, 'tfjs-wasm');
    assert.equal(tf.getBackend(), 'wasm');
  });

  test('with fallback, preference node goes on to wasm', { skip: nativeInstalled && 'a native tfjs package is installed' }, async () => {
    const sel = await selectTfjsBackend('node');
    assert.equal(sel.name, 'tfjs-wasm');
    assert.equal(sel, engine.selection); // the one selection of the backend in use
    assert.ok(sel.skipped.some((s) => s.name === 'tfjs-node'));
  });

  test('an unknown preference is an error', async () => {
    await assert.rejects(selectTfjsBackend('webgpu' as 'wasm'), /unknown backend preference "webgpu"/);
  });
});

describe('GQA attention block (splitHeads, matmulTransposeB, causal bias, softmax, repeatHeads, mergeHeads)', () => {
  const rng = makeRng(2024);
  const dims = { d: 32, heads: 8, kvHeads: 2, headDim: 4 };
  const params = attentionParams(rng, dims);
  const program = attentionProgram(dims, params);

  test('tfjs matches the reference and plain loops; causal positions get probability 0', async () => {
    const compiled = await engine.compile(program);
    const ref = await new ReferenceEngine().compile(program);
    try {
      const [b, t] = [2, 7];
      const x = randomF32(rng, [b, t, dims.d]);
      const inputs = { x, causal_bias: causalBias(t) };
      const got = await compiled.run(inputs);
      const want = new Map(ref.runF64(inputs));
      assertAllClose(got.y, want.get('y')!, scaled(want.get('y')!.data), 'y vs reference');
      assertAllClose(got.probs, want.get('probs')!, scaled(want.get('probs')!.data), 'probs vs reference');
      const loops = naiveAttention(dims, params, x, inputs.causal_bias);
      assertAllClose(got.y, { shape: [b, t, dims.d], data: loops.y }, scaled(loops.y), 'y vs loops');
      // exp(-1e9 - max) underflows to exactly 0 in f32
      for (let i = 0; i < got.probs.data.length; i++) if (i % t > Math.floor(i / t) % t) assert.equal(got.probs.data[i], 0);
    } finally {
      await compiled.dispose();
    }
  });

  test('dynamic shapes: one compiled program for every batch and sequence length', async () => {
    const compiled = await engine.compile(program);
    const ref = await new ReferenceEngine().compile(program);
    try {
      for (const [b, t] of [[1, 1], [2, 5], [3, 9], [1, 16], [4, 2]]) {
        const inputs = { x: randomF32(rng, [b, t, dims.d]), causal_bias: causalBias(t) };
        const got = await compiled.run(inputs);
        assert.deepEqual(got.y.shape, [b, t, dims.d]);
        assert.deepEqual(got.probs.shape, [b, dims.heads, t, t]);
        const want = new Map(ref.runF64(inputs));
        assertAllClose(got.y, want.get('y')!, scaled(want.get('y')!.data), `y B=${b} T=${t}`);
      }
    } finally {
      await compiled.dispose();
    }
  });
});

describe('compiled programs', () => {
  const lm: TensorProgram = {
    name: 'tiny-lm',
    params: new Map([
      ['wte', randomF32(makeRng(1), [11, 6])],
      ['unembed', randomF32(makeRng(2), [6, 11], 0.4)],
    ]),
    inputs: { input_ids: { dtype: 'i32', rank: 2 } },
    outputs: ['hidden', 'logits', 'logprobs', 'wte_view'],
    fn<T>(ops: Ops<T>) {
      const h = ops.embedding(ops.param('wte'), ops.input('input_ids'));
      const logits = ops.linear(h, ops.param('unembed'), null);
      ops.output('hidden', h);
      ops.output('logits', logits);
      ops.output('logprobs', ops.logSoftmax(logits));
      ops.output('wte_view', ops.reshapeTail(ops.param('wte'), 0, [-1])); // a param itself
    },
  };
  const ids = randomI32(makeRng(3), [2, 4], 0, 10);

  test('returns the requested outputs only, in request order', async () => {
    const compiled = await engine.compile(lm);
    const all = await compiled.run({ input_ids: ids });
    assert.deepEqual(Object.keys(all), lm.outputs);
    const some = await compiled.run({ input_ids: ids }, ['logprobs', 'hidden']);
    assert.deepEqual(Object.keys(some), ['logprobs', 'hidden']);
    assert.deepEqual(some.hidden.shape, [2, 4, 6]);
    assert.deepEqual(Array.from(some.logprobs.data), Array.from(all.logprobs.data));
    await compiled.dispose();
  });

  test('a param returned as an output stays intact; results are the caller\'s own', async () => {
    const compiled = await engine.compile(lm);
    const first = await compiled.run({ input_ids: ids }, ['wte_view', 'hidden']);
    assert.deepEqual(Array.from(first.wte_view.data), Array.from(lm.params.get('wte')!.data));
    first.wte_view.data.fill(0); // must not reach the engine's copy
    const second = await compiled.run({ input_ids: ids }, ['wte_view', 'hidden']);
    assert.deepEqual(Array.from(second.wte_view.data), Array.from(lm.params.get('wte')!.data));
    assert.deepEqual(Array.from(second.hidden.data), Array.from(first.hidden.data));
    await compiled.dispose();
  });

  test('dispose frees the params; engine.dispose frees what is left; run after dispose fails', async () => {
    const base = tf.memory().numTensors;
    const a = await engine.compile(lm);
    const b = await engine.compile(lm);
    assert.equal(tf.memory().numTensors, base + 4);
    await a.dispose();
    await a.dispose(); // twice is fine
    assert.equal(tf.memory().numTensors, base + 2);
    const other = await TfjsEngine.create();
    const c = await other.compile(lm);
    await other.dispose();
    assert.equal(tf.memory().numTensors, base + 2);
    await assert.rejects(c.run({ input_ids: ids }), /program "tiny-lm": run after dispose/);
    await assert.rejects(a.run({ input_ids: ids }), /run after dispose/);
    await b.dispose();
    assert.equal(tf.memory().numTensors, base);
  });

  test('concurrent runs of one program give the same results as sequential ones', async () => {
    const compiled = await engine.compile(lm);
    const batches = [0, 1, 2, 3, 4, 5].map((s) => randomI32(makeRng(50 + s), [1 + (s % 3), 2 + s], 0, 10));
    const sequential: Array<Record<string, { shape: number[]; data: Float32Array }>> = [];
    for (const input_ids of batches) sequential.push(await compiled.run({ input_ids }, ['logits']));
    const parallel = await Promise.all(batches.map((input_ids) => compiled.run({ input_ids }, ['logits'])));
    parallel.forEach((p, i) => assert.deepEqual(Array.from(p.logits.data), Array.from(sequential[i].logits.data)));
    await compiled.dispose();
  });

  test('the wrong element type for input_ids names the input', async () => {
    const compiled = await engine.compile(lm);
    await assert.rejects(compiled.run({ input_ids: f32([1, 2], [1, 2]) }), /program "tiny-lm": input "input_ids" must be i32 \(Int32Array\), got Float32Array/);
    await assert.rejects(compiled.run({ ids }), /program "tiny-lm": missing input "input_ids" \(i32, rank 2\); given: "ids"/);
    await compiled.dispose();
  });

  test('a bad param at compile time names it', async () => {
    const bad: TensorProgram = { ...lm, params: new Map([['wte', { shape: [3, 2], data: new Float32Array(5) }]]) };
    await assert.rejects(engine.compile(bad), /program "tiny-lm": param "wte": 5 values for shape \[3, 2\] \(needs 6\)/);
  });
});

/**
 * The reference engine: every op against hand-computed values, its error messages, and
 * a GQA attention block against plain loops written independently of the op set.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Ops, TensorProgram } from '../src/ops.js';
import {
  ReferenceEngine,
  ReferenceOps,
  RefTensor,
  assertAllClose,
  causalBias,
  closeness,
  makeRng,
  randomF32,
  refTensor,
} from '../src/reference/index.js';
import {
  OP_CASES,
  attentionParams,
  attentionProgram,
  checkErrorCases,
  checkOpCase,
  f32,
  i32,
  naiveAttention,
} from './reference-fixtures.js';

const engine = new ReferenceEngine();

describe('reference engine: every op against hand-computed values', () => {
  for (const c of OP_CASES) test(c.name, () => checkOpCase(engine, c));
});

test('reference engine reports its name', () => {
  assert.equal(engine.name, 'reference');
});

test('reference engine: bad programs and inputs give errors naming the culprit', () => checkErrorCases(engine));

describe('reference ops used directly', () => {
  const ops = new ReferenceOps();

  test('softmax rows sum to 1 and logSoftmax = log(softmax)', () => {
    const rng = makeRng(7);
    const x = refTensor([4, 9], randomF32(rng, [4, 9], 3).data);
    const p = ops.softmax(x);
    const lp = ops.logSoftmax(x);
    for (let r = 0; r < 4; r++) {
      const row = p.data.subarray(r * 9, r * 9 + 9);
      assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-15);
    }
    for (let i = 0; i < p.size; i++) assert.ok(Math.abs(Math.log(p.data[i]) - lp.data[i]) < 1e-14);
  });

  test('i32 arithmetic wraps like int32 and keeps its type', () => {
    const a = refTensor([2], [2147483647, 7], 'i32');
    const b = refTensor([2], [1, -3], 'i32');
    assert.deepEqual(Array.from(ops.add(a, b).data), [-2147483648, 4]);
    assert.deepEqual(Array.from(ops.mul(a, b).data), [2147483647, -21]);
    assert.equal(ops.sub(a, b).dtype, 'i32');
  });

  test('embedding rejects ids outside the table', () => {
    const table = refTensor([3, 2], [0, 1, 2, 3, 4, 5]);
    assert.throws(() => ops.embedding(table, refTensor([2], [1, 3], 'i32')), /embedding: id 3 at flat index 1 is outside \[0, 3\)/);
    assert.throws(() => ops.embedding(table, refTensor([1], [-1], 'i32')), RangeError);
  });

  test('shape errors name the op', () => {
    const x = refTensor([2, 3], [1, 2, 3, 4, 5, 6]);
    assert.throws(() => ops.transpose(x, [0, 0]), /transpose: perm \[0, 0\] is not a permutation of the 2 dims of \[2, 3\]/);
    assert.throws(() => ops.reshapeTail(x, 1, [-1, -1]), /reshapeTail: more than one -1/);
    assert.throws(() => ops.reshapeTail(x, 3, []), /reshapeTail: keep=3 is out of range for \[2, 3\]/);
    assert.throws(() => ops.concatLast([x, refTensor([3, 1], [1, 2, 3])]), /concatLast: cannot concatenate/);
    assert.throws(() => ops.concatLast([]), /concatLast: no tensors/);
    assert.throws(() => ops.repeatHeads(x, 0), /repeatHeads: n must be a positive integer, got 0/);
    assert.throws(() => ops.gelu(x, 'fast' as 'tanh'), /gelu: approximate must be 'tanh' or 'erf'/);
    assert.throws(() => ops.softmax(refTensor([2], [1, 2], 'i32')), /softmax: expects f32 tensors, got i32/);
    assert.throws(() => ops.matmul(refTensor([2], [1, 2]), x), /matmul: a must have rank >= 2/);
    assert.throws(() => ops.param('w'), /param\("w"\): these ops have no params/);
  });

  test('sliceLast follows python bounds (negative, clamped, empty)', () => {
    const x = refTensor([1, 4], [0, 1, 2, 3]);
    assert.deepEqual(Array.from(ops.sliceLast(x, -3, -1).data), [1, 2]);
    assert.deepEqual(Array.from(ops.sliceLast(x, 2, 99).data), [2, 3]);
    assert.deepEqual(ops.sliceLast(x, 3, 1).shape, [1, 0]);
  });

  test('transpose is undone by its inverse permutation', () => {
    const rng = makeRng(3);
    const x = refTensor([2, 3, 4, 5], randomF32(rng, [2, 3, 4, 5]).data);
    const perm = [2, 0, 3, 1];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    const back = ops.transpose(ops.transpose(x, perm), inverse);
    assert.deepEqual(back.shape, x.shape);
    assert.deepEqual(Array.from(back.data), Array.from(x.data));
  });

  test('RefTensor checks its length', () => {
    assert.throws(() => new RefTensor([2, 2], new Float64Array(3)), /3 values for shape \[2, 2\]/);
  });
});

describe('reference engine programs', () => {
  test('GQA attention block equals plain loops (float64, 1e-12)', async () => {
    const rng = makeRng(11);
    const dims = { d: 8, heads: 4, kvHeads: 2, headDim: 2 };
    const params = attentionParams(rng, dims);
    const program = attentionProgram(dims, params);
    const compiled = await engine.compile(program);
    for (const [b, t] of [[2, 5], [1, 1], [3, 3]]) {
      const x = randomF32(rng, [b, t, dims.d]);
      const bias = causalBias(t);
      const got = new Map(compiled.runF64({ x, causal_bias: bias }));
      const want = naiveAttention(dims, params, x, bias);
      assertAllClose(got.get('y')!, { shape: [b, t, dims.d], data: want.y }, { atol: 1e-12, rtol: 1e-12 }, `y B=${b} T=${t}`);
      assertAllClose(got.get('probs')!, { shape: [b, dims.heads, t, t], data: want.probs }, { atol: 1e-12, rtol: 1e-12 }, `probs B=${b} T=${t}`);
      // causal: nothing attends to a later position
      const probs = got.get('probs')!.data;
      for (let i = 0; i < probs.length; i++) {
        const [row, col] = [Math.floor(i / t) % t, i % t];
        if (col > row) assert.equal(probs[i], 0);
      }
    }
  });

  test('outputs: subset on request, f32 results, run after dispose fails', async () => {
    const program: TensorProgram = {
      name: 'two',
      params: new Map(),
      inputs: { x: { dtype: 'f32', rank: 1 } },
      outputs: ['a', 'b'],
      fn<T>(ops: Ops<T>) {
        const x = ops.input('x');
        ops.output('a', ops.scale(x, 1 / 3));
        ops.output('b', ops.neg(x));
      },
    };
    const compiled = await engine.compile(program);
    const all = await compiled.run({ x: f32([2], [1, 2]) });
    assert.deepEqual(Object.keys(all), ['a', 'b']);
    assert.ok(all.a.data instanceof Float32Array);
    assert.equal(all.a.data[0], Math.fround(1 / 3)); // rounded once, from float64
    const some = await compiled.run({ x: f32([2], [1, 2]), unused: i32([1], [0]) }, ['b']);
    assert.deepEqual(Object.keys(some), ['b']);
    await compiled.dispose();
    await assert.rejects(compiled.run({ x: f32([2], [1, 2]) }), /program "two": run after dispose/);
  });

  test('closeness reports the worst element', () => {
    const c = closeness([1, 2, 3.5], [1, 2, 3], { atol: 0.1, rtol: 0 });
    assert.equal(c.ok, false);
    assert.equal(c.worstIndex, 2);
    assert.ok(Math.abs(c.worstRatio - 5) < 1e-12);
    assert.throws(
      () => assertAllClose({ shape: [3], data: [1, 2, 3.5] }, { shape: [3], data: [1, 2, 3] }, { atol: 0.1, rtol: 0 }, 'demo'),
      /demo: not close .* at flat index 2 got 3.5, expected 3/,
    );
    assert.throws(() => assertAllClose({ shape: [3], data: [1, 2, 3] }, { shape: [1, 3], data: [1, 2, 3] }, { atol: 0, rtol: 0 }), /shape \[3\] differs/);
  });
});

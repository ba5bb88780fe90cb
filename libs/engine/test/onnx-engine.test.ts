/**
 * The ONNX engine around the ops: output-subset sessions and pruning, input validation,
 * trace-time errors, external-data models, determinism and lifecycle.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeModel, graphStats, OnnxEngine, OnnxTracer, resolveOrtThreads } from '../src/onnx/index.js';
import type { HostArray, Ops, TensorProgram } from '../src/ops.js';

const D = 4, V = 64;
const host = (shape: number[], f: (i: number) => number): HostArray => ({
  shape,
  data: Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => f(i)),
});

/**
 * h = relu(embedding(ids) + bias); logits = (h @ unembed [D, V]) * scale_in.
 * 'logits' is the expensive output (and the only reader of 'unembed' and 'scale_in').
 */
function lensProgram(): TensorProgram {
  return {
    name: 'lens',
    params: new Map([
      ['wte', host([10, D], (i) => (i % 7) - 3)],
      ['bias', host([D], (i) => i / 10)],
      ['unembed', host([D, V], (i) => Math.sin(i))],
    ]),
    inputs: { ids: { dtype: 'i32', rank: 2 }, scale_in: { dtype: 'f32', rank: 1 } },
    outputs: ['h', 'logits'],
    fn<T>(o: Ops<T>) {
      const h = o.relu(o.add(o.embedding(o.param('wte'), o.input('ids')), o.param('bias')));
      o.output('h', h);
      o.output('logits', o.mul(o.linear(h, o.param('unembed'), null), o.input('scale_in')));
    },
  };
}

/** Plain-JS expected h for lensProgram, rounded as the one f32 addition rounds it. */
function expectedH(ids: number[]): number[] {
  const out: number[] = [];
  for (const id of ids) for (let j = 0; j < D; j++) out.push(Math.max(Math.fround(((id * D + j) % 7) - 3 + Math.fround(j / 10)), 0));
  return out;
}

const ids = (data: number[], b: number, t: number): HostArray => ({ shape: [b, t], data: Int32Array.from(data) });

const engine = new OnnxEngine({ intraOpNumThreads: 1 });
after(() => engine.dispose());

describe('output subsets', () => {
  test('the pruned graph for a cheap output drops the expensive part', async () => {
    const compiled = await engine.compile(lensProgram());
    try {
      const all = graphStats(compiled.graphFor());
      const hOnly = graphStats(compiled.graphFor(['h']));
      assert.ok(hOnly.nodes < all.nodes, `${hOnly.nodes} < ${all.nodes}`);
      assert.equal(hOnly.initializerBytes, (10 * D + D) * 4, 'only wte and bias remain');
      assert.equal(hOnly.inputs, 1, "'scale_in' is not needed for h");
      // The Relu writes 'h' itself: no Identity copy for an output made by a node.
      assert.deepEqual(compiled.graphFor(['h']).nodes.map((n) => n.opType), ['Gather', 'Add', 'Relu']);
    } finally {
      await compiled.dispose();
    }
  });

  test('outputs without copies: a node writes its output name; a value output twice, a weight and an input keep an Identity', async () => {
    const program: TensorProgram = {
      name: 'outputs',
      params: new Map([['w', host([D], (i) => i + 1)]]),
      inputs: { x: { dtype: 'f32', rank: 2 } },
      outputs: ['a', 'a_again', 'b', 'weight', 'input'],
      fn<T>(o: Ops<T>) {
        const a = o.relu(o.input('x'));
        o.output('a', a);
        o.output('a_again', a);
        o.output('b', o.mul(a, o.param('w'))); // read after being output
        o.output('weight', o.param('w'));
        o.output('input', o.input('x'));
      },
    };
    const graph = OnnxTracer.trace(program);
    assert.deepEqual(graph.nodes.map((n) => `${n.opType}:${n.inputs.join(',')}->${n.outputs.join(',')}`), [
      'Relu:x->a', 'Identity:a->a_again', 'Mul:a,w->b', 'Identity:w->weight', 'Identity:x->input',
    ]);
    const compiled = await engine.compile(program);
    try {
      const x = host([2, D], (i) => i - 3);
      const got = await compiled.run({ x });
      const relu = Array.from(x.data, (v) => Math.max(v, 0));
      assert.deepEqual(Array.from(got.a.data), relu);
      assert.deepEqual(Array.from(got.a_again.data), relu);
      assert.deepEqual(Array.from(got.b.data), relu.map((v, i) => v * ((i % D) + 1)));
      assert.deepEqual(Array.from(got.weight.data), [1, 2, 3, 4]);
      assert.deepEqual(Array.from(got.input.data), Array.from(x.data));
    } finally {
      await compiled.dispose();
    }
  });

  test('a subset run is correct, needs only its inputs, and gets its own cached session', async () => {
    const compiled = await engine.compile(lensProgram());
    try {
      assert.equal(compiled.sessionCount, 1, 'compile opens the all-outputs session');
      const tokens = [1, 2, 3, 9, 0, 4];
      const got = await compiled.run({ ids: ids(tokens, 2, 3) }, ['h']);
      assert.deepEqual(Object.keys(got), ['h']);
      assert.deepEqual(got.h.shape, [2, 3, D]);
      assert.deepEqual(Array.from(got.h.data), expectedH(tokens));
      assert.equal(compiled.sessionCount, 2);

      // same set in another order and with a duplicate: same session
      const full = await compiled.run({ ids: ids(tokens, 2, 3), scale_in: host([1], () => 2) }, ['logits', 'h', 'logits']);
      await compiled.run({ ids: ids(tokens, 2, 3), scale_in: host([1], () => 2) }, ['h', 'logits']);
      assert.equal(compiled.sessionCount, 2);
      assert.deepEqual(Object.keys(full).sort(), ['h', 'logits']);
      assert.deepEqual(full.logits.shape, [2, 3, V]);
      // logits[0,0,v] = 2 * sum_j h[0,0,j] * sin(j*V + v)
      const h = expectedH(tokens);
      for (const v of [0, 17, V - 1]) {
        const want = 2 * [0, 1, 2, 3].reduce((s, j) => s + h[j] * Math.sin(j * V + v), 0);
        assert.ok(Math.abs(full.logits.data[v] - want) < 1e-5, `logits[${v}]`);
      }
    } finally {
      await compiled.dispose();
    }
  });

  test('openOnCompile: false opens no session until a run asks for one', async () => {
    const lazy = new OnnxEngine({ intraOpNumThreads: 1, openOnCompile: false });
    try {
      const compiled = await lazy.compile(lensProgram());
      assert.equal(compiled.sessionCount, 0);
      await compiled.run({ ids: ids([5], 1, 1) }, ['h']);
      assert.equal(compiled.sessionCount, 1);
    } finally {
      await lazy.dispose();
    }
  });

  test('an unknown output name is an error naming it', async () => {
    const compiled = await engine.compile(lensProgram());
    try {
      await assert.rejects(compiled.run({ ids: ids([1], 1, 1) }, ['nope']), /unknown output 'nope'/);
      await assert.rejects(compiled.run({ ids: ids([1], 1, 1) }, []), /at least one output/);
    } finally {
      await compiled.dispose();
    }
  });
});

describe('input validation', () => {
  test('missing, wrong dtype, wrong rank and wrong size each name the input', async () => {
    const compiled = await engine.compile(lensProgram());
    const scale = host([1], () => 1);
    try {
      await assert.rejects(compiled.run({ ids: ids([1], 1, 1) }), /input 'scale_in' is missing/);
      await assert.rejects(
        compiled.run({ ids: { shape: [1, 1], data: Float32Array.of(1) }, scale_in: scale }),
        /input 'ids' must be i32 \(Int32Array\), got f32/,
      );
      await assert.rejects(compiled.run({ ids: ids([1, 2], 1, 2), scale_in: { shape: [1], data: Int32Array.of(1) } }), /input 'scale_in' must be f32/);
      await assert.rejects(compiled.run({ ids: { shape: [2], data: Int32Array.of(1, 2) }, scale_in: scale }), /input 'ids' must have rank 2/);
      await assert.rejects(compiled.run({ ids: { shape: [2, 2], data: Int32Array.of(1, 2) }, scale_in: scale }), /input 'ids': shape \[2,2\] does not match 2 values/);
      // inputs the program does not declare are ignored
      const ok = await compiled.run({ ids: ids([1], 1, 1), scale_in: scale, extra: scale }, ['h']);
      assert.deepEqual(ok.h.shape, [1, 1, D]);
    } finally {
      await compiled.dispose();
    }
  });
});

describe('trace errors', () => {
  const base = (fn: TensorProgram['fn'], outputs = ['y']): TensorProgram => ({
    name: 'bad',
    params: new Map([['w', host([3, 5], () => 1)], ['short', { shape: [4], data: new Float32Array(3) }]]),
    inputs: { x: { dtype: 'f32', rank: 2 }, ids: { dtype: 'i32', rank: 2 } },
    outputs,
    fn,
  });
  const cases: [string, TensorProgram, RegExp][] = [
    ['undeclared input', base((o) => o.output('y', o.input('z'))), /undeclared input 'z'/],
    ['unknown param', base((o) => o.output('y', o.param('q'))), /unknown param 'q'/],
    ['param data/shape mismatch', base((o) => o.output('y', o.param('short'))), /param 'short': shape \[4\] needs 4 values, data has 3/],
    ['missing output', base((o) => o.output('y', o.input('x')), ['y', 'z']), /never produced output\(s\): z/],
    ['undeclared output', base((o) => o.output('q', o.input('x'))), /outputs undeclared 'q'/],
    ['linear inner dim', base((o) => o.output('y', o.linear(o.reshapeTail(o.input('x'), 1, [2, 2]), o.param('w'), null))), /inner dims differ/],
    ['broadcast mismatch', base((o) => o.output('y', o.add(o.param('w'), o.reshapeTail(o.input('x'), 1, [4])))), /do not broadcast/],
    ['f32 op on ids', base((o) => o.output('y', o.relu(o.input('ids')))), /relu: expected an f32 value, got i32 'ids'/],
    ['ids must be i32', base((o) => o.output('y', o.embedding(o.param('w'), o.input('x')))), /ids 'x' must be i32/],
    ['bad reshape', base((o) => o.output('y', o.reshapeTail(o.param('w'), 0, [4, 4]))), /cannot re-cut \[3,5\] into \[4,4\]/],
    ['bad perm', base((o) => o.output('y', o.transpose(o.input('x'), [0, 0]))), /not a permutation/],
  ];
  for (const [name, program, error] of cases) {
    test(name, async () => {
      await assert.rejects(engine.compile(program), error);
    });
  }
});

describe('models on disk (external data)', () => {
  test('above the threshold the model is written with external data and gives the same results', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-engine-test-'));
    const onDisk = new OnnxEngine({ intraOpNumThreads: 1, externalDataThresholdBytes: 0, tmpDir: dir });
    try {
      const program = lensProgram();
      program.params.set('unembed', host([D, 4096], (i) => Math.cos(i))); // > 1 KiB: goes to the file
      const feeds = { ids: ids([3, 1, 4, 1, 5, 9], 3, 2), scale_in: host([4096], (i) => i % 3) };
      const a = await onDisk.compile(program);
      const b = await engine.compile(program);
      const [ra, rb] = [await a.run(feeds), await b.run(feeds)];
      assert.deepEqual(ra, rb);

      const folders = readdirSync(dir);
      assert.equal(folders.length, 1);
      const files = readdirSync(join(dir, folders[0])).sort();
      assert.deepEqual(files, ['model-0.onnx', 'weights.bin']);
      // a second, pruned model shares the weights file
      const h = await a.run(feeds, ['h']);
      assert.deepEqual(h.h, rb.h);
      assert.deepEqual(readdirSync(join(dir, folders[0])).sort(), ['model-0.onnx', 'model-1.onnx', 'weights.bin']);

      await a.dispose();
      await b.dispose();
      assert.ok(!existsSync(join(dir, folders[0])), 'dispose removes the temp folder');
    } finally {
      await onDisk.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('determinism and lifecycle', () => {
  test('tracing the same program twice gives byte-identical models', () => {
    const a = encodeModel(OnnxTracer.trace(lensProgram()), 'lens');
    const b = encodeModel(OnnxTracer.trace(lensProgram()), 'lens');
    assert.ok(Buffer.from(a).equals(Buffer.from(b)));
  });

  test('names that collide across inputs, weights and outputs are kept apart', async () => {
    const program: TensorProgram = {
      name: 'collide',
      params: new Map([['x', host([2], () => 10)], ['y', host([2], () => 100)]]),
      inputs: { x: { dtype: 'f32', rank: 1 } },
      outputs: ['x', 'y', 'sum'],
      fn<T>(o: Ops<T>) {
        o.output('x', o.param('y'));
        o.output('y', o.input('x'));
        o.output('sum', o.add(o.input('x'), o.param('x')));
      },
    };
    const compiled = await engine.compile(program);
    try {
      const got = await compiled.run({ x: host([2], (i) => i + 1) });
      assert.deepEqual(Array.from(got.x.data), [100, 100]);
      assert.deepEqual(Array.from(got.y.data), [1, 2]);
      assert.deepEqual(Array.from(got.sum.data), [11, 12]);
    } finally {
      await compiled.dispose();
    }
  });

  test('run after dispose rejects; engine.dispose releases its programs', async () => {
    const own = new OnnxEngine({ intraOpNumThreads: 1 });
    const compiled = await own.compile(lensProgram());
    await own.dispose();
    await assert.rejects(compiled.run({ ids: ids([1], 1, 1) }, ['h']), /disposed/);
  });

  test('thread count: option, then TUNED_LENS_ORT_THREADS, then CPU count', () => {
    assert.equal(resolveOrtThreads(3, { TUNED_LENS_ORT_THREADS: '2' }), 3);
    assert.equal(resolveOrtThreads(undefined, { TUNED_LENS_ORT_THREADS: '2' }), 2);
    assert.ok(resolveOrtThreads(undefined, {}) >= 1);
    assert.throws(() => resolveOrtThreads(undefined, { TUNED_LENS_ORT_THREADS: 'many' }), /TUNED_LENS_ORT_THREADS/);
    assert.throws(() => resolveOrtThreads(0), /positive integer/);
    assert.equal(new OnnxEngine({ intraOpNumThreads: 2 }).threads, 2);
    assert.equal(new OnnxEngine().name, 'onnxruntime');
  });
});

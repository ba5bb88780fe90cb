// The reduction / elementwise ops the lens gradients use, on every engine, against
// hand-computed values.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxEngine } from '../src/onnx/index.js';
import { ReferenceEngine } from '../src/reference/index.js';
import { TfjsEngine } from '../src/tfjs/index.js';
import type { Engine, Ops, TensorProgram } from '../src/ops.js';

const engines: Array<[string, () => Promise<Engine>]> = [
  ['reference', async () => new ReferenceEngine()],
  ['onnx', async () => new OnnxEngine({ intraOpNumThreads: 1 })],
  ['tfjs', () => TfjsEngine.create()],
];
const made: Engine[] = [];
after(async () => { for (const e of made) await e.dispose?.(); });

const x = { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
const ids = { shape: [3], data: Int32Array.from([2, 0, 7]) };
const program: TensorProgram = {
  name: 'reductions',
  params: new Map(),
  inputs: { x: { dtype: 'f32', rank: 2 }, ids: { dtype: 'i32', rank: 1 } },
  outputs: ['exp', 'rsqrt', 'addScalar', 'sumLast', 'meanLast', 'sumRows', 'sumAll', 'oneHot', 'broadcast'],
  fn<T>(o: Ops<T>) {
    const v = o.input('x');
    o.output('exp', o.exp(v));
    o.output('rsqrt', o.rsqrt(v));
    o.output('addScalar', o.addScalar(v, 0.5));
    o.output('sumLast', o.sumLast(v));
    o.output('meanLast', o.meanLast(v));
    o.output('sumRows', o.sumRows(v));
    o.output('sumAll', o.sumAll(v));
    o.output('oneHot', o.oneHot(o.input('ids'), 4));
    // kept dims broadcast back over the row: x - mean(x)
    o.output('broadcast', o.sub(v, o.meanLast(v)));
  },
};

const want: Record<string, { shape: number[]; data: number[] }> = {
  exp: { shape: [2, 3], data: [1, 2, 3, 4, 5, 6].map(Math.exp) },
  rsqrt: { shape: [2, 3], data: [1, 2, 3, 4, 5, 6].map((v) => 1 / Math.sqrt(v)) },
  addScalar: { shape: [2, 3], data: [1.5, 2.5, 3.5, 4.5, 5.5, 6.5] },
  sumLast: { shape: [2, 1], data: [6, 15] },
  meanLast: { shape: [2, 1], data: [2, 5] },
  sumRows: { shape: [3], data: [5, 7, 9] },
  sumAll: { shape: [], data: [21] },
  oneHot: { shape: [3, 4], data: [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0] },
  broadcast: { shape: [2, 3], data: [-1, 0, 1, -1, 0, 1] },
};

for (const [name, make] of engines) {
  test(`reductions and one-hot on ${name}`, async () => {
    const engine = await make();
    made.push(engine);
    const compiled = await engine.compile(program);
    const got = await compiled.run({ x, ids });
    for (const [k, w] of Object.entries(want)) {
      assert.deepEqual(got[k].shape, w.shape, `${k} shape`);
      w.data.forEach((v, i) => assert.ok(Math.abs(got[k].data[i] - v) <= 1e-6 * Math.max(1, Math.abs(v)), `${k}[${i}]: ${got[k].data[i]} vs ${v}`));
    }
    await compiled.dispose();
  });
}

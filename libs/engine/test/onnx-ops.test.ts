/**
 * Every op of the ONNX tracer against a float64 evaluator of the same op set written
 * here in plain JS: each test writes its model function once and runs it through both.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxEngine } from '../src/onnx/index.js';
import { ReferenceProgram } from '../src/reference/index.js';
import type { HostArray, Ops, RuntimeInputs, TensorProgram } from '../src/ops.js';

// ---- float64 reference evaluator ------------------------------------------------------

interface R {
  shape: number[];
  data: Float64Array;
}

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);
const map = (a: R, f: (x: number) => number): R => ({ shape: a.shape.slice(), data: a.data.map(f) });

/** Applies f to each row of the last axis. */
function rows(a: R, f: (row: Float64Array) => Float64Array): R {
  const n = a.shape[a.shape.length - 1];
  const data = new Float64Array(a.data.length);
  for (let i = 0; i < a.data.length; i += n) data.set(f(a.data.subarray(i, i + n)), i);
  return { shape: a.shape.slice(), data };
}

/** erf to ~1e-13: Maclaurin series below 3, Lentz continued fraction for erfc above. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax, sum = ax;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
  let f = ax, c = ax, d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = ax + an * d; d = 1 / d;
    c = ax + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}




// ---- helpers ----------------------------------------------------------------------

/** mulberry32: deterministic test data. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let seed = 1;
/** Uniform f32 values in [-scale, scale]. */
function f32(shape: number[], scale = 2): HostArray {
  const r = rng(seed++);
  return { shape, data: Float32Array.from({ length: size(shape) }, () => (r() * 2 - 1) * scale) };
}
function i32(shape: number[], max: number): HostArray {
  const r = rng(seed++);
  return { shape, data: Int32Array.from({ length: size(shape) }, () => Math.floor(r() * max)) };
}

/*
 * Tolerance: the engine computes in f32 (unit roundoff 6e-8) against an f64 reference on
 * f32-rounded data. Elementwise ops and ORT's vectorised exp/tanh/erf approximations
 * stay within a few ulp, far below 1e-5 relative. Reductions (matmul over k <= 64,
 * norms, softmax sums) of O(1) terms accumulate about k * 6e-8 ~ 4e-6 in absolute terms,
 * which the absolute part covers for results near zero where relative error is undefined.
 */
const RTOL = 1e-5;
const ATOL = 1e-5;

function assertClose(name: string, got: { shape: number[]; data: Float32Array }, want: R): void {
  assert.deepEqual(got.shape, want.shape, `${name}: shape`);
  assert.equal(got.data.length, want.data.length, `${name}: length`);
  let worst = 0, at = -1;
  for (let i = 0; i < want.data.length; i++) {
    const excess = Math.abs(got.data[i] - want.data[i]) - (ATOL + RTOL * Math.abs(want.data[i]));
    if (!(excess <= worst)) { worst = Number.isNaN(excess) ? Infinity : excess; at = i; }
  }
  assert.ok(at < 0, `${name}[${at}]: got ${got.data[at]}, want ${want.data[at]}`);
}

const engine = new OnnxEngine({ intraOpNumThreads: 1 });
after(() => engine.dispose());

interface Case {
  params?: Record<string, HostArray>;
  inputs: Record<string, HostArray>;
  outputs?: string[];
  fn<T>(ops: Ops<T>): void;
}

/**
 * Compiles `fn` once and checks every output against the reference for each input set
 * (later sets exercise the same session with other dynamic dims).
 */
async function check(name: string, c: Case, ...moreInputs: Record<string, HostArray>[]): Promise<void> {
  const params = new Map(Object.entries(c.params ?? {}));
  const all = [c.inputs, ...moreInputs];
  const program: TensorProgram = {
    name,
    params,
    inputs: Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, { dtype: v.data instanceof Int32Array ? 'i32' : 'f32', rank: v.shape.length }])),
    outputs: c.outputs ?? ['y'],
    fn: c.fn,
  };
  const compiled = await engine.compile(program);
  try {
    for (const inputs of all) {
      // The shared float64 reference engine is the oracle.
      const ref = new Map(new ReferenceProgram(program).runF64(inputs).map(([k, t]) => [k, { shape: [...t.shape], data: t.data }]));
      const got = await compiled.run(inputs);
      for (const o of program.outputs) assertClose(`${name}.${o}`, got[o], ref.get(o)!);
    }
  } finally {
    await compiled.dispose();
  }
}

// ---- per-op tests ---------------------------------------------------------------------

describe('elementwise', () => {
  test('add, sub, mul on equal shapes', () =>
    check('arith', {
      inputs: { a: f32([2, 3, 4]), b: f32([2, 3, 4]) },
      outputs: ['add', 'sub', 'mul'],
      fn(o) {
        const a = o.input('a'), b = o.input('b');
        o.output('add', o.add(a, b));
        o.output('sub', o.sub(a, b));
        o.output('mul', o.mul(a, b));
      },
    }));

  test('broadcasting: bias [D], causal bias [T, T] onto [B, H, T, T], [B, T, 1] x [B, 1, T]', () =>
    check('broadcast', {
      params: { bias: f32([5]) },
      inputs: { x: f32([2, 3, 5]), scores: f32([2, 4, 3, 3]), mask: f32([3, 3]), col: f32([2, 3, 1]), row: f32([2, 1, 3]), one: f32([1]) },
      outputs: ['bias', 'mask', 'outer', 'scalar', 'sub'],
      fn(o) {
        o.output('bias', o.add(o.input('x'), o.param('bias')));
        o.output('mask', o.add(o.input('scores'), o.input('mask')));
        o.output('outer', o.mul(o.input('col'), o.input('row')));
        o.output('scalar', o.mul(o.input('one'), o.input('x')));
        o.output('sub', o.sub(o.param('bias'), o.input('x')));
      },
    }));

  test('scale and neg', () =>
    check('scale', {
      inputs: { x: f32([3, 7]) },
      outputs: ['scaled', 'neg'],
      fn(o) {
        o.output('scaled', o.scale(o.input('x'), 1 / Math.sqrt(64)));
        o.output('neg', o.neg(o.input('x')));
      },
    }));

  test('gelu tanh and erf, silu, relu', () =>
    check('activations', {
      inputs: { x: f32([4, 64], 5) },
      outputs: ['tanh', 'erf', 'silu', 'relu'],
      fn(o) {
        const x = o.input('x');
        o.output('tanh', o.gelu(x, 'tanh'));
        o.output('erf', o.gelu(x, 'erf'));
        o.output('silu', o.silu(x));
        o.output('relu', o.relu(x));
      },
    }));
});

describe('normalisation', () => {
  test('layerNorm with and without bias', () =>
    check('layerNorm', {
      params: { w: f32([16]), b: f32([16]) },
      // an offset mean checks that the variance is centred, not E[x^2] - E[x]^2 alone
      inputs: { x: { shape: [2, 3, 16], data: f32([2, 3, 16]).data.map((v) => v + 3) } },
      outputs: ['withBias', 'noBias'],
      fn(o) {
        const x = o.input('x');
        o.output('withBias', o.layerNorm(x, o.param('w'), o.param('b'), 1e-5));
        o.output('noBias', o.layerNorm(x, o.param('w'), null, 1e-5));
      },
    }));

  test('rmsNorm, plain and plusOne (weight folded on the host, or computed)', () =>
    check('rmsNorm', {
      params: { w: f32([16], 0.5) },
      inputs: { x: f32([2, 3, 16]) },
      outputs: ['plain', 'plusOne', 'plusOneComputed'],
      fn(o) {
        const x = o.input('x'), w = o.param('w');
        o.output('plain', o.rmsNorm(x, w, 1e-6, false));
        o.output('plusOne', o.rmsNorm(x, w, 1e-6, true));
        o.output('plusOneComputed', o.rmsNorm(x, o.scale(w, 2), 1e-6, true));
      },
    }));

  test('softmax and logSoftmax, including large logits', () =>
    check('softmax', {
      inputs: { x: f32([3, 5, 11], 4), big: { shape: [1, 4], data: Float32Array.of(1000, 999, -1000, 998) } },
      outputs: ['softmax', 'logSoftmax', 'bigSoftmax', 'bigLogSoftmax'],
      fn(o) {
        o.output('softmax', o.softmax(o.input('x')));
        o.output('logSoftmax', o.logSoftmax(o.input('x')));
        o.output('bigSoftmax', o.softmax(o.input('big')));
        o.output('bigLogSoftmax', o.logSoftmax(o.input('big')));
      },
    }));
});

describe('linear algebra', () => {
  test('linear with and without bias on [B, T, in], and on a single vector [in]', () =>
    check('linear', {
      params: { w: f32([8, 12], 0.5), b: f32([12]) },
      inputs: { x: f32([2, 5, 8]), v: f32([8]) },
      outputs: ['withBias', 'noBias', 'vector'],
      fn(o) {
        o.output('withBias', o.linear(o.input('x'), o.param('w'), o.param('b')));
        o.output('noBias', o.linear(o.input('x'), o.param('w'), null));
        o.output('vector', o.linear(o.input('v'), o.param('w'), o.param('b')));
      },
    }));

  // With a bias the tracer runs x as [rows, in] through one Gemm and restores the leading
  // dims; a weight fed as an input has no dims at trace time, so `in` comes from x.
  test('linear with bias: rank 2, 3 and 4 x; weight and bias as inputs; other batch shapes', () =>
    check('linear-gemm', {
      params: { w: f32([8, 12], 0.5), b: f32([12]) },
      inputs: { x2: f32([3, 8]), x3: f32([2, 5, 8]), x4: f32([2, 3, 2, 8]), wi: f32([8, 12], 0.5), bi: f32([12]) },
      outputs: ['r2', 'r3', 'r4', 'fed'],
      fn(o) {
        o.output('r2', o.linear(o.input('x2'), o.param('w'), o.param('b')));
        o.output('r3', o.linear(o.input('x3'), o.param('w'), o.param('b')));
        o.output('r4', o.linear(o.input('x4'), o.param('w'), o.param('b')));
        o.output('fed', o.linear(o.input('x3'), o.input('wi'), o.input('bi')));
      },
    }, { x2: f32([1, 8]), x3: f32([1, 1, 8]), x4: f32([1, 4, 1, 8]), wi: f32([8, 12], 0.5), bi: f32([12]) }));

  test('matmul: batched, batch-broadcast and 2D', () =>
    check('matmul', {
      inputs: { a: f32([2, 3, 4, 5]), b: f32([2, 3, 5, 6]), b1: f32([1, 3, 5, 6]), m: f32([5, 2]) },
      outputs: ['batched', 'broadcast', 'twoD'],
      fn(o) {
        o.output('batched', o.matmul(o.input('a'), o.input('b')));
        o.output('broadcast', o.matmul(o.input('a'), o.input('b1')));
        o.output('twoD', o.matmul(o.input('a'), o.input('m')));
      },
    }));

  test('matmulTransposeB on rank 2, 3 and 4', () =>
    check('matmulTransposeB', {
      inputs: { a2: f32([3, 8]), b2: f32([5, 8]), a3: f32([2, 3, 8]), b3: f32([2, 4, 8]), a4: f32([2, 3, 4, 8]), b4: f32([2, 3, 6, 8]) },
      outputs: ['r2', 'r3', 'r4'],
      fn(o) {
        o.output('r2', o.matmulTransposeB(o.input('a2'), o.input('b2')));
        o.output('r3', o.matmulTransposeB(o.input('a3'), o.input('b3')));
        o.output('r4', o.matmulTransposeB(o.input('a4'), o.input('b4')));
      },
    }));

  test('embedding gathers rows for i32 ids', () =>
    check('embedding', {
      params: { wte: f32([50, 8]) },
      inputs: { ids: i32([2, 7], 50) },
      fn(o) { o.output('y', o.embedding(o.param('wte'), o.input('ids'))); },
    }));
});

describe('shapes', () => {
  test('reshapeTail: split heads with -1, merge heads, keep 0', () =>
    check('reshapeTail', {
      inputs: { x: f32([2, 3, 12]), heads: f32([2, 3, 4, 3]) },
      outputs: ['split', 'merge', 'flat'],
      fn(o) {
        o.output('split', o.reshapeTail(o.input('x'), 2, [4, -1]));
        o.output('merge', o.reshapeTail(o.input('heads'), 2, [12]));
        o.output('flat', o.reshapeTail(o.input('x'), 0, [-1, 4]));
      },
    }));

  test('transpose', () =>
    check('transpose', {
      inputs: { x: f32([2, 3, 4, 5]) },
      outputs: ['heads', 'rev'],
      fn(o) {
        o.output('heads', o.transpose(o.input('x'), [0, 2, 1, 3]));
        o.output('rev', o.transpose(o.input('x'), [3, 2, 1, 0]));
      },
    }));

  test('sliceLast (positive, negative and clamped bounds) and concatLast', () =>
    check('slice', {
      inputs: { x: f32([2, 3, 10]), y: f32([2, 3, 4]) },
      outputs: ['mid', 'neg', 'clamp', 'cat', 'halves'],
      fn(o) {
        const x = o.input('x');
        o.output('mid', o.sliceLast(x, 2, 7));
        o.output('neg', o.sliceLast(x, -4, -1));
        o.output('clamp', o.sliceLast(x, 6, 100));
        o.output('cat', o.concatLast([x, o.input('y'), x]));
        // rotary-style: [-x2, x1]
        o.output('halves', o.concatLast([o.neg(o.sliceLast(x, 5, 10)), o.sliceLast(x, 0, 5)]));
      },
    }));

  test('repeatHeads n = 1, 2, 3 (GQA)', () =>
    check('repeatHeads', {
      inputs: { kv: f32([2, 2, 5, 3]) },
      outputs: ['n1', 'n2', 'n3'],
      fn(o) {
        o.output('n1', o.repeatHeads(o.input('kv'), 1));
        o.output('n2', o.repeatHeads(o.input('kv'), 2));
        o.output('n3', o.repeatHeads(o.input('kv'), 3));
      },
    }, { kv: f32([1, 2, 1, 3]) }, { kv: f32([3, 2, 0, 3]) }));
});

describe('outputs', () => {
  test('an input and a weight can be outputs; i32 outputs come back as f32', () =>
    check('passthrough', {
      params: { w: f32([3]) },
      inputs: { x: f32([2, 3]), ids: i32([2, 4], 1000) },
      outputs: ['x', 'w', 'ids'],
      fn(o) {
        o.output('x', o.input('x'));
        o.output('w', o.param('w'));
        o.output('ids', o.input('ids'));
      },
    }));
});

// ---- composed programs ----------------------------------------------------------------

describe('dynamic shapes', () => {
  test('one compiled program serves several batch and sequence sizes', () =>
    check('dynamic', {
      params: { wte: f32([30, 8]), w: f32([8, 8], 0.5), lnw: f32([8]), lnb: f32([8]) },
      inputs: { ids: i32([2, 5], 30) },
      fn(o) {
        const h = o.embedding(o.param('wte'), o.input('ids'));
        const y = o.linear(o.layerNorm(h, o.param('lnw'), o.param('lnb'), 1e-5), o.param('w'), null);
        o.output('y', o.add(h, o.gelu(y, 'tanh')));
      },
    }, { ids: i32([1, 1], 30) }, { ids: i32([4, 17], 30) }, { ids: i32([3, 2], 30) }));
});

describe('attention', () => {
  /** Causal bias [T, T]: 0 on and below the diagonal, a large negative number above. */
  const causal = (t: number): HostArray => {
    const data = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) data[i * t + j] = -1e9;
    return { shape: [t, t], data };
  };
  /** The models' bias: -Infinity above the diagonal and, with a window w, where i - j >= w. */
  const causalInf = (t: number, window = Infinity): HostArray => {
    const data = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) if (j > i || i - j >= window) data[i * t + j] = -Infinity;
    return { shape: [t, t], data };
  };
  const qkv = (b: number, h: number, t: number) => ({ q: f32([b, h, t, 4]), k: f32([b, h, t, 4]), v: f32([b, h, t, 4]) });

  // The tracer splits the rows at floor(T / 2) and skips the masked upper-right block:
  // odd and even T, T = 1 (an empty top block) and 2, one session for all of them.
  test('causalAttention equals softmax(q kᵀ s + bias) v for every T', () =>
    check('causalAttention', {
      inputs: { ...qkv(2, 3, 6), bias: causalInf(6) },
      fn(o) { o.output('y', o.causalAttention(o.input('q'), o.input('k'), o.input('v'), o.input('bias'), 0.5)); },
    }, { ...qkv(1, 2, 1), bias: causalInf(1) }, { ...qkv(2, 1, 2), bias: causalInf(2) }, { ...qkv(1, 3, 9), bias: causalInf(9) }));

  test('causalAttention with a per-head bias [H, T, T] (ALiBi-like slopes on the causal mask)', () => {
    const perHead = (h: number, t: number): HostArray => {
      const mask = causalInf(t).data as Float32Array;
      const data = new Float32Array(h * t * t);
      for (let i = 0; i < h; i++) for (let j = 0; j < t * t; j++) data[i * t * t + j] = mask[j] - (i + 1) * 0.25 * ((j / t) | 0) + 0.25 * (j % t);
      return { shape: [h, t, t], data };
    };
    return check('causalAttention-per-head', {
      inputs: { ...qkv(2, 3, 5), bias: perHead(3, 5) },
      fn(o) { o.output('y', o.causalAttention(o.input('q'), o.input('k'), o.input('v'), o.input('bias'), 0.5)); },
    }, { ...qkv(1, 3, 8), bias: perHead(3, 8) });
  });

  test('causalAttention with a sliding-window bias and rank-3 inputs', () =>
    check('causalAttention-window', {
      inputs: { q: f32([3, 7, 4]), k: f32([3, 7, 4]), v: f32([3, 7, 4]), bias: causalInf(7, 3) },
      fn(o) { o.output('y', o.causalAttention(o.input('q'), o.input('k'), o.input('v'), o.input('bias'), 0.25)); },
    }, { q: f32([1, 8, 4]), k: f32([1, 8, 4]), v: f32([1, 8, 4]), bias: causalInf(8, 2) }));
  const D = 16, H = 4, HKV = 2, DH = D / H;
  const params = {
    wq: f32([D, H * DH], 0.4), bq: f32([H * DH]),
    wk: f32([D, HKV * DH], 0.4), wv: f32([D, HKV * DH], 0.4),
    wo: f32([H * DH, D], 0.4), lnw: f32([D]),
  };

  test('GQA block: splitHeads, q k^T + causal bias, softmax, repeatHeads, merge, residual', () =>
    check('attention', {
      params,
      inputs: { x: f32([2, 6, D]), causal_bias: causal(6) },
      outputs: ['y', 'probs'],
      fn(o) {
        const x = o.input('x');
        const h = o.rmsNorm(x, o.param('lnw'), 1e-6, false);
        /** [B, T, heads*DH] -> [B, heads, T, DH] */
        const split = (t: ReturnType<typeof o.input>, heads: number) => o.transpose(o.reshapeTail(t, 2, [heads, DH]), [0, 2, 1, 3]);
        const q = split(o.linear(h, o.param('wq'), o.param('bq')), H);
        const k = o.repeatHeads(split(o.linear(h, o.param('wk'), null), HKV), H / HKV);
        const v = o.repeatHeads(split(o.linear(h, o.param('wv'), null), HKV), H / HKV);
        const scores = o.add(o.scale(o.matmulTransposeB(q, k), 1 / Math.sqrt(DH)), o.input('causal_bias'));
        const probs = o.softmax(scores);
        o.output('probs', probs);
        const ctx = o.reshapeTail(o.transpose(o.matmul(probs, v), [0, 2, 1, 3]), 2, [H * DH]);
        o.output('y', o.add(x, o.linear(ctx, o.param('wo'), null)));
      },
    }, { x: f32([1, 3, D]), causal_bias: causal(3) }, { x: f32([3, 9, D]), causal_bias: causal(9) }));
});

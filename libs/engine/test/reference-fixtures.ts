/**
 * Shared by the reference*.test.ts and tfjs*.test.ts files (not a test file itself):
 * - OP_CASES: every op on small inputs with hand-computed expected values;
 * - ERROR_CASES: bad programs / inputs and the message each engine must give;
 * - attentionProgram: a mini GQA attention block, and naiveAttention, the same block as
 *   plain loops (an oracle independent of the reference engine).
 */
import assert from 'node:assert/strict';
import type { Engine, HostArray, Ops, RuntimeInputs, TensorProgram } from '../src/ops.js';
import { assertAllClose, randomF32, type Rng } from '../src/reference/index.js';

export const f32 = (shape: number[], values: number[]): HostArray => ({ shape, data: Float32Array.from(values) });
export const i32 = (shape: number[], values: number[]): HostArray => ({ shape, data: Int32Array.from(values) });
export const iota = (shape: number[]): HostArray => f32(shape, Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => i));

const LN2 = Math.LN2;
const LN3 = Math.log(3);

export interface OpCase {
  name: string;
  /** Declared as program inputs (f32 or i32 from the array type, rank from the shape). */
  inputs: Record<string, HostArray>;
  params?: Record<string, HostArray>;
  /** Builds the single output 'y' from inputs/params fetched by name. */
  build: <T>(ops: Ops<T>, v: (name: string) => T) => T;
  expected: { shape: number[]; data: number[] };
  /** Extra absolute tolerance for cases with large intermediate values. */
  atol?: number;
}

export const OP_CASES: OpCase[] = [
  {
    name: 'add broadcasts [2,1] + [3]',
    inputs: { a: f32([2, 1], [10, 20]), b: f32([3], [1, 2, 3]) },
    build: (ops, v) => ops.add(v('a'), v('b')),
    expected: { shape: [2, 3], data: [11, 12, 13, 21, 22, 23] },
  },
  {
    name: 'add i32 + i32 stays integer (returned as f32)',
    inputs: { a: i32([2], [1, -2]), b: i32([2], [3, 4]) },
    build: (ops, v) => ops.add(v('a'), v('b')),
    expected: { shape: [2], data: [4, 2] },
  },
  {
    name: 'sub broadcasts [2,3] - [1,3]',
    inputs: { a: iota([2, 3]), b: f32([1, 3], [1, 1, 1]) },
    build: (ops, v) => ops.sub(v('a'), v('b')),
    expected: { shape: [2, 3], data: [-1, 0, 1, 2, 3, 4] },
  },
  {
    name: 'mul broadcasts [2,1,2] * [3,1] -> [2,3,2]',
    inputs: { a: f32([2, 1, 2], [1, 2, 3, 4]), b: f32([3, 1], [1, 10, 100]) },
    build: (ops, v) => ops.mul(v('a'), v('b')),
    expected: { shape: [2, 3, 2], data: [1, 2, 10, 20, 100, 200, 3, 4, 30, 40, 300, 400] },
  },
  {
    name: 'scale by 4',
    inputs: { x: f32([3], [1, -2, 0.5]) },
    build: (ops, v) => ops.scale(v('x'), 4),
    expected: { shape: [3], data: [4, -8, 2] },
  },
  {
    name: 'neg',
    inputs: { x: f32([3], [1, -2, 0]) },
    build: (ops, v) => ops.neg(v('x')),
    expected: { shape: [3], data: [-1, 2, 0] },
  },
  {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), evaluated with mpmath at 30 digits
    name: "gelu 'tanh'",
    inputs: { x: f32([5], [0, 1, -1, 3, -0.5]) },
    build: (ops, v) => ops.gelu(v('x'), 'tanh'),
    expected: { shape: [5], data: [0, 0.8411919906082767, -0.1588080093917233, 2.996362607918227, -0.15428599017485608] },
  },
  {
    // x Phi(x) with Phi the standard normal CDF: Phi(1) = 0.841344746..., Phi(2) = 0.977249868...
    name: "gelu 'erf' = x Phi(x)",
    inputs: { x: f32([6], [0, 1, -1, 2, -3, -10]) },
    build: (ops, v) => ops.gelu(v('x'), 'erf'),
    expected: { shape: [6], data: [0, 0.84134474606854295, -0.15865525393145705, 1.9544997361036416, -0.0040496940948902836, -7.6198530241605261e-23] },
  },
  {
    // sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4
    name: 'silu: x sigmoid(x) at 0, +-ln 3',
    inputs: { x: f32([3], [0, LN3, -LN3]) },
    build: (ops, v) => ops.silu(v('x')),
    expected: { shape: [3], data: [0, 0.75 * LN3, -0.25 * LN3] },
  },
  {
    name: 'relu',
    inputs: { x: f32([4], [-1, 0, 2.5, -0.001]) },
    build: (ops, v) => ops.relu(v('x')),
    expected: { shape: [4], data: [0, 0, 2.5, 0] },
  },
  {
    // row [1,2,3]: mean 2, biased variance 2/3; eps = 1/3 makes var + eps = 1, so
    // (x - 2) = [-1, 0, 1], * w [1,2,3] = [-1, 0, 3], + b. Row [10,10,10]: variance 0 -> b.
    name: 'layerNorm with bias (biased variance)',
    inputs: { x: f32([2, 3], [1, 2, 3, 10, 10, 10]) },
    params: { w: f32([3], [1, 2, 3]), b: f32([3], [0.5, 0, -0.5]) },
    build: (ops, v) => ops.layerNorm(v('x'), v('w'), v('b'), 1 / 3),
    expected: { shape: [2, 3], data: [-0.5, 0, 2.5, 0.5, 0, -0.5] },
  },
  {
    // [1,2,3] with eps 0: (x - 2) / sqrt(2/3) = [-sqrt(3/2), 0, sqrt(3/2)]
    name: 'layerNorm without bias, eps 0',
    inputs: { x: f32([3], [1, 2, 3]) },
    params: { w: f32([3], [1, 1, 1]) },
    build: (ops, v) => ops.layerNorm(v('x'), v('w'), null, 0),
    expected: { shape: [3], data: [-Math.sqrt(1.5), 0, Math.sqrt(1.5)] },
  },
  {
    // mean(x^2) = 4, + eps 5 = 9: x / 3 * w
    name: 'rmsNorm',
    inputs: { x: f32([4], [2, -2, 2, -2]) },
    params: { w: f32([4], [3, 1.5, -3, 0]) },
    build: (ops, v) => ops.rmsNorm(v('x'), v('w'), 5, false),
    expected: { shape: [4], data: [2, -1, -2, 0] },
  },
  {
    // eps 0: x / 2 * (1 + w)
    name: 'rmsNorm plusOne (Gemma)',
    inputs: { x: f32([4], [2, -2, 2, -2]) },
    params: { w: f32([4], [0, 1, -0.5, 2]) },
    build: (ops, v) => ops.rmsNorm(v('x'), v('w'), 0, true),
    expected: { shape: [4], data: [1, -2, 0.5, -3] },
  },
  {
    // [0, ln 2] -> [1/3, 2/3]; [1000, 1000] overflows exp() unless the max is subtracted;
    // [1000, 999] -> [1/(1+e^-1), e^-1/(1+e^-1)]
    name: 'softmax (max subtracted)',
    inputs: { x: f32([3, 2], [0, LN2, 1000, 1000, 1000, 999]) },
    build: (ops, v) => ops.softmax(v('x')),
    expected: { shape: [3, 2], data: [1 / 3, 2 / 3, 0.5, 0.5, 0.73105857863000488, 1 - 0.73105857863000488] },
  },
  {
    // [0, ln 2] -> [-ln 3, ln 2 - ln 3]; [1000, 0] -> [-log(1 + e^-1000) = 0, -1000];
    // [-1000, -999] -> [-1 - log(1 + e^-1), -log(1 + e^-1)]
    name: 'logSoftmax (stable)',
    inputs: { x: f32([3, 2], [0, LN2, 1000, 0, -1000, -999]) },
    build: (ops, v) => ops.logSoftmax(v('x')),
    expected: { shape: [3, 2], data: [-LN3, LN2 - LN3, 0, -1000, -1.31326168751822283, -0.31326168751822283] },
  },
  {
    name: 'linear [2,1,2] @ [2,3] + b',
    inputs: { x: f32([2, 1, 2], [1, 2, 3, 4]) },
    params: { w: f32([2, 3], [1, 0, 1, 0, 1, 1]), b: f32([3], [0.5, -0.5, 0]) },
    build: (ops, v) => ops.linear(v('x'), v('w'), v('b')),
    expected: { shape: [2, 1, 3], data: [1.5, 1.5, 3, 3.5, 3.5, 7] },
  },
  {
    name: 'linear rank-1 x, no bias',
    inputs: { x: f32([2], [1, 2]) },
    params: { w: f32([2, 3], [1, 0, 1, 0, 1, 1]) },
    build: (ops, v) => ops.linear(v('x'), v('w'), null),
    expected: { shape: [3], data: [1, 2, 3] },
  },
  {
    name: 'matmul 2x2',
    inputs: { a: f32([2, 2], [1, 2, 3, 4]), b: f32([2, 2], [5, 6, 7, 8]) },
    build: (ops, v) => ops.matmul(v('a'), v('b')),
    expected: { shape: [2, 2], data: [19, 22, 43, 50] },
  },
  {
    // batch [2] x [2]: second b is the identity
    name: 'matmul batched [2,2,2]',
    inputs: { a: f32([2, 2, 2], [1, 2, 3, 4, 1, 2, 3, 4]), b: f32([2, 2, 2], [5, 6, 7, 8, 1, 0, 0, 1]) },
    build: (ops, v) => ops.matmul(v('a'), v('b')),
    expected: { shape: [2, 2, 2], data: [19, 22, 43, 50, 1, 2, 3, 4] },
  },
  {
    // batch dims [2,1] and [3] broadcast to [2,3]; a_i = [i+1, i+1], b_j picks col 0, 1, both
    name: 'matmul broadcasts batch dims [2,1] x [3]',
    inputs: { a: f32([2, 1, 1, 2], [1, 1, 2, 2]), b: f32([3, 2, 1], [1, 0, 0, 1, 1, 1]) },
    build: (ops, v) => ops.matmul(v('a'), v('b')),
    expected: { shape: [2, 3, 1, 1], data: [1, 1, 2, 2, 2, 4] },
  },
  {
    name: 'matmul [2,1,2] @ shared [2,1]',
    inputs: { a: f32([2, 1, 2], [1, 2, 3, 4]), b: f32([2, 1], [1, 1]) },
    build: (ops, v) => ops.matmul(v('a'), v('b')),
    expected: { shape: [2, 1, 1], data: [3, 7] },
  },
  {
    name: 'matmulTransposeB',
    inputs: { a: f32([1, 2], [1, 2]), b: f32([3, 2], [1, 0, 0, 1, 1, 1]) },
    build: (ops, v) => ops.matmulTransposeB(v('a'), v('b')),
    expected: { shape: [1, 3], data: [1, 2, 3] },
  },
  {
    // per batch: [1,2].[3,4] = 11 and [1,2].[5,6] = 17; [0,1].[3,4] = 4, [0,1].[5,6] = 6
    name: 'matmulTransposeB batched [2,1,2] x [2,2,2]',
    inputs: { a: f32([2, 1, 2], [1, 2, 0, 1]), b: f32([2, 2, 2], [3, 4, 5, 6, 3, 4, 5, 6]) },
    build: (ops, v) => ops.matmulTransposeB(v('a'), v('b')),
    expected: { shape: [2, 1, 2], data: [11, 17, 4, 6] },
  },
  {
    // row 0 sees key 0 only: v0 = 4. Row 1: scores 0.5 * 1 * [0, ln 9] = [0, ln 3], so
    // probs [1/4, 3/4] and 4/4 + 3 * 8/4 = 7.
    name: 'causalAttention T=2, Dh=1, scale 0.5',
    inputs: {
      q: f32([1, 2, 1], [5, 1]), k: f32([1, 2, 1], [0, Math.log(9)]), v: f32([1, 2, 1], [4, 8]),
      bias: f32([2, 2], [0, -Infinity, 0, 0]),
    },
    build: (ops, v) => ops.causalAttention(v('q'), v('k'), v('v'), v('bias'), 0.5),
    expected: { shape: [1, 2, 1], data: [4, 7] },
  },
  {
    name: 'embedding [3,2] table, [2,2] ids',
    inputs: { ids: i32([2, 2], [2, 0, 1, 1]) },
    params: { table: f32([3, 2], [0, 0.5, 1, 1.5, 2, 2.5]) },
    build: (ops, v) => ops.embedding(v('table'), v('ids')),
    expected: { shape: [2, 2, 2], data: [2, 2.5, 0, 0.5, 1, 1.5, 1, 1.5] },
  },
  {
    name: 'reshapeTail keeps dim 0, cuts 6 into [2, -1]',
    inputs: { x: iota([2, 6]) },
    build: (ops, v) => ops.reshapeTail(v('x'), 1, [2, -1]),
    expected: { shape: [2, 2, 3], data: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] },
  },
  {
    name: 'reshapeTail merges the last two dims',
    inputs: { x: iota([2, 2, 3]) },
    build: (ops, v) => ops.reshapeTail(v('x'), 1, [6]),
    expected: { shape: [2, 6], data: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] },
  },
  {
    name: 'transpose [2,3] -> [3,2]',
    inputs: { x: iota([2, 3]) },
    build: (ops, v) => ops.transpose(v('x'), [1, 0]),
    expected: { shape: [3, 2], data: [0, 3, 1, 4, 2, 5] },
  },
  {
    // out[c, a, b] = x[a, b, c] with b = 0
    name: 'transpose [2,1,3] perm [2,0,1]',
    inputs: { x: iota([2, 1, 3]) },
    build: (ops, v) => ops.transpose(v('x'), [2, 0, 1]),
    expected: { shape: [3, 2, 1], data: [0, 3, 1, 4, 2, 5] },
  },
  {
    name: 'sliceLast 1:3',
    inputs: { x: iota([2, 4]) },
    build: (ops, v) => ops.sliceLast(v('x'), 1, 3),
    expected: { shape: [2, 2], data: [1, 2, 5, 6] },
  },
  {
    name: 'sliceLast -1:4 (python bounds)',
    inputs: { x: iota([2, 4]) },
    build: (ops, v) => ops.sliceLast(v('x'), -1, 4),
    expected: { shape: [2, 1], data: [3, 7] },
  },
  {
    name: 'concatLast [2,1] ++ [2,2]',
    inputs: { a: f32([2, 1], [1, 2]), b: f32([2, 2], [3, 4, 5, 6]) },
    build: (ops, v) => ops.concatLast([v('a'), v('b')]),
    expected: { shape: [2, 3], data: [1, 3, 4, 2, 5, 6] },
  },
  {
    // heads h0 = [1,2], h1 = [3,4] -> h0 h0 h1 h1
    name: 'repeatHeads n=2 repeats each head in a row',
    inputs: { x: f32([1, 2, 1, 2], [1, 2, 3, 4]) },
    build: (ops, v) => ops.repeatHeads(v('x'), 2),
    expected: { shape: [1, 4, 1, 2], data: [1, 2, 1, 2, 3, 4, 3, 4] },
  },
  {
    name: 'repeatHeads n=1 is the identity',
    inputs: { x: f32([1, 2, 1, 2], [1, 2, 3, 4]) },
    build: (ops, v) => ops.repeatHeads(v('x'), 1),
    expected: { shape: [1, 2, 1, 2], data: [1, 2, 3, 4] },
  },
];

/** The program of one OpCase: inputs and params by name, one output 'y'. */
export function caseProgram(c: OpCase): TensorProgram {
  const params = new Map(Object.entries(c.params ?? {}));
  const inputs = Object.fromEntries(
    Object.entries(c.inputs).map(([name, h]) => [name, { dtype: h.data instanceof Int32Array ? ('i32' as const) : ('f32' as const), rank: h.shape.length }]),
  );
  return {
    name: c.name,
    params,
    inputs,
    outputs: ['y'],
    fn<T>(ops: Ops<T>) {
      ops.output('y', c.build(ops, (name) => (params.has(name) ? ops.param(name) : ops.input(name))));
    },
  };
}

/**
 * Tolerance for hand-computed values: both sides are float32 roundings of the same real
 * number up to a few ulp (2^-24 ~ 6e-8 relative), so 1e-6 relative (~16 ulp) is loose
 * enough for transcendental kernels and tight enough to catch any wrong formula.
 */
export const ANALYTIC_TOL = { atol: 1e-6, rtol: 1e-6 };

export async function checkOpCase(engine: Engine, c: OpCase): Promise<void> {
  const compiled = await engine.compile(caseProgram(c));
  try {
    const { y } = await compiled.run(c.inputs);
    assertAllClose(y, c.expected, { ...ANALYTIC_TOL, atol: c.atol ?? ANALYTIC_TOL.atol }, `${engine.name}: ${c.name}`);
  } finally {
    await compiled.dispose();
  }
}

// ---- error cases ----------------------------------------------------------------------

export interface ErrorCase {
  name: string;
  program: TensorProgram;
  inputs: RuntimeInputs;
  outputs?: string[];
  message: RegExp;
}

function prog(name: string, fn: TensorProgram['fn'], over: Partial<TensorProgram> = {}): TensorProgram {
  return { name, params: new Map([['w', f32([2], [1, 2])]]), inputs: { x: { dtype: 'f32', rank: 2 } }, outputs: ['y'], fn, ...over };
}

const passThrough = <T>(ops: Ops<T>) => ops.output('y', ops.mul(ops.input('x'), ops.param('w')));
const goodX = f32([1, 2], [1, 2]);

export const ERROR_CASES: ErrorCase[] = [
  { name: 'missing input names it', program: prog('p', passThrough), inputs: {}, message: /program "p": missing input "x" \(f32, rank 2\); given: none/ },
  {
    name: 'wrong element type names the input',
    program: prog('p', passThrough),
    inputs: { x: i32([1, 2], [1, 2]) },
    message: /input "x" must be f32 \(Float32Array\), got Int32Array/,
  },
  {
    name: 'i32 input given as f32',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.embedding(ops.param('t'), ops.input('ids'))), {
      params: new Map([['t', f32([2, 1], [1, 2])]]),
      inputs: { ids: { dtype: 'i32', rank: 1 } },
    }),
    inputs: { ids: f32([1], [0]) },
    message: /input "ids" must be i32 \(Int32Array\), got Float32Array/,
  },
  { name: 'wrong rank names the input', program: prog('p', passThrough), inputs: { x: f32([2], [1, 2]) }, message: /input "x" must have rank 2, got shape \[2\]/ },
  { name: 'length not matching shape', program: prog('p', passThrough), inputs: { x: f32([2, 2], [1, 2, 3]) }, message: /input "x": 3 values for shape \[2, 2\] \(needs 4\)/ },
  { name: 'plain array data', program: prog('p', passThrough), inputs: { x: { shape: [1, 2], data: [1, 2] as unknown as Float32Array } }, message: /input "x": data must be a Float32Array or Int32Array, got a plain Array/ },
  { name: 'unknown requested output', program: prog('p', passThrough), inputs: { x: goodX }, outputs: ['nope'], message: /unknown output "nope"/ },
  {
    name: 'fn reads an undeclared input',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.input('z'))),
    inputs: { x: goodX },
    message: /fn reads input "z", which is not declared/,
  },
  {
    name: 'fn reads an unknown param',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.mul(ops.input('x'), ops.param('v')))),
    inputs: { x: goodX },
    message: /fn reads param "v", which is not in program.params/,
  },
  { name: 'fn does not produce an output', program: prog('p', () => {}), inputs: { x: goodX }, message: /fn did not produce output "y"/ },
  {
    name: 'fn produces an undeclared output',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('extra', ops.input('x'))),
    inputs: { x: goodX },
    message: /fn produced output "extra", which is not declared/,
  },
  {
    name: 'mixed element types in add',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.add(ops.input('x'), ops.input('n'))), {
      inputs: { x: { dtype: 'f32', rank: 2 }, n: { dtype: 'i32', rank: 2 } },
    }),
    inputs: { x: goodX, n: i32([1, 2], [1, 2]) },
    message: /add: element types differ \((f32|float32) \[1, 2\] vs (i32|int32) \[1, 2\]\)/,
  },
  {
    name: 'shapes that do not broadcast',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.add(ops.input('x'), ops.input('u'))), {
      inputs: { x: { dtype: 'f32', rank: 2 }, u: { dtype: 'f32', rank: 1 } },
    }),
    inputs: { x: goodX, u: f32([3], [1, 2, 3]) },
    message: /add: shapes \[1, 2\] and \[3\] do not broadcast/,
  },
  {
    name: 'linear with the wrong input width',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.linear(ops.input('x'), ops.param('m'), null)), {
      params: new Map([['m', f32([3, 1], [1, 2, 3])]]),
    }),
    inputs: { x: goodX },
    message: /linear: x \[1, 2\] does not end in 3/,
  },
  {
    name: 'layerNorm weight of the wrong size',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.layerNorm(ops.input('x'), ops.param('g'), null, 1e-5)), {
      params: new Map([['g', f32([3], [1, 1, 1])]]),
    }),
    inputs: { x: goodX },
    message: /layerNorm: weight must have shape \[2\]/,
  },
  {
    name: 'embedding with f32 ids',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.embedding(ops.param('t'), ops.input('x'))), {
      params: new Map([['t', f32([2, 1], [1, 2])]]),
    }),
    inputs: { x: goodX },
    message: /embedding: ids must be i32/,
  },
  {
    name: 'reshapeTail with a wrong element count',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.reshapeTail(ops.input('x'), 1, [3]))),
    inputs: { x: goodX },
    message: /reshapeTail: cannot cut dims \[2\] \(2 elements\) of \[1, 2\] into \[3\]/,
  },
  {
    name: 'matmul with mismatched inner dims',
    program: prog('p', <T>(ops: Ops<T>) => ops.output('y', ops.matmul(ops.input('x'), ops.input('x')))),
    inputs: { x: goodX },
    message: /matmul: inner dims differ: a \[1, 2\], b \[1, 2\]/,
  },
];

/** Checks every ERROR_CASE rejects with its message on `engine`. */
export async function checkErrorCases(engine: Engine): Promise<void> {
  for (const c of ERROR_CASES) {
    const compiled = await engine.compile(c.program);
    try {
      await assert.rejects(compiled.run(c.inputs, c.outputs), (e: unknown) => {
        assert.ok(e instanceof Error, `${c.name}: not an Error`);
        assert.match(e.message, c.message, `${c.name}`);
        return true;
      });
    } finally {
      await compiled.dispose();
    }
  }
}

// ---- a mini attention block (GQA) ----------------------------------------------------

export interface AttentionDims {
  d: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** Random weights for attentionProgram, scaled so activations stay O(1). */
export function attentionParams(rng: Rng, { d, heads, kvHeads, headDim }: AttentionDims): Map<string, HostArray> {
  const s = 1 / Math.sqrt(d);
  return new Map([
    ['wq', randomF32(rng, [d, heads * headDim], s)],
    ['bq', randomF32(rng, [heads * headDim], 0.1)],
    ['wk', randomF32(rng, [d, kvHeads * headDim], s)],
    ['wv', randomF32(rng, [d, kvHeads * headDim], s)],
    ['wo', randomF32(rng, [heads * headDim, d], 1 / Math.sqrt(heads * headDim))],
    ['ln_w', { shape: [d], data: randomF32(rng, [d], 0.2).data.map((v) => 1 + v) }],
    ['ln_b', randomF32(rng, [d], 0.1)],
  ]);
}

/**
 * Pre-LN causal self-attention with grouped KV heads, written once against Ops:
 * x [B, T, D] -> LN -> q [B, H, T, Dh], k/v [B, Hkv, T, Dh] (repeated to H) ->
 * softmax(q k^T / sqrt(Dh) + causal_bias) v -> merge heads -> wo -> + x.
 * Outputs 'y' [B, T, D] and 'probs' [B, H, T, T].
 */
export function attentionProgram(dims: AttentionDims, params: Map<string, HostArray>): TensorProgram {
  const { heads, kvHeads, headDim } = dims;
  return {
    name: `attention-h${heads}-kv${kvHeads}`,
    params,
    inputs: { x: { dtype: 'f32', rank: 3 }, causal_bias: { dtype: 'f32', rank: 2 } },
    outputs: ['y', 'probs'],
    fn<T>(ops: Ops<T>) {
      const x = ops.input('x');
      const h = ops.layerNorm(x, ops.param('ln_w'), ops.param('ln_b'), 1e-5);
      // [B, T, H*Dh] -> [B, T, H, Dh] -> [B, H, T, Dh]
      const split = (t: T, n: number) => ops.transpose(ops.reshapeTail(t, 2, [n, headDim]), [0, 2, 1, 3]);
      const q = split(ops.linear(h, ops.param('wq'), ops.param('bq')), heads);
      const k = ops.repeatHeads(split(ops.linear(h, ops.param('wk'), null), kvHeads), heads / kvHeads);
      const v = ops.repeatHeads(split(ops.linear(h, ops.param('wv'), null), kvHeads), heads / kvHeads);
      const scores = ops.add(ops.scale(ops.matmulTransposeB(q, k), 1 / Math.sqrt(headDim)), ops.input('causal_bias'));
      const probs = ops.softmax(scores);
      // [B, H, T, Dh] -> [B, T, H, Dh] -> [B, T, H*Dh]
      const merged = ops.reshapeTail(ops.transpose(ops.matmul(probs, v), [0, 2, 1, 3]), 2, [heads * headDim]);
      ops.output('probs', probs);
      ops.output('y', ops.add(x, ops.linear(merged, ops.param('wo'), null)));
    },
  };
}

/** The same block as plain float64 loops over the host arrays. */
export function naiveAttention(dims: AttentionDims, params: Map<string, HostArray>, x: HostArray, bias: HostArray): { y: Float64Array; probs: Float64Array } {
  const { d, heads, kvHeads, headDim: dh } = dims;
  const [B, T] = x.shape;
  const p = (n: string) => params.get(n)!.data;
  const group = heads / kvHeads;
  const y = new Float64Array(B * T * d);
  const probs = new Float64Array(B * heads * T * T);
  for (let b = 0; b < B; b++) {
    // layer norm of each position
    const h: number[][] = [];
    for (let t = 0; t < T; t++) {
      const row = Array.from(x.data.subarray((b * T + t) * d, (b * T + t + 1) * d));
      const mean = row.reduce((s, v) => s + v, 0) / d;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
      h.push(row.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * p('ln_w')[i] + p('ln_b')[i]));
    }
    const proj = (w: string, width: number, bias?: string) =>
      h.map((row) => Array.from({ length: width }, (_, j) => row.reduce((s, v, i) => s + v * p(w)[i * width + j], bias ? p(bias)[j] : 0)));
    const q = proj('wq', heads * dh, 'bq');
    const k = proj('wk', kvHeads * dh);
    const v = proj('wv', kvHeads * dh);
    const merged = Array.from({ length: T }, () => new Array<number>(heads * dh).fill(0));
    for (let hd = 0; hd < heads; hd++) {
      const kv = Math.floor(hd / group); // query head hd reads KV head hd / group
      for (let i = 0; i < T; i++) {
        const s = Array.from({ length: T }, (_, j) => {
          let dot = 0;
          for (let c = 0; c < dh; c++) dot += q[i][hd * dh + c] * k[j][kv * dh + c];
          return dot / Math.sqrt(dh) + bias.data[i * T + j];
        });
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const sum = e.reduce((a, c) => a + c, 0);
        for (let j = 0; j < T; j++) {
          const pr = e[j] / sum;
          probs[((b * heads + hd) * T + i) * T + j] = pr;
          for (let c = 0; c < dh; c++) merged[i][hd * dh + c] += pr * v[j][kv * dh + c];
        }
      }
    }
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < d; j++) {
        let s = x.data[(b * T + t) * d + j];
        for (let i = 0; i < heads * dh; i++) s += merged[t][i] * p('wo')[i * d + j];
        y[(b * T + t) * d + j] = s;
      }
    }
  }
  return { y, probs };
}

/**
 * Random programs for comparing an engine with the reference (not a test file itself):
 * one generator per op with random shapes (broadcasting included), and random chains of
 * shape-preserving ops that look like transformer layers.
 */
import type { HostArray, Ops, RuntimeInputs, TensorProgram } from '../src/ops.js';
import { randomF32, randomI32, type Rng } from '../src/reference/index.js';

export interface RandomCase {
  program: TensorProgram;
  inputs: RuntimeInputs;
}

type Build = <T>(ops: Ops<T>, v: (name: string) => T) => T;

/** A one-output program over the given inputs and params (looked up by name). */
export function program(name: string, inputs: Record<string, HostArray>, params: Record<string, HostArray>, build: Build): RandomCase {
  const p = new Map(Object.entries(params));
  return {
    program: {
      name,
      params: p,
      inputs: Object.fromEntries(Object.entries(inputs).map(([n, h]) => [n, { dtype: h.data instanceof Int32Array ? 'i32' : 'f32', rank: h.shape.length }])),
      outputs: ['y'],
      fn<T>(ops: Ops<T>) {
        ops.output('y', build(ops, (n) => (p.has(n) ? ops.param(n) : ops.input(n))));
      },
    },
    inputs,
  };
}

const randShape = (rng: Rng, rank: number, lo = 1, hi = 5) => Array.from({ length: rank }, () => rng.int(lo, hi));

/** A shape that broadcasts against `s`: some leading dims dropped, some dims set to 1. */
function broadcastPartner(rng: Rng, s: number[]): number[] {
  const drop = rng.int(0, s.length - 1);
  return s.slice(drop).map((d) => (rng.next() < 0.3 ? 1 : d));
}

const positive = (h: HostArray, offset: number): HostArray => ({ shape: h.shape, data: (h.data as Float32Array).map((v) => v + offset) });

/** One generator per op of Ops (besides param/input/output). */
export const RANDOM_OP_CASES: Record<string, (rng: Rng) => RandomCase> = {
  add: (rng) => {
    const s = randShape(rng, rng.int(1, 4));
    const [a, b] = rng.next() < 0.5 ? [s, broadcastPartner(rng, s)] : [broadcastPartner(rng, s), s];
    return program('add', { a: randomF32(rng, a), b: randomF32(rng, b) }, {}, (ops, v) => ops.add(v('a'), v('b')));
  },
  sub: (rng) => {
    const s = randShape(rng, rng.int(1, 4));
    return program('sub', { a: randomF32(rng, broadcastPartner(rng, s)), b: randomF32(rng, s) }, {}, (ops, v) => ops.sub(v('a'), v('b')));
  },
  mul: (rng) => {
    const s = randShape(rng, rng.int(1, 4));
    return program('mul', { a: randomF32(rng, s) }, { b: randomF32(rng, broadcastPartner(rng, s)) }, (ops, v) => ops.mul(v('a'), v('b')));
  },
  scale: (rng) => {
    const s = rng.normal() * 3;
    return program('scale', { x: randomF32(rng, randShape(rng, 3)) }, {}, (ops, v) => ops.scale(v('x'), s));
  },
  neg: (rng) => program('neg', { x: randomF32(rng, randShape(rng, 2)) }, {}, (ops, v) => ops.neg(v('x'))),
  geluTanh: (rng) => program('gelu tanh', { x: randomF32(rng, randShape(rng, 3), 3) }, {}, (ops, v) => ops.gelu(v('x'), 'tanh')),
  geluErf: (rng) => program('gelu erf', { x: randomF32(rng, randShape(rng, 3), 3) }, {}, (ops, v) => ops.gelu(v('x'), 'erf')),
  silu: (rng) => program('silu', { x: randomF32(rng, randShape(rng, 3), 3) }, {}, (ops, v) => ops.silu(v('x'))),
  relu: (rng) => program('relu', { x: randomF32(rng, randShape(rng, 3)) }, {}, (ops, v) => ops.relu(v('x'))),
  layerNorm: (rng) => {
    const s = randShape(rng, rng.int(1, 3), 2, 40);
    const d = s[s.length - 1];
    const bias = rng.next() < 0.5;
    // offset 5, scale 2: the mean must really be removed
    return program('layerNorm', { x: positive(randomF32(rng, s, 2), 5) }, { w: randomF32(rng, [d]), b: randomF32(rng, [d]) }, (ops, v) =>
      ops.layerNorm(v('x'), v('w'), bias ? v('b') : null, 1e-5),
    );
  },
  rmsNorm: (rng) => {
    const s = randShape(rng, rng.int(1, 3), 2, 40);
    const plusOne = rng.next() < 0.5;
    return program('rmsNorm', { x: randomF32(rng, s, 2) }, { w: randomF32(rng, [s[s.length - 1]]) }, (ops, v) => ops.rmsNorm(v('x'), v('w'), 1e-6, plusOne));
  },
  softmax: (rng) => program('softmax', { x: randomF32(rng, randShape(rng, rng.int(1, 3), 1, 30), 5) }, {}, (ops, v) => ops.softmax(v('x'))),
  logSoftmax: (rng) => program('logSoftmax', { x: randomF32(rng, randShape(rng, rng.int(1, 3), 1, 30), 5) }, {}, (ops, v) => ops.logSoftmax(v('x'))),
  linear: (rng) => {
    const din = rng.int(1, 48);
    const dout = rng.int(1, 48);
    const bias = rng.next() < 0.5;
    const xs = [...randShape(rng, rng.int(0, 3)), din];
    return program('linear', { x: randomF32(rng, xs) }, { w: randomF32(rng, [din, dout], 1 / Math.sqrt(din)), b: randomF32(rng, [dout]) }, (ops, v) =>
      ops.linear(v('x'), v('w'), bias ? v('b') : null),
    );
  },
  matmul: (rng) => {
    const [m, k, n] = randShape(rng, 3, 1, 24);
    const batch = randShape(rng, rng.int(0, 2));
    const other = rng.next() < 0.3 ? [] : broadcastPartner(rng, batch.length ? batch : [1]);
    return program('matmul', { a: randomF32(rng, [...batch, m, k]), b: randomF32(rng, [...other, k, n]) }, {}, (ops, v) => ops.matmul(v('a'), v('b')));
  },
  matmulTransposeB: (rng) => {
    const [m, k, n] = randShape(rng, 3, 1, 24);
    const batch = randShape(rng, rng.int(0, 2));
    const other = rng.next() < 0.3 ? [] : broadcastPartner(rng, batch.length ? batch : [1]);
    return program('matmulTransposeB', { a: randomF32(rng, [...other, m, k]), b: randomF32(rng, [...batch, n, k]) }, {}, (ops, v) =>
      ops.matmulTransposeB(v('a'), v('b')),
    );
  },
  embedding: (rng) => {
    const [v, d] = [rng.int(1, 20), rng.int(1, 8)];
    return program('embedding', { ids: randomI32(rng, randShape(rng, rng.int(1, 3)), 0, v - 1) }, { table: randomF32(rng, [v, d]) }, (ops, get) =>
      ops.embedding(get('table'), get('ids')),
    );
  },
  reshapeTail: (rng) => {
    const [a, b, c, d] = randShape(rng, 4);
    return program('reshapeTail', { x: randomF32(rng, [a, b, c * d]) }, {}, (ops, v) => ops.reshapeTail(ops.reshapeTail(v('x'), 2, [c, -1]), 1, [-1]));
  },
  transpose: (rng) => {
    const rank = rng.int(1, 5);
    const perm = Array.from({ length: rank }, (_, i) => i).sort(() => rng.next() - 0.5);
    return program('transpose', { x: randomF32(rng, randShape(rng, rank)) }, {}, (ops, v) => ops.transpose(v('x'), perm));
  },
  sliceLast: (rng) => {
    const s = randShape(rng, rng.int(1, 3), 1, 8);
    const d = s[s.length - 1];
    const [start, end] = [rng.int(-d, d), rng.int(-d, d + 2)];
    return program('sliceLast', { x: randomF32(rng, s) }, {}, (ops, v) => ops.sliceLast(v('x'), start, end));
  },
  concatLast: (rng) => {
    const lead = randShape(rng, rng.int(0, 2));
    const n = rng.int(1, 3);
    const inputs = Object.fromEntries(Array.from({ length: n }, (_, i) => [`x${i}`, randomF32(rng, [...lead, rng.int(1, 4)])]));
    return program('concatLast', inputs, {}, (ops, v) => ops.concatLast(Object.keys(inputs).map(v)));
  },
  causalAttention: (rng) => {
    const [t, dh] = [rng.int(1, 12), rng.int(1, 8)];
    const lead = randShape(rng, rng.int(1, 2));
    const bias = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) bias[i * t + j] = -Infinity;
    const [q, k, v] = [0, 1, 2].map(() => randomF32(rng, [...lead, t, dh]));
    return program('causalAttention', { q, k, v, bias: { shape: [t, t], data: bias } }, {}, (ops, get) =>
      ops.causalAttention(get('q'), get('k'), get('v'), get('bias'), 1 / Math.sqrt(dh)),
    );
  },
  repeatHeads: (rng) => {
    const n = rng.int(1, 3);
    return program('repeatHeads', { x: randomF32(rng, randShape(rng, 4)) }, {}, (ops, v) => ops.repeatHeads(v('x'), n));
  },
};

type Step = <T>(ops: Ops<T>, h: T, p: (name: string) => T) => T;

/**
 * A random stack of shape-preserving steps over x [B, T, D] with the ops of a
 * transformer layer. Weights are scaled so activations stay O(1).
 */
export function randomChain(rng: Rng, seed: number): RandomCase & { steps: string[] } {
  const [b, t] = [rng.int(1, 3), rng.int(1, 6)];
  const d = 2 * rng.int(2, 12);
  const params: Record<string, HostArray> = {};
  const steps: string[] = [];
  const fns: Step[] = [];
  const vec = (name: string, scale: number, offset = 0) => {
    params[name] = positive(randomF32(rng, [d], scale), offset);
    return name;
  };
  const nSteps = rng.int(4, 10);
  for (let i = 0; i < nSteps; i++) {
    const kind = rng.pick(['addParam', 'mulParam', 'gelu', 'silu', 'relu', 'layerNorm', 'rmsNorm', 'linear', 'softmax', 'logSoftmax', 'swapHalves', 'heads', 'selfAttend', 'residual'] as const);
    steps.push(kind);
    switch (kind) {
      case 'addParam': {
        const n = vec(`a${i}`, 1);
        fns.push((ops, h, p) => ops.add(h, p(n)));
        break;
      }
      case 'mulParam': {
        const n = vec(`m${i}`, 0.5, 1);
        fns.push((ops, h, p) => ops.mul(h, p(n)));
        break;
      }
      case 'gelu': {
        const approx = rng.pick(['tanh', 'erf'] as const);
        steps[steps.length - 1] += `(${approx})`;
        fns.push((ops, h) => ops.gelu(h, approx));
        break;
      }
      case 'silu':
        fns.push((ops, h) => ops.silu(h));
        break;
      case 'relu':
        fns.push((ops, h) => ops.relu(h));
        break;
      case 'layerNorm': {
        const [w, bb] = [vec(`lw${i}`, 0.2, 1), vec(`lb${i}`, 0.2)];
        fns.push((ops, h, p) => ops.layerNorm(h, p(w), p(bb), 1e-5));
        break;
      }
      case 'rmsNorm': {
        const w = vec(`rw${i}`, 0.2);
        fns.push((ops, h, p) => ops.rmsNorm(h, p(w), 1e-6, true));
        break;
      }
      case 'linear': {
        const name = `w${i}`;
        params[name] = randomF32(rng, [d, d], 1 / Math.sqrt(d));
        const bias = vec(`b${i}`, 0.1);
        fns.push((ops, h, p) => ops.linear(h, p(name), p(bias)));
        break;
      }
      case 'softmax': // times D so the values stay O(1)
        fns.push((ops, h) => ops.scale(ops.softmax(h), d));
        break;
      case 'logSoftmax': // plus log D: O(1) again
        fns.push((ops, h) => ops.scale(ops.logSoftmax(h), 0.25));
        break;
      case 'swapHalves':
        fns.push((ops, h) => ops.concatLast([ops.sliceLast(h, d / 2, d), ops.sliceLast(h, 0, d / 2)]));
        break;
      case 'heads': // [B,T,D] -> [B,T,2,D/2] -> [B,2,T,D/2] -> repeat x2 -> mean of pairs via scale/add -> back
        fns.push((ops, h) => {
          const split = ops.transpose(ops.reshapeTail(h, 2, [2, -1]), [0, 2, 1, 3]);
          const rep = ops.repeatHeads(split, 2); // [B,4,T,D/2]: h0 h0 h1 h1
          const back = ops.reshapeTail(ops.transpose(rep, [0, 2, 1, 3]), 2, [2 * d]); // [B,T,2D]
          return ops.scale(ops.add(ops.sliceLast(back, 0, d), ops.sliceLast(back, d, 2 * d)), 0.5);
        });
        break;
      case 'selfAttend': // softmax(h h^T / sqrt d) h
        fns.push((ops, h) => ops.matmul(ops.softmax(ops.scale(ops.matmulTransposeB(h, h), 1 / Math.sqrt(d))), h));
        break;
      case 'residual':
        fns.push((ops, h) => ops.add(h, ops.neg(ops.scale(h, 0.5))));
        break;
    }
  }
  const p = new Map(Object.entries(params));
  return {
    steps,
    inputs: { x: randomF32(rng, [b, t, d]) },
    program: {
      name: `chain#${seed}`,
      params: p,
      inputs: { x: { dtype: 'f32', rank: 3 } },
      outputs: ['y', 'mid'],
      fn<T>(ops: Ops<T>) {
        let h = ops.input('x');
        fns.forEach((f, i) => {
          h = f(ops, h, (n) => ops.param(n));
          if (i === Math.floor(fns.length / 2)) ops.output('mid', h);
        });
        ops.output('y', h);
      },
    },
  };
}

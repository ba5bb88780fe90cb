/**
 * `Ops<RefTensor>`: every op of ../ops.ts written out as plain loops over float64 values.
 * Slow and obvious on purpose: this is the oracle the other engines and the model code
 * are tested against, so each op is a direct transcription of its definition (numpy
 * broadcasting, torch semantics), with strict checks of shapes and element types that
 * throw errors naming the op.
 */
import type { Ops } from '../ops.js';
import { geluErf, geluTanh } from './erf.js';
import { RefTensor, broadcastIndexMap, broadcastShapes, concatLastLeadDims, fmtShape, reshapeTailShape, sizeOf, sliceBounds, stridesOf, type RefDType } from './tensor.js';

/** Where `param`, `input` and `output` of a ReferenceOps go. */
export interface RefOpsSource {
  param?(name: string): RefTensor;
  input?(name: string): RefTensor;
  output?(name: string, x: RefTensor): void;
}

function requireFloat(op: string, ...xs: RefTensor[]): void {
  for (const x of xs) {
    if (x.dtype !== 'f32') throw new Error(`${op}: expects f32 tensors, got ${x.dtype} ${fmtShape(x.shape)}`);
  }
}

function requireRank(op: string, x: RefTensor, min: number, what = 'x'): void {
  if (x.rank < min) throw new Error(`${op}: ${what} must have rank >= ${min}, got ${fmtShape(x.shape)}`);
}

/** A [D] vector matching the last dim of x (norm weights, biases). */
function requireVector(op: string, v: RefTensor, d: number, what: string): void {
  if (v.rank !== 1 || v.shape[0] !== d) {
    throw new Error(`${op}: ${what} must have shape [${d}] to match the last dim of x, got ${fmtShape(v.shape)}`);
  }
}

function map(x: RefTensor, f: (v: number) => number): RefTensor {
  const out = new Float64Array(x.size);
  for (let i = 0; i < out.length; i++) out[i] = f(x.data[i]);
  return new RefTensor(x.shape, out, x.dtype);
}

/** Elementwise binary op with numpy broadcasting; i32 arithmetic wraps like int32. */
function binary(op: string, a: RefTensor, b: RefTensor, f: (x: number, y: number) => number, fInt: (x: number, y: number) => number): RefTensor {
  if (a.dtype !== b.dtype) {
    throw new Error(`${op}: element types differ (${a.dtype} ${fmtShape(a.shape)} vs ${b.dtype} ${fmtShape(b.shape)})`);
  }
  const shape = broadcastShapes(a.shape, b.shape, op);
  const ia = broadcastIndexMap(a.shape, shape);
  const ib = broadcastIndexMap(b.shape, shape);
  const g = a.dtype === 'i32' ? fInt : f;
  const out = new Float64Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = g(a.data[ia[i]], b.data[ib[i]]);
  return new RefTensor(shape, out, a.dtype);
}

function rowMax(row: Float64Array): number {
  let m = -Infinity;
  for (const v of row) if (v > m || Number.isNaN(v)) m = v;
  return m;
}

/** Applies `f(row, outRow)` to each run of `d` values along the last axis. */
function perRow(x: RefTensor, f: (row: Float64Array, out: Float64Array) => void): RefTensor {
  const d = x.shape[x.rank - 1];
  const out = new Float64Array(x.size);
  for (let off = 0; off < x.size; off += d) f(x.data.subarray(off, off + d), out.subarray(off, off + d));
  return new RefTensor(x.shape, out, x.dtype);
}

/**
 * a [...batchA, m, k] @ b [...batchB, k, n] (or b [...batchB, n, k] transposed), batch
 * dims broadcast numpy-style. Sums in float64 left to right.
 */
function matmulCore(op: string, a: RefTensor, b: RefTensor, transposeB: boolean): RefTensor {
  requireFloat(op, a, b);
  requireRank(op, a, 2, 'a');
  requireRank(op, b, 2, 'b');
  const [m, k] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const kb = transposeB ? bCols : bRows;
  const n = transposeB ? bRows : bCols;
  if (k !== kb) {
    throw new Error(`${op}: inner dims differ: a ${fmtShape(a.shape)}, b ${fmtShape(b.shape)}${transposeB ? ' (b transposed)' : ''}`);
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = broadcastShapes(batchA, batchB, `${op} batch dims`);
  const mapA = broadcastIndexMap(batchA, batch);
  const mapB = broadcastIndexMap(batchB, batch);
  const out = new Float64Array(sizeOf(batch) * m * n);
  for (let bi = 0; bi < mapA.length; bi++) {
    const aOff = mapA[bi] * m * k;
    const bOff = mapB[bi] * k * n;
    const oOff = bi * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) {
          const bv = transposeB ? b.data[bOff + j * k + t] : b.data[bOff + t * n + j];
          s += a.data[aOff + i * k + t] * bv;
        }
        out[oOff + i * n + j] = s;
      }
    }
  }
  return new RefTensor([...batch, m, n], out);
}

export class ReferenceOps implements Ops<RefTensor> {
  constructor(private readonly source: RefOpsSource = {}) {}

  param(name: string): RefTensor {
    if (!this.source.param) throw new Error(`param("${name}"): these ops have no params`);
    return this.source.param(name);
  }

  input(name: string): RefTensor {
    if (!this.source.input) throw new Error(`input("${name}"): these ops have no inputs`);
    return this.source.input(name);
  }

  output(name: string, x: RefTensor): void {
    if (!this.source.output) throw new Error(`output("${name}"): these ops collect no outputs`);
    this.source.output(name, x);
  }

  add(a: RefTensor, b: RefTensor): RefTensor {
    return binary('add', a, b, (x, y) => x + y, (x, y) => (x + y) | 0);
  }

  sub(a: RefTensor, b: RefTensor): RefTensor {
    return binary('sub', a, b, (x, y) => x - y, (x, y) => (x - y) | 0);
  }

  mul(a: RefTensor, b: RefTensor): RefTensor {
    return binary('mul', a, b, (x, y) => x * y, (x, y) => Math.imul(x, y));
  }

  scale(a: RefTensor, s: number): RefTensor {
    requireFloat('scale', a);
    return map(a, (v) => v * s);
  }

  neg(a: RefTensor): RefTensor {
    return map(a, a.dtype === 'i32' ? (v) => -v | 0 : (v) => -v);
  }

  gelu(a: RefTensor, approximate: 'tanh' | 'erf'): RefTensor {
    requireFloat('gelu', a);
    if (approximate === 'tanh') return map(a, geluTanh);
    if (approximate === 'erf') return map(a, geluErf);
    throw new Error(`gelu: approximate must be 'tanh' or 'erf', got ${String(approximate)}`);
  }

  silu(a: RefTensor): RefTensor {
    requireFloat('silu', a);
    return map(a, (v) => v / (1 + Math.exp(-v)));
  }

  relu(a: RefTensor): RefTensor {
    requireFloat('relu', a);
    return map(a, (v) => (v > 0 ? v : v === v ? 0 : v)); // keeps NaN, like torch
  }

  exp(a: RefTensor): RefTensor {
    requireFloat('exp', a);
    return map(a, Math.exp);
  }

  rsqrt(a: RefTensor): RefTensor {
    requireFloat('rsqrt', a);
    return map(a, (v) => 1 / Math.sqrt(v));
  }

  addScalar(a: RefTensor, s: number): RefTensor {
    requireFloat('addScalar', a);
    return map(a, (v) => v + s);
  }

  sumLast(x: RefTensor): RefTensor {
    return this.reduceLast('sumLast', x, 1);
  }

  meanLast(x: RefTensor): RefTensor {
    return this.reduceLast('meanLast', x, 1 / x.shape[x.rank - 1]);
  }

  private reduceLast(op: string, x: RefTensor, factor: number): RefTensor {
    requireFloat(op, x);
    requireRank(op, x, 1);
    const d = x.shape[x.rank - 1];
    const rows = d === 0 ? 0 : x.size / d;
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += x.data[r * d + i];
      out[r] = s * factor;
    }
    return new RefTensor([...x.shape.slice(0, -1), 1], out, 'f32');
  }

  sumRows(x: RefTensor): RefTensor {
    requireFloat('sumRows', x);
    requireRank('sumRows', x, 1);
    const d = x.shape[x.rank - 1];
    const out = new Float64Array(d);
    for (let off = 0; off < x.size; off += d) for (let i = 0; i < d; i++) out[i] += x.data[off + i];
    return new RefTensor([d], out, 'f32');
  }

  sumAll(x: RefTensor): RefTensor {
    requireFloat('sumAll', x);
    let s = 0;
    for (let i = 0; i < x.size; i++) s += x.data[i];
    return new RefTensor([], Float64Array.of(s), 'f32');
  }

  oneHot(ids: RefTensor, depth: number): RefTensor {
    if (ids.dtype !== 'i32') throw new Error(`oneHot: ids must be i32, got ${ids.dtype}`);
    const out = new Float64Array(ids.size * depth);
    for (let i = 0; i < ids.size; i++) {
      const id = ids.data[i];
      if (id >= 0 && id < depth) out[i * depth + id] = 1;
    }
    return new RefTensor([...ids.shape, depth], out, 'f32');
  }

  layerNorm(x: RefTensor, w: RefTensor, b: RefTensor | null, eps: number): RefTensor {
    requireFloat('layerNorm', x, w, ...(b ? [b] : []));
    requireRank('layerNorm', x, 1);
    const d = x.shape[x.rank - 1];
    requireVector('layerNorm', w, d, 'weight');
    if (b) requireVector('layerNorm', b, d, 'bias');
    return perRow(x, (row, out) => {
      let mean = 0;
      for (const v of row) mean += v;
      mean /= d;
      let variance = 0; // biased (divide by d), as torch.nn.LayerNorm
      for (const v of row) variance += (v - mean) * (v - mean);
      variance /= d;
      const inv = 1 / Math.sqrt(variance + eps);
      for (let i = 0; i < d; i++) out[i] = (row[i] - mean) * inv * w.data[i] + (b ? b.data[i] : 0);
    });
  }

  rmsNorm(x: RefTensor, w: RefTensor, eps: number, plusOne: boolean): RefTensor {
    requireFloat('rmsNorm', x, w);
    requireRank('rmsNorm', x, 1);
    const d = x.shape[x.rank - 1];
    requireVector('rmsNorm', w, d, 'weight');
    return perRow(x, (row, out) => {
      let ms = 0;
      for (const v of row) ms += v * v;
      ms /= d;
      const inv = 1 / Math.sqrt(ms + eps);
      for (let i = 0; i < d; i++) out[i] = row[i] * inv * (plusOne ? 1 + w.data[i] : w.data[i]);
    });
  }

  softmax(x: RefTensor): RefTensor {
    requireFloat('softmax', x);
    requireRank('softmax', x, 1);
    return perRow(x, (row, out) => {
      const m = rowMax(row); // subtracting the max keeps exp() from overflowing
      let s = 0;
      for (let i = 0; i < row.length; i++) s += out[i] = Math.exp(row[i] - m);
      for (let i = 0; i < row.length; i++) out[i] /= s;
    });
  }

  logSoftmax(x: RefTensor): RefTensor {
    requireFloat('logSoftmax', x);
    requireRank('logSoftmax', x, 1);
    return perRow(x, (row, out) => {
      const m = rowMax(row);
      let s = 0;
      for (const v of row) s += Math.exp(v - m);
      const lse = m + Math.log(s);
      for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
    });
  }

  linear(x: RefTensor, w: RefTensor, b: RefTensor | null): RefTensor {
    requireFloat('linear', x, w, ...(b ? [b] : []));
    requireRank('linear', x, 1);
    if (w.rank !== 2) throw new Error(`linear: weight must be [in, out], got ${fmtShape(w.shape)}`);
    const [din, dout] = w.shape;
    if (x.shape[x.rank - 1] !== din) {
      throw new Error(`linear: x ${fmtShape(x.shape)} does not end in ${din} (weight ${fmtShape(w.shape)})`);
    }
    if (b) requireVector('linear', b, dout, 'bias');
    // x viewed as rows [N, in]; a rank-1 x is one row
    const rows = new RefTensor([x.size / din, din], x.data);
    const y = matmulCore('linear', rows, w, false);
    if (b) for (let i = 0; i < y.size; i++) y.data[i] += b.data[i % dout];
    return new RefTensor([...x.shape.slice(0, -1), dout], y.data);
  }

  matmul(a: RefTensor, b: RefTensor): RefTensor {
    return matmulCore('matmul', a, b, false);
  }

  matmulTransposeB(a: RefTensor, b: RefTensor): RefTensor {
    return matmulCore('matmulTransposeB', a, b, true);
  }

  causalAttention(q: RefTensor, k: RefTensor, v: RefTensor, bias: RefTensor, scale: number): RefTensor {
    // The definition, op by op: this engine is the oracle the fast paths are checked against.
    return this.matmul(this.softmax(this.add(this.matmulTransposeB(this.scale(q, scale), k), bias)), v);
  }

  embedding(table: RefTensor, ids: RefTensor): RefTensor {
    requireFloat('embedding', table);
    if (table.rank !== 2) throw new Error(`embedding: table must be [V, D], got ${fmtShape(table.shape)}`);
    if (ids.dtype !== 'i32') throw new Error(`embedding: ids must be i32, got ${ids.dtype} ${fmtShape(ids.shape)}`);
    const [v, d] = table.shape;
    const out = new Float64Array(ids.size * d);
    for (let i = 0; i < ids.size; i++) {
      const id = ids.data[i];
      if (!Number.isInteger(id) || id < 0 || id >= v) throw new RangeError(`embedding: id ${id} at flat index ${i} is outside [0, ${v})`);
      out.set(table.data.subarray(id * d, (id + 1) * d), i * d);
    }
    return new RefTensor([...ids.shape, d], out);
  }

  reshapeTail(x: RefTensor, keep: number, tail: number[]): RefTensor {
    return new RefTensor(reshapeTailShape('reshapeTail', x.shape, keep, tail), x.data, x.dtype);
  }

  transpose(x: RefTensor, perm: number[]): RefTensor {
    const r = x.rank;
    if (perm.length !== r || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
      throw new Error(`transpose: perm ${fmtShape(perm)} is not a permutation of the ${r} dims of ${fmtShape(x.shape)}`);
    }
    const shape = perm.map((p) => x.shape[p]);
    const inStrides = stridesOf(x.shape);
    const outStrides = stridesOf(shape);
    const out = new Float64Array(x.size);
    for (let f = 0; f < out.length; f++) {
      // out[i0, i1, ...] = x[j] where j_{perm[d]} = i_d
      let rest = f;
      let src = 0;
      for (let d = 0; d < r; d++) {
        const i = Math.floor(rest / outStrides[d]);
        rest -= i * outStrides[d];
        src += i * inStrides[perm[d]];
      }
      out[f] = x.data[src];
    }
    return new RefTensor(shape, out, x.dtype);
  }

  sliceLast(x: RefTensor, start: number, end: number): RefTensor {
    requireRank('sliceLast', x, 1);
    if (!Number.isInteger(start) || !Number.isInteger(end)) throw new Error(`sliceLast: start/end must be integers, got ${start}:${end}`);
    const d = x.shape[x.rank - 1];
    const [s, e] = sliceBounds(start, end, d);
    const w = e - s;
    const rows = x.size / Math.max(d, 1);
    const out = new Float64Array(rows * w);
    for (let r = 0; r < rows; r++) out.set(x.data.subarray(r * d + s, r * d + e), r * w);
    return new RefTensor([...x.shape.slice(0, -1), w], out, x.dtype);
  }

  concatLast(xs: RefTensor[]): RefTensor {
    const lead = concatLastLeadDims(xs);
    const widths = xs.map((x) => x.shape[x.rank - 1]);
    const total = widths.reduce((p, w) => p + w, 0);
    const rows = sizeOf(lead);
    const out = new Float64Array(rows * total);
    for (let r = 0; r < rows; r++) {
      let col = 0;
      xs.forEach((x, k) => {
        out.set(x.data.subarray(r * widths[k], (r + 1) * widths[k]), r * total + col);
        col += widths[k];
      });
    }
    return new RefTensor([...lead, total], out, xs[0].dtype);
  }

  repeatHeads(x: RefTensor, n: number): RefTensor {
    requireRank('repeatHeads', x, 2);
    if (!Number.isInteger(n) || n < 1) throw new Error(`repeatHeads: n must be a positive integer, got ${n}`);
    const [b, h] = x.shape;
    const inner = sizeOf(x.shape.slice(2)); // T * Dh: one head's block
    const out = new Float64Array(x.size * n);
    for (let bi = 0; bi < b; bi++) {
      for (let hi = 0; hi < h; hi++) {
        const src = x.data.subarray((bi * h + hi) * inner, (bi * h + hi + 1) * inner);
        // head hi becomes heads hi*n .. hi*n+n-1 (repeat_interleave, as HF repeat_kv)
        for (let r = 0; r < n; r++) out.set(src, ((bi * h + hi) * n + r) * inner);
      }
    }
    return new RefTensor([b, h * n, ...x.shape.slice(2)], out, x.dtype);
  }
}

/** A RefTensor from host data (values widened to float64). */
export function refTensor(shape: readonly number[], values: ArrayLike<number>, dtype: RefDType = 'f32'): RefTensor {
  return new RefTensor(shape.slice(), Float64Array.from(values), dtype);
}


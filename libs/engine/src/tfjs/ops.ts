/**
 * `Ops<tf.Tensor>`: the engine-neutral op set on TensorFlow.js, eager. Every op is made of
 * differentiable tf ops, so model or lens code written against `Ops` also runs under
 * `tf.grad` / `tf.variableGrads` (used to check hand-written gradients).
 *
 * Semantics follow torch (see ../ops.ts); where tf would be lenient or obscure, the
 * inputs are checked here first so errors name the op: equal element types for
 * elementwise ops (tf would silently upcast i32 + f32), [D] norm weights, matmul inner
 * dims. Call inside `tf.tidy` (TfjsEngine does) so intermediates are freed.
 */
import type { Tensor } from '@tensorflow/tfjs';
import type { Ops } from '../ops.js';
import { broadcastShapes, concatLastLeadDims, fmtShape, reshapeTailShape, shapesEqual, sliceBounds } from '../reference/tensor.js';
import type { Tf } from './backend.js';

/** Where `param`, `input` and `output` go; any of them may be left out. */
export interface TfjsOpsSource {
  param?(name: string): Tensor;
  input?(name: string): Tensor;
  output?(name: string, x: Tensor): void;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Builds the op set over `tf` (from `getTf()` or `TfjsEngine.tf`). */
export function tfjsOps(tf: Tf, source: TfjsOpsSource = {}): Ops<Tensor> {
  const requireFloat = (op: string, ...xs: Tensor[]) => {
    for (const x of xs) if (x.dtype !== 'float32') throw new Error(`${op}: expects f32 tensors, got ${x.dtype} ${fmtShape(x.shape)}`);
  };
  const requireRank = (op: string, x: Tensor, min: number, what = 'x') => {
    if (x.rank < min) throw new Error(`${op}: ${what} must have rank >= ${min}, got ${fmtShape(x.shape)}`);
  };
  const requireSameType = (op: string, a: Tensor, b: Tensor) => {
    if (a.dtype !== b.dtype) throw new Error(`${op}: element types differ (${a.dtype} ${fmtShape(a.shape)} vs ${b.dtype} ${fmtShape(b.shape)})`);
    broadcastShapes(a.shape, b.shape, op); // tf's own message does not name the op
  };
  const requireVector = (op: string, v: Tensor, d: number, what: string) => {
    if (v.rank !== 1 || v.shape[0] !== d) {
      throw new Error(`${op}: ${what} must have shape [${d}] to match the last dim of x, got ${fmtShape(v.shape)}`);
    }
  };
  const lastDim = (x: Tensor) => x.shape[x.rank - 1];

  /**
   * a [...batchA, m, k] @ b [...batchB, k, n] (b [...batchB, n, k] when transposeB).
   * tf's BatchMatMul flattens the batch dims of each side and only broadcasts a batch
   * of 1, so other numpy-broadcastable batches are expanded here first (broadcastTo:
   * its gradient, tf's Tile gradient, works up to rank 4).
   */
  const batchedMatMul = (op: string, a: Tensor, b: Tensor, transposeB: boolean): Tensor => {
    requireFloat(op, a, b);
    requireRank(op, a, 2, 'a');
    requireRank(op, b, 2, 'b');
    const [m, k] = a.shape.slice(-2);
    const [bRows, bCols] = b.shape.slice(-2);
    if (k !== (transposeB ? bCols : bRows)) {
      throw new Error(`${op}: inner dims differ: a ${fmtShape(a.shape)}, b ${fmtShape(b.shape)}${transposeB ? ' (b transposed)' : ''}`);
    }
    const n = transposeB ? bRows : bCols;
    const batchA = a.shape.slice(0, -2);
    const batchB = b.shape.slice(0, -2);
    if (shapesEqual(batchA, batchB)) return tf.matMul(a, b, false, transposeB);
    if (b.rank === 2) {
      // one shared right-hand matrix: fold a's batch dims into rows, a single GEMM
      const y = tf.matMul(tf.reshape(a, [-1, k]), b, false, transposeB);
      return tf.reshape(y, [...batchA, m, n]);
    }
    const batch = broadcastShapes(batchA, batchB, `${op} batch dims`);
    const a2 = shapesEqual(batchA, batch) ? a : tf.broadcastTo(a, [...batch, ...a.shape.slice(-2)]);
    const b2 = shapesEqual(batchB, batch) ? b : tf.broadcastTo(b, [...batch, ...b.shape.slice(-2)]);
    return tf.matMul(a2, b2, false, transposeB);
  };

  return {
    param(name) {
      if (!source.param) throw new Error(`param("${name}"): these ops have no params`);
      return source.param(name);
    },
    input(name) {
      if (!source.input) throw new Error(`input("${name}"): these ops have no inputs`);
      return source.input(name);
    },
    output(name, x) {
      if (!source.output) throw new Error(`output("${name}"): these ops collect no outputs`);
      source.output(name, x);
    },

    add(a, b) {
      requireSameType('add', a, b);
      return tf.add(a, b);
    },
    sub(a, b) {
      requireSameType('sub', a, b);
      return tf.sub(a, b);
    },
    mul(a, b) {
      requireSameType('mul', a, b);
      return tf.mul(a, b);
    },
    scale(a, s) {
      requireFloat('scale', a);
      return tf.mul(a, tf.scalar(s, 'float32'));
    },
    neg(a) {
      return tf.neg(a);
    },
    gelu(x, approximate) {
      requireFloat('gelu', x);
      if (approximate === 'tanh') {
        // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        const x3 = tf.mul(tf.mul(x, x), x);
        const inner = tf.mul(tf.add(x, tf.mul(x3, tf.scalar(0.044715))), tf.scalar(SQRT_2_OVER_PI));
        return tf.mul(tf.mul(x, tf.scalar(0.5)), tf.add(tf.scalar(1), tf.tanh(inner)));
      }
      if (approximate === 'erf') {
        // x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
        return tf.mul(tf.mul(x, tf.scalar(0.5)), tf.add(tf.scalar(1), tf.erf(tf.mul(x, tf.scalar(Math.SQRT1_2)))));
      }
      throw new Error(`gelu: approximate must be 'tanh' or 'erf', got ${String(approximate)}`);
    },
    silu(x) {
      requireFloat('silu', x);
      return tf.mul(x, tf.sigmoid(x));
    },
    relu(x) {
      requireFloat('relu', x);
      return tf.relu(x);
    },

    exp(a) {
      requireFloat('exp', a);
      return tf.exp(a);
    },
    rsqrt(a) {
      requireFloat('rsqrt', a);
      return tf.rsqrt(a);
    },
    addScalar(a, s) {
      requireFloat('addScalar', a);
      return tf.add(a, tf.scalar(s, 'float32'));
    },
    sumLast(x) {
      requireFloat('sumLast', x);
      requireRank('sumLast', x, 1);
      return tf.sum(x, -1, true);
    },
    meanLast(x) {
      requireFloat('meanLast', x);
      requireRank('meanLast', x, 1);
      return tf.mean(x, -1, true);
    },
    sumRows(x) {
      requireFloat('sumRows', x);
      requireRank('sumRows', x, 1);
      if (x.rank === 1) return x;
      return tf.sum(x, Array.from({ length: x.rank - 1 }, (_, i) => i), false);
    },
    sumAll(x) {
      requireFloat('sumAll', x);
      return tf.sum(x);
    },
    oneHot(ids, depth) {
      if (ids.dtype !== 'int32') throw new Error(`oneHot: ids must be i32, got ${ids.dtype}`);
      // tf.oneHot gives int32 rows of zeros for ids outside [0, depth), as the op set asks.
      return tf.cast(tf.oneHot(ids as never, depth), 'float32');
    },

    layerNorm(x, w, b, eps) {
      requireFloat('layerNorm', x, w, ...(b ? [b] : []));
      requireRank('layerNorm', x, 1);
      requireVector('layerNorm', w, lastDim(x), 'weight');
      if (b) requireVector('layerNorm', b, lastDim(x), 'bias');
      // Centre in two steps: the f32 mean of x carries an error of ~u * |mean| (u = 2^-24),
      // which is large next to the spread of a row with a big offset (residual streams
      // have them); the mean of the once-centred values removes it (error ~u * spread).
      const centred1 = tf.sub(x, tf.mean(x, -1, true));
      const centred = tf.sub(centred1, tf.mean(centred1, -1, true));
      // then the biased variance, as torch, as a mean of squares (no E[x^2] - E[x]^2)
      const variance = tf.mean(tf.square(centred), -1, true);
      const y = tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, tf.scalar(eps)))), w);
      return b ? tf.add(y, b) : y;
    },
    rmsNorm(x, w, eps, plusOne) {
      requireFloat('rmsNorm', x, w);
      requireRank('rmsNorm', x, 1);
      requireVector('rmsNorm', w, lastDim(x), 'weight');
      const ms = tf.mean(tf.square(x), -1, true);
      const gain = plusOne ? tf.add(w, tf.scalar(1)) : w;
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, tf.scalar(eps)))), gain);
    },
    softmax(x) {
      requireFloat('softmax', x);
      requireRank('softmax', x, 1);
      return tf.softmax(x); // subtracts the row max (wasm kernel and the cpu/JS path)
    },
    logSoftmax(x) {
      requireFloat('logSoftmax', x);
      requireRank('logSoftmax', x, 1);
      return tf.logSoftmax(x); // x - max - log(sum(exp(x - max)))
    },

    linear(x, w, b) {
      requireFloat('linear', x, w, ...(b ? [b] : []));
      requireRank('linear', x, 1);
      if (w.rank !== 2) throw new Error(`linear: weight must be [in, out], got ${fmtShape(w.shape)}`);
      const [din, dout] = w.shape;
      if (lastDim(x) !== din) throw new Error(`linear: x ${fmtShape(x.shape)} does not end in ${din} (weight ${fmtShape(w.shape)})`);
      if (b) requireVector('linear', b, dout, 'bias');
      // one 2-D GEMM over all leading positions; the bias rides along in the fused kernel
      const rows = x.rank === 2 ? x : tf.reshape(x, [-1, din]);
      const y = b ? tf.fused.matMul({ a: rows, b: w, bias: b }) : tf.matMul(rows, w);
      return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), dout]);
    },
    matmul(a, b) {
      return batchedMatMul('matmul', a, b, false);
    },
    matmulTransposeB(a, b) {
      return batchedMatMul('matmulTransposeB', a, b, true);
    },
    causalAttention(q, k, v, bias, scale) {
      // The composition: on tfjs, skipping masked blocks would cost more in slices and
      // concats than it saves.
      const scores = tf.add(batchedMatMul('causalAttention', tf.mul(q, tf.scalar(scale)), k, true), bias);
      return batchedMatMul('causalAttention', tf.softmax(scores), v, false);
    },
    embedding(table, ids) {
      requireFloat('embedding', table);
      if (table.rank !== 2) throw new Error(`embedding: table must be [V, D], got ${fmtShape(table.shape)}`);
      if (ids.dtype !== 'int32') throw new Error(`embedding: ids must be i32, got ${ids.dtype} ${fmtShape(ids.shape)}`);
      // gather on axis 0: ids.shape + [D]. Ids outside [0, V) are not checked (that
      // would need reading the values); the reference engine throws on them. The gradient
      // w.r.t. the table needs UnsortedSegmentSum, which the wasm backend lacks.
      return tf.gather(table, ids);
    },

    reshapeTail(x, keep, tail) {
      return tf.reshape(x, reshapeTailShape('reshapeTail', x.shape, keep, tail));
    },
    transpose(x, perm) {
      if (perm.length !== x.rank || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
        throw new Error(`transpose: perm ${fmtShape(perm)} is not a permutation of the ${x.rank} dims of ${fmtShape(x.shape)}`);
      }
      return tf.transpose(x, perm);
    },
    sliceLast(x, start, end) {
      requireRank('sliceLast', x, 1);
      if (!Number.isInteger(start) || !Number.isInteger(end)) throw new Error(`sliceLast: start/end must be integers, got ${start}:${end}`);
      const [s, e] = sliceBounds(start, end, lastDim(x));
      const begin = x.shape.map((_, i) => (i === x.rank - 1 ? s : 0));
      const size = x.shape.map((d, i) => (i === x.rank - 1 ? e - s : d));
      return tf.slice(x, begin, size);
    },
    concatLast(xs) {
      concatLastLeadDims(xs);
      return xs.length === 1 ? xs[0] : tf.concat(xs, -1);
    },
    repeatHeads(x, n) {
      requireRank('repeatHeads', x, 2);
      if (!Number.isInteger(n) || n < 1) throw new Error(`repeatHeads: n must be a positive integer, got ${n}`);
      if (n === 1) return x;
      // [B, H, ...rest] -> [B, H, 1, R] -> tile -> [B, H, n, R] -> [B, H*n, ...rest]: each
      // head n times in a row (repeat_interleave, as HF repeat_kv). The trailing dims are
      // merged first because tf's Tile gradient stops at rank 4 (and gather's needs
      // UnsortedSegmentSum, which the wasm backend lacks).
      const [b, h, ...rest] = x.shape;
      const r = rest.reduce((p, d) => p * d, 1);
      const tiled = tf.tile(tf.reshape(x, [b, h, 1, r]), [1, 1, n, 1]);
      return tf.reshape(tiled, [b, h * n, ...rest]);
    },
  };
}

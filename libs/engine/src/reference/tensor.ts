/**
 * The reference engine's tensor: float64 values in row-major order plus the element type
 * the same value would have on a real engine ('f32' or 'i32'), so the oracle rejects the
 * programs a real engine would reject (e.g. adding an i32 tensor to an f32 one).
 */
export type RefDType = 'f32' | 'i32';

export class RefTensor {
  constructor(
    readonly shape: readonly number[],
    readonly data: Float64Array,
    readonly dtype: RefDType = 'f32',
  ) {
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new Error(`RefTensor: ${data.length} values for shape ${fmtShape(shape)} (needs ${n})`);
    }
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return this.data.length;
  }
}

/** Number of elements of `shape` (1 for the scalar shape []); throws on a bad dim. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`invalid shape ${fmtShape(shape)}: dim ${String(d)}`);
    n *= d;
  }
  return n;
}

/** Row-major strides in elements: the last dim has stride 1. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** `[2, 3, 4]` for error messages. */
export function fmtShape(shape: readonly unknown[]): string {
  return `[${shape.join(', ')}]`;
}

export function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The numpy broadcast of two shapes: align from the right, missing dims count as 1, and
 * each pair of dims must be equal or contain a 1. Throws naming `what` otherwise.
 */
export function broadcastShapes(a: readonly number[], b: readonly number[], what: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${what}: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * For each flat index of `outShape`, the flat index into a tensor of shape `inShape` that
 * broadcasts to it (stride 0 along broadcast dims). Built once per op: O(size * rank).
 */
export function broadcastIndexMap(inShape: readonly number[], outShape: readonly number[]): Int32Array {
  const rank = outShape.length;
  const inStrides = stridesOf(inShape);
  // stride of each OUT dim in the input: 0 where the input is missing the dim or has 1
  const st = new Array<number>(rank).fill(0);
  for (let i = 0; i < inShape.length; i++) {
    const o = rank - inShape.length + i;
    st[o] = inShape[i] === 1 ? 0 : inStrides[i];
  }
  const n = sizeOf(outShape);
  const map = new Int32Array(n);
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let f = 0; f < n; f++) {
    map[f] = off;
    // odometer increment of the multi-index, keeping `off` in step
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      off += st[d];
      if (idx[d] < outShape[d]) break;
      off -= st[d] * idx[d];
      idx[d] = 0;
    }
  }
  return map;
}

/**
 * The shape `reshapeTail(x, keep, tail)` produces: x's first `keep` dims, then `tail`
 * with its one -1 (if any) inferred. Throws naming `op` when the element counts differ.
 */
export function reshapeTailShape(op: string, shape: readonly number[], keep: number, tail: readonly number[]): number[] {
  if (!Number.isInteger(keep) || keep < 0 || keep > shape.length) {
    throw new Error(`${op}: keep=${keep} is out of range for ${fmtShape(shape)}`);
  }
  if (!Array.isArray(tail)) throw new Error(`${op}: tail must be an array of dims`);
  const cut = shape.slice(keep);
  const have = sizeOf(cut);
  const inferAt = tail.indexOf(-1);
  if (inferAt !== tail.lastIndexOf(-1)) throw new Error(`${op}: more than one -1 in tail ${fmtShape(tail)}`);
  for (const d of tail) {
    if (!Number.isInteger(d) || d < -1) throw new Error(`${op}: bad dim ${d} in tail ${fmtShape(tail)}`);
  }
  const out = tail.slice();
  if (inferAt >= 0) {
    const known = tail.reduce((p, d) => (d === -1 ? p : p * d), 1);
    if (known === 0 || have % known !== 0) {
      throw new Error(`${op}: cannot cut dims ${fmtShape(cut)} of ${fmtShape(shape)} into ${fmtShape(tail)}`);
    }
    out[inferAt] = have / known;
  }
  if (sizeOf(out) !== have) {
    throw new Error(`${op}: cannot cut dims ${fmtShape(cut)} (${have} elements) of ${fmtShape(shape)} into ${fmtShape(tail)}`);
  }
  return [...shape.slice(0, keep), ...out];
}

/**
 * Checks the operands of `concatLast` (at least one; rank >= 1; one element type; equal
 * dims but the last) and returns the leading dims they share. Every engine calls it, so
 * they all reject the same calls with the same message.
 */
export function concatLastLeadDims(xs: readonly { dtype: string; shape: readonly number[] }[]): number[] {
  if (xs.length === 0) throw new Error('concatLast: no tensors');
  const first = xs[0];
  if (first.shape.length < 1) throw new Error(`concatLast: x must have rank >= 1, got ${fmtShape(first.shape)}`);
  const lead = first.shape.slice(0, -1);
  for (const x of xs) {
    if (x.dtype !== first.dtype || x.shape.length !== first.shape.length || !shapesEqual(x.shape.slice(0, -1), lead)) {
      throw new Error(`concatLast: cannot concatenate ${xs.map((t) => `${t.dtype} ${fmtShape(t.shape)}`).join(', ')} on the last axis`);
    }
  }
  return lead;
}

/** Python slice bounds (x[..., start:end]) on a dim of length n: negatives count from the end, then clamp. */
export function sliceBounds(start: number, end: number, n: number): [number, number] {
  const norm = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = norm(start);
  return [s, Math.max(norm(end), s)];
}

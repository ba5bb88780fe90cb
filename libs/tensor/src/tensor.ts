/**
 * The two in-memory tensor forms that cross this library's boundary:
 * - {@link RawTensor}: wire form, raw little-endian row-major bytes of some dtype (what a
 *   proto `Tensor` carries);
 * - {@link HostTensor}: compute form, float32 values (what the lens math consumes).
 * Plus shape helpers. Conversions between the two live in `codec.ts`.
 */
import { bytesPerElement, type DType } from './dtype.js';

/** Raw little-endian row-major bytes: `data.byteLength === numel(shape) * bytesPerElement(dtype)`. */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** Float32 values in row-major order: `data.length === numel(shape)`. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Number of elements of `shape` (1 for the rank-0 shape `[]`). Every dim must be a
 * non-negative safe integer and so must the product: shapes come off the wire (int64
 * fields) and a bad one must fail here, not as a huge allocation or a NaN later.
 */
export function numel(shape: readonly number[]): number {
  if (!Array.isArray(shape)) throw new Error(`shape must be an array of dims, got ${describe(shape)}`);
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new Error(`invalid shape ${shapeToString(shape)}: dim ${i} is ${describe(d)}, expected a non-negative safe integer`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) {
    throw new Error(`invalid shape ${shapeToString(shape)}: ${n} elements is beyond Number.MAX_SAFE_INTEGER`);
  }
  return n;
}

/** `[2, 3, 4]` style rendering for messages (never throws, even on garbage). */
export function shapeToString(shape: readonly unknown[]): string {
  if (!Array.isArray(shape)) return describe(shape);
  return `[${shape.map((d) => (typeof d === 'number' ? String(d) : describe(d))).join(', ')}]`;
}

/** Element-wise equality of two shapes. */
export function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Number of elements in one step of dim 0 (a "row"): the product of `shape[1..]`.
 * A rank-0 tensor counts as one row of one element.
 */
export function rowElements(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : numel(shape.slice(1));
}

/** Rows along dim 0 (`shape[0]`); 1 for a rank-0 tensor. */
export function rowCount(shape: readonly number[]): number {
  numel(shape);
  return shape.length === 0 ? 1 : shape[0];
}

/** Expected `data.byteLength` of a tensor of `dtype` and `shape`. */
export function expectedByteLength(dtype: DType, shape: readonly number[]): number {
  return numel(shape) * bytesPerElement(dtype);
}

/** Throws unless `t` is self-consistent (known dtype, valid shape, byte length matches). */
export function assertRawTensor(t: RawTensor): void {
  const expected = expectedByteLength(t.dtype, t.shape);
  if (!(t.data instanceof Uint8Array)) throw new Error(`${t.dtype} tensor ${shapeToString(t.shape)}: data must be a Uint8Array`);
  if (t.data.byteLength !== expected) {
    throw new Error(
      `${t.dtype} tensor ${shapeToString(t.shape)}: expected ${expected} bytes ` +
        `(${numel(t.shape)} elements x ${bytesPerElement(t.dtype)} bytes), got ${t.data.byteLength}`,
    );
  }
}

/** Throws unless `t.data.length === numel(t.shape)`. */
export function assertHostTensor(t: HostTensor): void {
  const n = numel(t.shape);
  if (!(t.data instanceof Float32Array)) throw new Error(`host tensor ${shapeToString(t.shape)}: data must be a Float32Array`);
  if (t.data.length !== n) {
    throw new Error(`host tensor ${shapeToString(t.shape)}: expected ${n} elements, got ${t.data.length}`);
  }
}

/** Builds a validated {@link RawTensor} (the shape is copied; the bytes are not). */
export function rawTensor(dtype: DType, shape: readonly number[], data: Uint8Array): RawTensor {
  const t: RawTensor = { dtype, shape: [...shape], data };
  assertRawTensor(t);
  return t;
}

/**
 * Builds a validated {@link HostTensor} (the shape is copied; the values are not).
 * Without `data`, allocates zeros.
 */
export function hostTensor(shape: readonly number[], data?: Float32Array): HostTensor {
  const t: HostTensor = { shape: [...shape], data: data ?? new Float32Array(numel(shape)) };
  assertHostTensor(t);
  return t;
}

function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return Object.prototype.toString.call(v);
}

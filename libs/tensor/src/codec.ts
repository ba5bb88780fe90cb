/**
 * Raw tensor bytes <-> typed arrays.
 *
 * Wire format: elements in row-major order, each little-endian, packed with no padding,
 * so `byteLength === numel(shape) * bytesPerElement(dtype)` (checked everywhere, with a
 * message naming expected vs actual).
 *
 * Float dtypes (F32, F16, BF16) travel as a `Float32Array` in memory; integer dtypes as
 * an `Int32Array` (I32) or a `BigInt64Array` (I64), or as range-checked token ids.
 *
 * Copies are avoided where Node allows (little-endian host):
 * - `encodeFloats(f32, 'F32')`, `encodeInts(i32, 'I32')`, `encodeInts(i64, 'I64')` return a
 *   byte view of the input's memory (pass `{ copy: true }` for an independent buffer);
 * - `decodeFloats(bytes, 'F32')`, `decodeInt32`, `decodeInt64` return a typed view of the
 *   input's memory when `bytes.byteOffset` is a multiple of the element size.
 * Such results ALIAS their input: writing one changes the other, and the result keeps
 * the whole underlying ArrayBuffer alive (for a Buffer from a gRPC frame, possibly a
 * slab holding other data). Copy (`.slice()`) when keeping data beyond the call.
 * Unaligned input (Buffers are often pool slices at odd offsets) costs one copy; F16/BF16
 * decoding always produces a new Float32Array and never copies the input first.
 * On a big-endian host every path copies through `DataView` (see `portable.ts`).
 */
import { assertDType, bytesPerElement, type DType, type FloatDType, type IntDType } from './dtype.js';
import { IS_LITTLE_ENDIAN } from './endian.js';
import { BF16 } from './bf16.js';
import { F16 } from './f16.js';
import { f32ArrayToHalfBits, halfBitsToF32Array, type HalfFormat } from './halfFormat.js';
import * as portable from './portable.js';
import { numel, shapeToString, type HostTensor, type RawTensor } from './tensor.js';

/** Decoded element arrays: float dtypes -> Float32Array, I32 -> Int32Array, I64 -> BigInt64Array. */
export type TensorValues = Float32Array | Int32Array | BigInt64Array;

/** What the caller expects the bytes to hold: an element count, or a shape. */
export type ExpectedSize = number | readonly number[];

export interface EncodeOptions {
  /**
   * When the encoding is the identity (F32 from Float32Array, I32 from Int32Array, I64
   * from BigInt64Array), return a copy instead of a view aliasing the input. Default false.
   */
  copy?: boolean;
}

export interface TokenIdOptions {
  /** Expected element count or shape; checked against the byte length. */
  expected?: ExpectedSize;
  /** Smallest allowed id (inclusive). Default 0; pass e.g. -100 to allow ignore-index labels. */
  min?: number;
  /** Ids must be below this (e.g. the vocabulary size). Default 2^31 (the int32 range). */
  maxExclusive?: number;
}

/** The formats of the 16-bit float dtypes (see halfFormat.ts). */
const HALF_FORMATS: Record<'F16' | 'BF16', HalfFormat> = { F16, BF16 };

// Whether typed-array views may alias wire bytes. A `let` only so tests can exercise the
// big-endian fallback on a little-endian machine (forcePortableCodecForTesting).
let nativeLE = IS_LITTLE_ENDIAN;

/**
 * Testing hook, not part of the public API (not exported from the package index):
 * `true` makes every codec path behave as on a big-endian host (DataView, copies).
 */
export function forcePortableCodecForTesting(force: boolean): void {
  nativeLE = IS_LITTLE_ENDIAN && !force;
}

/**
 * Checks a byte length against a dtype and an optional expected element count or shape;
 * returns the element count. Without `expected`, only divisibility is checked.
 */
export function checkByteLength(dtype: DType, byteLength: number, expected?: ExpectedSize): number {
  const bpe = bytesPerElement(dtype);
  if (expected === undefined) {
    if (byteLength % bpe !== 0) {
      throw new Error(`${dtype} data: ${byteLength} bytes is not a whole number of ${bpe}-byte elements`);
    }
    return byteLength / bpe;
  }
  let n: number;
  let what: string;
  if (typeof expected === 'number') {
    if (!Number.isSafeInteger(expected) || expected < 0) {
      throw new Error(`${dtype} data: expected element count must be a non-negative safe integer, got ${expected}`);
    }
    n = expected;
    what = `data of ${n} elements`;
  } else {
    n = numel(expected);
    what = `tensor ${shapeToString(expected)}`;
  }
  if (byteLength !== n * bpe) {
    throw new Error(`${dtype} ${what}: expected ${n * bpe} bytes (${n} elements x ${bpe} bytes), got ${byteLength}`);
  }
  return n;
}

// ---------------------------------------------------------------- encode

/**
 * Float32 values -> raw little-endian bytes of a float dtype (rounding to nearest even
 * for F16/BF16). F32 on a little-endian host returns a view aliasing `values` unless
 * `opts.copy`; F16/BF16 always return new bytes (half the size).
 */
export function encodeFloats(values: Float32Array, dtype: FloatDType, opts: EncodeOptions = {}): Uint8Array {
  if (!(values instanceof Float32Array)) throw new Error(`encodeFloats: values must be a Float32Array, got ${kindOf(values)}`);
  const d = assertDType(dtype);
  switch (d) {
    case 'F32':
      if (!nativeLE) return portable.toBytesLE(values);
      return bytesOf(opts.copy ? values.slice() : values);
    case 'F16':
    case 'BF16': {
      const bits = f32ArrayToHalfBits(HALF_FORMATS[d], 'encodeFloats', values);
      return nativeLE ? bytesOf(bits) : portable.toBytesLE(bits);
    }
    default:
      throw new Error(`encodeFloats: ${dtype} is not a float dtype (use encodeInts for integers)`);
  }
}

/**
 * Integers -> raw little-endian I32 or I64 bytes.
 * - `Int32Array` -> I32 and `BigInt64Array` -> I64 are the identity: a view aliasing the
 *   input on a little-endian host unless `opts.copy`.
 * - Narrowing to I32 (from BigInt64Array or numbers) throws on any value outside int32.
 * - Plain numbers must be safe integers. Widening to I64 never allocates a BigInt.
 */
export function encodeInts(
  values: Int32Array | BigInt64Array | ArrayLike<number>,
  dtype: IntDType,
  opts: EncodeOptions = {},
): Uint8Array {
  const d = assertDType(dtype);
  if (d === 'I32') {
    if (values instanceof Int32Array) {
      if (!nativeLE) return portable.toBytesLE(values);
      return bytesOf(opts.copy ? values.slice() : values);
    }
    const out = new Int32Array(values.length);
    if (values instanceof BigInt64Array) {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v < -2147483648n || v > 2147483647n) throw new Error(`encodeInts: element ${i} is ${v}, outside the I32 range`);
        out[i] = Number(v);
      }
    } else {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
          throw new Error(`encodeInts: element ${i} is ${v}, not an integer in the I32 range`);
        }
        out[i] = v;
      }
    }
    return nativeLE ? bytesOf(out) : portable.toBytesLE(out);
  }
  if (d === 'I64') {
    if (values instanceof BigInt64Array) {
      if (!nativeLE) return portable.toBytesLE(values);
      return bytesOf(opts.copy ? values.slice() : values);
    }
    // Widen as (low, high) 32-bit halves written little-endian: no BigInt per element.
    const n = values.length;
    const out = new Uint8Array(8 * n);
    const view = new DataView(out.buffer);
    if (values instanceof Int32Array) {
      for (let i = 0; i < n; i++) {
        const v = values[i];
        view.setInt32(8 * i, v, true);
        view.setInt32(8 * i + 4, v >> 31, true);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (!Number.isSafeInteger(v)) throw new Error(`encodeInts: element ${i} is ${v}, not a safe integer`);
        const hi = Math.floor(v / 4294967296);
        view.setUint32(8 * i, v - hi * 4294967296, true);
        view.setInt32(8 * i + 4, hi, true);
      }
    }
    return out;
  }
  throw new Error(`encodeInts: ${dtype} is not an integer dtype (use encodeFloats for floats)`);
}

/**
 * Encodes values of the matching kind: a Float32Array for F32/F16/BF16, integers for
 * I32/I64 (see {@link encodeFloats}, {@link encodeInts} for aliasing and range rules).
 */
export function encode(values: TensorValues | ArrayLike<number>, dtype: DType, opts: EncodeOptions = {}): Uint8Array {
  const d = assertDType(dtype);
  if (d === 'I32' || d === 'I64') {
    if (values instanceof Float32Array) throw new Error(`encode: ${d} needs integers, got a Float32Array`);
    return encodeInts(values, d, opts);
  }
  if (!(values instanceof Float32Array)) throw new Error(`encode: ${d} needs a Float32Array, got ${kindOf(values)}`);
  return encodeFloats(values, d, opts);
}

// ---------------------------------------------------------------- decode

/**
 * Raw float bytes -> Float32Array of `numel` elements.
 * F32 with `bytes.byteOffset % 4 === 0` on a little-endian host returns a view that
 * ALIASES `bytes` (zero-copy); unaligned F32 is copied once. F16/BF16 decode into a new
 * array straight from the input bytes, at any offset.
 * @param expected element count or shape; when given, the byte length must match it.
 */
export function decodeFloats(bytes: Uint8Array, dtype: FloatDType, expected?: ExpectedSize): Float32Array {
  assertBytes(bytes, 'decodeFloats');
  const d = assertDType(dtype);
  if (d !== 'F32' && d !== 'F16' && d !== 'BF16') {
    throw new Error(`decodeFloats: ${d} is an integer dtype (use decodeInt32, decodeInt64 or decodeTokenIds)`);
  }
  const n = checkByteLength(d, bytes.byteLength, expected);
  if (d === 'F32') return wireArray(bytes, n, Float32Array, portable.f32FromBytesLE);
  const format = HALF_FORMATS[d];
  if (nativeLE && bytes.byteOffset % 2 === 0) {
    return halfBitsToF32Array(format, 'decodeFloats', new Uint16Array(bytes.buffer, bytes.byteOffset, n));
  }
  // Odd offset or big-endian host: build each 16-bit pattern from its two bytes. That is
  // byte-order independent and reads the input in place; the output is written as bits
  // through a Uint32Array view, which matches the Float32Array in any host order.
  const out = new Float32Array(n);
  const outBits = new Uint32Array(out.buffer);
  const table = format.widenTable();
  for (let i = 0, j = 0; i < n; i++, j += 2) outBits[i] = table[bytes[j] | (bytes[j + 1] << 8)];
  return out;
}

/**
 * Raw I32 bytes -> Int32Array. Aliases `bytes` when 4-aligned on a little-endian host,
 * else one copy.
 */
export function decodeInt32(bytes: Uint8Array, expected?: ExpectedSize): Int32Array {
  assertBytes(bytes, 'decodeInt32');
  const n = checkByteLength('I32', bytes.byteLength, expected);
  return wireArray(bytes, n, Int32Array, portable.i32FromBytesLE);
}

/**
 * Raw I64 bytes -> BigInt64Array. Aliases `bytes` when 8-aligned on a little-endian
 * host, else one copy.
 */
export function decodeInt64(bytes: Uint8Array, expected?: ExpectedSize): BigInt64Array {
  assertBytes(bytes, 'decodeInt64');
  const n = checkByteLength('I64', bytes.byteLength, expected);
  return wireArray(bytes, n, BigInt64Array, portable.i64FromBytesLE);
}

/**
 * Decodes by dtype: float dtypes -> Float32Array ({@link decodeFloats}), I32 ->
 * Int32Array, I64 -> BigInt64Array. Same aliasing rules as the specific decoders.
 */
export function decode(bytes: Uint8Array, dtype: FloatDType, expected?: ExpectedSize): Float32Array;
export function decode(bytes: Uint8Array, dtype: 'I32', expected?: ExpectedSize): Int32Array;
export function decode(bytes: Uint8Array, dtype: 'I64', expected?: ExpectedSize): BigInt64Array;
export function decode(bytes: Uint8Array, dtype: DType, expected?: ExpectedSize): TensorValues;
export function decode(bytes: Uint8Array, dtype: DType, expected?: ExpectedSize): TensorValues {
  const d = assertDType(dtype);
  if (d === 'I32') return decodeInt32(bytes, expected);
  if (d === 'I64') return decodeInt64(bytes, expected);
  return decodeFloats(bytes, d, expected);
}

/**
 * Token ids from I32 or I64 bytes as a NEW Int32Array (never aliasing the input), each
 * checked to lie in `[min, maxExclusive)` (default `[0, 2^31)`); I64 values outside the
 * int32 range are rejected without going through BigInt.
 */
export function decodeTokenIds(bytes: Uint8Array, dtype: IntDType, opts: TokenIdOptions = {}): Int32Array {
  assertBytes(bytes, 'decodeTokenIds');
  const d = assertDType(dtype);
  const min = opts.min ?? 0;
  const maxExclusive = opts.maxExclusive ?? 2 ** 31;
  let out: Int32Array;
  if (d === 'I32') {
    const v = decodeInt32(bytes, opts.expected);
    out = v.buffer === bytes.buffer ? v.slice() : v;
  } else if (d === 'I64') {
    const n = checkByteLength('I64', bytes.byteLength, opts.expected);
    out = new Int32Array(n);
    // An int64 fits in int32 iff its high half is the sign extension of its low half.
    if (nativeLE && bytes.byteOffset % 4 === 0) {
      const halves = new Int32Array(bytes.buffer, bytes.byteOffset, 2 * n);
      for (let i = 0; i < n; i++) {
        const lo = halves[2 * i];
        const hi = halves[2 * i + 1];
        if (hi !== lo >> 31) throw int64RangeError(i, lo, hi);
        out[i] = lo;
      }
    } else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < n; i++) {
        const lo = view.getInt32(8 * i, true);
        const hi = view.getInt32(8 * i + 4, true);
        if (hi !== lo >> 31) throw int64RangeError(i, lo, hi);
        out[i] = lo;
      }
    }
  } else {
    throw new Error(`decodeTokenIds: token ids must be I32 or I64, got ${d}`);
  }
  for (let i = 0; i < out.length; i++) {
    const id = out[i];
    if (id < min || id >= maxExclusive) {
      throw new Error(`decodeTokenIds: element ${i} is ${id}, outside the allowed range [${min}, ${maxExclusive})`);
    }
  }
  return out;
}

/** {@link decodeTokenIds} as a plain `number[]`. */
export function decodeTokenIdList(bytes: Uint8Array, dtype: IntDType, opts: TokenIdOptions = {}): number[] {
  return Array.from(decodeTokenIds(bytes, dtype, opts));
}

// ---------------------------------------------------------------- tensors

/** A float {@link RawTensor} -> {@link HostTensor} (F32 may alias, see {@link decodeFloats}). */
export function rawToHost(raw: RawTensor): HostTensor {
  const d = assertDType(raw.dtype);
  if (d === 'I32' || d === 'I64') throw new Error(`rawToHost: ${d} tensor ${shapeToString(raw.shape)} is not a float tensor`);
  return { shape: [...raw.shape], data: decodeFloats(raw.data, d, raw.shape) };
}

/** {@link HostTensor} -> {@link RawTensor} of a float dtype (F32 aliases unless `opts.copy`). */
export function hostToRaw(host: HostTensor, dtype: FloatDType = 'F32', opts: EncodeOptions = {}): RawTensor {
  const n = numel(host.shape);
  if (host.data.length !== n) {
    throw new Error(`hostToRaw: host tensor ${shapeToString(host.shape)} needs ${n} elements, has ${host.data.length}`);
  }
  return { dtype, shape: [...host.shape], data: encodeFloats(host.data, dtype, opts) };
}

/** Decodes a {@link RawTensor} by its dtype (see {@link decode}). */
export function decodeRaw(raw: RawTensor): TensorValues {
  return decode(raw.data, raw.dtype, raw.shape);
}

// ---------------------------------------------------------------- helpers

function bytesOf(a: Float32Array | Uint16Array | Int32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A typed-array constructor (Float32Array, Int32Array, BigInt64Array). */
interface ArrayType<A> {
  readonly BYTES_PER_ELEMENT: number;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): A;
}

/**
 * `bytes` (exactly `n` elements long) as a `type` array: a view ALIASING `bytes` when its
 * offset is aligned on a little-endian host, else one aligned copy; on a big-endian host
 * `readLE` (which always copies).
 */
function wireArray<A>(bytes: Uint8Array, n: number, type: ArrayType<A>, readLE: (bytes: Uint8Array, n: number) => A): A {
  if (!nativeLE) return readLE(bytes, n);
  if (bytes.byteOffset % type.BYTES_PER_ELEMENT === 0) return new type(bytes.buffer, bytes.byteOffset, n);
  return new type(alignedCopy(bytes));
}

/** Copies `bytes` into a fresh ArrayBuffer (offset 0, so aligned for any element type). */
function alignedCopy(bytes: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buf).set(bytes);
  return buf;
}

function assertBytes(bytes: Uint8Array, fn: string): void {
  if (!(bytes instanceof Uint8Array)) throw new Error(`${fn}: bytes must be a Uint8Array or Buffer, got ${kindOf(bytes)}`);
}

function int64RangeError(i: number, lo: number, hi: number): Error {
  const value = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
  return new Error(`decodeTokenIds: I64 element ${i} is ${value}, outside the int32 range`);
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}

/**
 * Element types of tensors on the wire.
 *
 * Plain TypeScript on purpose: the proto enum (`tunedlens.tensor.v1.Dtype`) lives in
 * `@tuned-lens/proto`, and mapping between the two belongs to whoever touches both, so
 * this byte layer stays usable without generated code. The names are the safetensors
 * ones, so a safetensors header's `dtype` field can be checked with {@link isDType}.
 */

/** Element type of raw tensor bytes (always little-endian on the wire). */
export type DType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';
/** Floating-point dtypes; they decode to a `Float32Array`. */
export type FloatDType = 'F32' | 'F16' | 'BF16';
/** Integer dtypes; they decode to an `Int32Array` (I32) or a `BigInt64Array` (I64). */
export type IntDType = 'I32' | 'I64';

/** Every dtype, in proto enum order (DTYPE_F32 = 1 ... DTYPE_I64 = 5). */
export const DTYPES: readonly DType[] = Object.freeze(['F32', 'F16', 'BF16', 'I32', 'I64'] as const);

/** Bytes per element of each dtype. */
export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = Object.freeze({
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
});

/** Narrows an untrusted value (a header field, a CLI flag) to a {@link DType}. */
export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(BYTES_PER_ELEMENT, value);
}

/** True for F32, F16 and BF16. */
export function isFloatDType(dtype: DType): dtype is FloatDType {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** True for I32 and I64. */
export function isIntDType(dtype: DType): dtype is IntDType {
  return dtype === 'I32' || dtype === 'I64';
}

/** Throws unless `value` is a {@link DType}; returns it narrowed. */
export function assertDType(value: unknown): DType {
  if (!isDType(value)) {
    throw new Error(`unknown dtype ${JSON.stringify(value)}: expected one of ${DTYPES.join(', ')}`);
  }
  return value;
}

// Accepted spellings besides the canonical names: numpy/torch style names, so CLI flags
// and config files can say "float16" or "bfloat16".
// A Map, not an object literal, so names like "constructor" cannot hit the prototype.
const ALIASES: ReadonlyMap<string, DType> = new Map<string, DType>([
  ['F32', 'F32'], ['FLOAT32', 'F32'], ['FLOAT', 'F32'], ['FP32', 'F32'],
  ['F16', 'F16'], ['FLOAT16', 'F16'], ['HALF', 'F16'], ['FP16', 'F16'],
  ['BF16', 'BF16'], ['BFLOAT16', 'BF16'],
  ['I32', 'I32'], ['INT32', 'I32'], ['INT', 'I32'],
  ['I64', 'I64'], ['INT64', 'I64'], ['LONG', 'I64'],
]);

/**
 * Parses a dtype name, case-insensitively, accepting the canonical names and common
 * aliases (`float32`, `fp16`, `half`, `bfloat16`, `int64`, ...).
 */
export function parseDType(name: string): DType {
  const found = ALIASES.get(String(name).trim().toUpperCase());
  if (found === undefined) {
    throw new Error(`unknown dtype ${JSON.stringify(name)}: expected one of ${DTYPES.join(', ')} (or float32, float16, bfloat16, int32, int64)`);
  }
  return found;
}

/** Bytes per element of `dtype`; throws on an unknown dtype (untrusted input). */
export function bytesPerElement(dtype: DType): number {
  return BYTES_PER_ELEMENT[assertDType(dtype)];
}

/** Byte length of `numel` elements of `dtype`. */
export function byteLengthFor(dtype: DType, numel: number): number {
  return numel * bytesPerElement(dtype);
}

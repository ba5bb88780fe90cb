/**
 * bfloat16 (BF16) <-> float32 conversions, bit-exact.
 *
 * BF16 is the top half of a float32: 1 sign bit, 8 exponent bits (bias 127, the same
 * range as f32), 7 mantissa bits. So
 * - bf16 -> f32 is a 16-bit shift (exact, subnormals included);
 * - f32 -> bf16 rounds the low 16 bits away to nearest, ties to even, with the integer
 *   trick `(bits + 0x7fff + lsb) >>> 16`: a carry out of the mantissa bumps the exponent,
 *   which is the correct result, including f32 subnormals rounding up to the smallest
 *   normal and the largest finite values overflowing to +-Infinity.
 * - NaN is special-cased first: the add trick could carry a NaN whose payload sits in the
 *   low 16 bits into Infinity (or truncate it to the Infinity pattern). NaN keeps its sign
 *   and high payload and comes out quiet, so it can never become Infinity.
 *
 * The number and array conversions are the ones shared with F16, in halfFormat.ts.
 */
import {
  f32ArrayToHalfBits,
  halfBitsToF32Array,
  halfBitsToNumber,
  lazyWidenTable,
  numberToHalfBits,
  roundToHalf,
  type HalfFormat,
} from './halfFormat.js';

/** Largest finite bf16 value, (2 - 2^-7) * 2^127. */
export const BF16_MAX = (2 - 2 ** -7) * 2 ** 127;
/** Smallest positive normal bf16 value, 2^-126. */
export const BF16_MIN_NORMAL = 2 ** -126;
/** Smallest positive subnormal bf16 value, 2^-133. */
export const BF16_MIN_SUBNORMAL = 2 ** -133;
/** Distance from 1 to the next bf16 value, 2^-7. */
export const BF16_EPSILON = 2 ** -7;

/** Float32 bit pattern -> bf16 bit pattern (0..0xffff), rounding to nearest even. */
export function f32BitsToBf16Bits(bits: number): number {
  const u = bits >>> 0;
  if ((u & 0x7fffffff) > 0x7f800000) {
    // NaN: keep sign and the top 7 payload bits, force the quiet bit (bf16 bit 6).
    return (u >>> 16) | 0x0040;
  }
  // u + 0x8000 <= 0xff808000 < 2^32, so the sum is exact in a double before >>>.
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/** bf16 bit pattern (0..0xffff) -> float32 bit pattern (as an unsigned 32-bit integer). */
export function bf16BitsToF32Bits(h: number): number {
  const b = (h & 0xffff) << 16;
  // Quiet a signalling NaN (exponent all ones, mantissa non-zero).
  return ((h & 0x7fff) > 0x7f80 ? b | 0x00400000 : b) >>> 0;
}

/** BF16 for the conversions shared with F16 (halfFormat.ts). */
export const BF16: HalfFormat = {
  narrow: f32BitsToBf16Bits,
  narrowAll(f32Bits, out) {
    for (let i = 0; i < f32Bits.length; i++) out[i] = f32BitsToBf16Bits(f32Bits[i]);
  },
  widenTable: lazyWidenTable(bf16BitsToF32Bits),
};

/**
 * Number -> bf16 bits. `x` is first rounded to float32 (as storing it in a
 * `Float32Array` would), then to bf16; inputs here are meant to be float32 values.
 */
export function f32ToBf16Bits(x: number): number {
  return numberToHalfBits(BF16, x);
}

/** bf16 bits -> the number it denotes (exact). */
export function bf16BitsToF32(h: number): number {
  return halfBitsToNumber(BF16, h);
}

/** Rounds `x` to the nearest bf16 value and returns it as a number. */
export function roundToBf16(x: number): number {
  return roundToHalf(BF16, x);
}

/** Bulk float32 -> bf16 bits. `dst` (same length) is filled when given, else allocated. */
export function f32ArrayToBf16Bits(src: Float32Array, dst?: Uint16Array): Uint16Array {
  return f32ArrayToHalfBits(BF16, 'f32ArrayToBf16Bits', src, dst);
}

/** Bulk bf16 bits -> float32. `dst` (same length) is filled when given, else allocated. */
export function bf16BitsToF32Array(src: Uint16Array, dst?: Float32Array): Float32Array {
  return halfBitsToF32Array(BF16, 'bf16BitsToF32Array', src, dst);
}

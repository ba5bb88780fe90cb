/**
 * IEEE 754 binary16 ("half", F16) <-> binary32 conversions, bit-exact.
 *
 * F16 layout: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
 * - float32 -> float16 rounds to nearest, ties to even (the IEEE default, and what
 *   numpy/torch `.half()` do), overflows to +-Infinity from 65520 up (65504 is the
 *   largest finite value; 65520 is the tie between it and 2^16, and the even side is
 *   Infinity), produces subnormals down to 2^-24, and keeps the sign of zero.
 * - float16 -> float32 is exact (every f16 value is an f32 value, subnormals included).
 * - NaN stays NaN in both directions and comes out quiet (quiet bit set); the sign and
 *   the high payload bits are kept. A quiet f16 NaN therefore round-trips bit-exactly.
 *
 * This file holds what is particular to the layout (the two bit conversions); the number
 * and array conversions are the ones shared with BF16, in halfFormat.ts.
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

/** Largest finite f16 value, (2 - 2^-10) * 2^15. */
export const F16_MAX = 65504;
/** Smallest positive normal f16 value, 2^-14. */
export const F16_MIN_NORMAL = 2 ** -14;
/** Smallest positive subnormal f16 value, 2^-24. */
export const F16_MIN_SUBNORMAL = 2 ** -24;
/** Distance from 1 to the next f16 value, 2^-10. */
export const F16_EPSILON = 2 ** -10;

/**
 * Float32 bit pattern (as an unsigned or signed 32-bit integer) -> f16 bit pattern
 * (0..0xffff), rounding to nearest even.
 */
export function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;

  if (exp === 0xff) {
    // Infinity keeps its sign. NaN: keep the top 9 payload bits, force the quiet bit
    // (0x200) so the result can never collapse into the Infinity pattern 0x7c00.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  // The f16 biased exponent is exp - 127 + 15 = exp - 112.
  if (exp >= 143) {
    // |x| >= 2^16: beyond every f16 value and beyond the 65520 rounding boundary.
    return sign | 0x7c00;
  }
  if (exp <= 112) {
    // The result is subnormal (or zero, or rounds up to the smallest normal).
    // |x| < 2^-25 (exp < 102) is below half the smallest subnormal: rounds to zero.
    // (exp 102 is [2^-25, 2^-24): exactly 2^-25 ties to even = 0, above rounds up.)
    if (exp < 102) return sign;
    // value = m * 2^(exp - 150) with the implicit bit made explicit; in units of the
    // subnormal step 2^-24 that is m >> (126 - exp), a shift of 14..24 bits.
    const m = mant | 0x800000;
    const shift = 126 - exp;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    // A carry out of the 10-bit mantissa gives 0x400, exactly the smallest normal.
    if (rem > half || (rem === half && (h & 1) !== 0)) h += 1;
    return sign | h;
  }
  // Normal range: drop 13 mantissa bits, round to nearest even. A carry propagates into
  // the exponent field, which is the right answer (and 0x7bff + 1 = 0x7c00 = Infinity).
  let h = ((exp - 112) << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h += 1;
  return sign | h;
}

/** f16 bit pattern (0..0xffff) -> float32 bit pattern (as an unsigned 32-bit integer). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0; // signed zero
    // Subnormal: value = mant * 2^-24. With k the index of mant's top set bit, that is
    // 2^(k-24) * 1.f, i.e. f32 exponent field k - 24 + 127 and the bits below k as f.
    const k = 31 - Math.clz32(mant);
    return (sign | ((k + 103) << 23) | ((mant << (23 - k)) & 0x7fffff)) >>> 0;
  }
  if (exp === 0x1f) {
    // Infinity, or NaN made quiet (bit 22) with its payload moved to the top.
    return mant === 0 ? (sign | 0x7f800000) >>> 0 : (sign | 0x7fc00000 | (mant << 13)) >>> 0;
  }
  // Normal: rebias the exponent (15 -> 127) and widen the mantissa.
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

/**
 * The 65536-entry f16 -> f32 bit table (256 KiB), built on first use (about a
 * millisecond) so importing the library costs nothing. Index by f16 bits; write the
 * entry into a `Uint32Array` view of a `Float32Array`. Do not mutate it.
 */
export const f16ToF32BitsTable: () => Uint32Array = lazyWidenTable(f16BitsToF32Bits);

/** F16 for the conversions shared with BF16 (halfFormat.ts). */
export const F16: HalfFormat = {
  narrow: f32BitsToF16Bits,
  narrowAll(f32Bits, out) {
    for (let i = 0; i < f32Bits.length; i++) out[i] = f32BitsToF16Bits(f32Bits[i]);
  },
  widenTable: f16ToF32BitsTable,
};

/**
 * Number -> f16 bits. `x` is first rounded to float32 (as storing it in a
 * `Float32Array` would), then to f16: a double that is not already a float32 can
 * therefore be double-rounded; inputs here are meant to be float32 values.
 */
export function f32ToF16Bits(x: number): number {
  return numberToHalfBits(F16, x);
}

/** f16 bits -> the number it denotes (exact). */
export function f16BitsToF32(h: number): number {
  return halfBitsToNumber(F16, h);
}

/** Rounds `x` to the nearest f16 value and returns it as a number (e.g. for tolerances). */
export function roundToF16(x: number): number {
  return roundToHalf(F16, x);
}

/**
 * Bulk float32 -> f16 bits. `dst` (same length) is filled when given, else allocated.
 * Shapes are irrelevant: element i of `src` becomes element i of the result.
 */
export function f32ArrayToF16Bits(src: Float32Array, dst?: Uint16Array): Uint16Array {
  return f32ArrayToHalfBits(F16, 'f32ArrayToF16Bits', src, dst);
}

/**
 * Bulk f16 bits -> float32, through the 65536-entry table (one load per element).
 * `dst` (same length) is filled when given, else allocated.
 */
export function f16BitsToF32Array(src: Uint16Array, dst?: Float32Array): Float32Array {
  return halfBitsToF32Array(F16, 'f16BitsToF32Array', src, dst);
}

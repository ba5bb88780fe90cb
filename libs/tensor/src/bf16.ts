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
 */

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

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/**
 * Number -> bf16 bits. `x` is first rounded to float32 (as storing it in a
 * `Float32Array` would), then to bf16; inputs here are meant to be float32 values.
 */
export function f32ToBf16Bits(x: number): number {
  scratchF32[0] = x;
  return f32BitsToBf16Bits(scratchU32[0]);
}

/** bf16 bits -> the number it denotes (exact). */
export function bf16BitsToF32(h: number): number {
  scratchU32[0] = bf16BitsToF32Bits(h);
  return scratchF32[0];
}

/** Rounds `x` to the nearest bf16 value and returns it as a number. */
export function roundToBf16(x: number): number {
  return bf16BitsToF32(f32ToBf16Bits(x));
}

/** Bulk float32 -> bf16 bits. `dst` (same length) is filled when given, else allocated. */
export function f32ArrayToBf16Bits(src: Float32Array, dst?: Uint16Array): Uint16Array {
  const n = src.length;
  const out = dst ?? new Uint16Array(n);
  if (out.length !== n) throw new Error(`f32ArrayToBf16Bits: dst has ${out.length} elements, src has ${n}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const u = bits[i];
    out[i] = (u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 0x0040 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Bulk bf16 bits -> float32. `dst` (same length) is filled when given, else allocated. */
export function bf16BitsToF32Array(src: Uint16Array, dst?: Float32Array): Float32Array {
  const n = src.length;
  const out = dst ?? new Float32Array(n);
  if (out.length !== n) throw new Error(`bf16BitsToF32Array: dst has ${out.length} elements, src has ${n}`);
  const bits = new Uint32Array(out.buffer, out.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const h = src[i];
    bits[i] = (h & 0x7fff) > 0x7f80 ? (h << 16) | 0x00400000 : h << 16;
  }
  return out;
}

/**
 * What F16 and BF16 have in common, written once: each is a 16-bit pattern that narrows
 * from a float32 by one rounding function on the bits and widens back exactly. f16.ts
 * and bf16.ts hold what is particular to each layout and describe it as a `HalfFormat`;
 * the number and array conversions below are the same for both.
 *
 * Widening goes through a 65536-entry table (pattern -> float32 bits) for both formats,
 * so one loop with no call per element serves both. For BF16, whose widening is a shift,
 * the table costs the same per element as the shift (measured on 16 Mi elements) and
 * 256 KiB, built on first use.
 *
 * Narrowing cannot be tabled (2^32 inputs), so each format writes its own one-line
 * narrowing loop (`narrowAll`): a loop shared by both formats would call `narrow`
 * through a site V8 sees two functions at, which it no longer inlines, and measured
 * 5-10x slower.
 *
 * The bulk functions work on the raw float bits through a `Uint32Array` view of the
 * float data, so no number is ever boxed and nothing is allocated per element.
 */

/** A 16-bit float format: its rounding from float32 bits and its widening table. */
export interface HalfFormat {
  /** Float32 bit pattern -> the format's 16-bit pattern, rounding to nearest even. */
  narrow(f32Bits: number): number;
  /** `narrow` of every element of `f32Bits` into `out` (same length). */
  narrowAll(f32Bits: Uint32Array, out: Uint16Array): void;
  /** The 65536-entry table 16-bit pattern -> float32 bit pattern (exact). Do not mutate it. */
  widenTable(): Uint32Array;
}

/**
 * A getter for the widening table of `widen` (16-bit pattern -> float32 bits): 256 KiB,
 * built on first use (about a millisecond) so importing the library costs nothing.
 */
export function lazyWidenTable(widen: (halfBits: number) => number): () => Uint32Array {
  let table: Uint32Array | undefined;
  return () => {
    if (table === undefined) {
      const t = new Uint32Array(65536);
      for (let h = 0; h < 65536; h++) t[h] = widen(h);
      table = t;
    }
    return table;
  };
}

// One shared scratch float for the scalar functions (JS is single-threaded per isolate).
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/**
 * Number -> 16-bit pattern. `x` is first rounded to float32 (as storing it in a
 * `Float32Array` would), then to the format: a double that is not already a float32 can
 * therefore be double-rounded; inputs here are meant to be float32 values.
 */
export function numberToHalfBits(format: HalfFormat, x: number): number {
  scratchF32[0] = x;
  return format.narrow(scratchU32[0]);
}

/** 16-bit pattern -> the number it denotes (exact). */
export function halfBitsToNumber(format: HalfFormat, h: number): number {
  scratchU32[0] = format.widenTable()[h & 0xffff];
  return scratchF32[0];
}

/** Rounds `x` to the nearest value of the format and returns it as a number. */
export function roundToHalf(format: HalfFormat, x: number): number {
  return halfBitsToNumber(format, numberToHalfBits(format, x));
}

/**
 * Bulk float32 -> 16-bit patterns. `dst` (same length) is filled when given, else
 * allocated; `caller` names the public function in the length error.
 */
export function f32ArrayToHalfBits(format: HalfFormat, caller: string, src: Float32Array, dst?: Uint16Array): Uint16Array {
  const n = src.length;
  const out = dst ?? new Uint16Array(n);
  if (out.length !== n) throw new Error(`${caller}: dst has ${out.length} elements, src has ${n}`);
  format.narrowAll(new Uint32Array(src.buffer, src.byteOffset, n), out);
  return out;
}

/**
 * Bulk 16-bit patterns -> float32 (one table load per element). `dst` (same length) is
 * filled when given, else allocated; `caller` names the public function in the length
 * error.
 */
export function halfBitsToF32Array(format: HalfFormat, caller: string, src: Uint16Array, dst?: Float32Array): Float32Array {
  const n = src.length;
  const out = dst ?? new Float32Array(n);
  if (out.length !== n) throw new Error(`${caller}: dst has ${out.length} elements, src has ${n}`);
  const table = format.widenTable();
  const bits = new Uint32Array(out.buffer, out.byteOffset, n);
  for (let i = 0; i < n; i++) bits[i] = table[src[i]];
  return out;
}

/**
 * The tests' independent view of a 16-bit float layout (1 sign bit, `expBits` exponent
 * bits, the rest mantissa; IEEE 754 rules: exponent all ones is Infinity or NaN, zero is
 * subnormal), and the exhaustive checks every such format gets over all 65536 patterns.
 * F16 is `binary16Layout(5)`, BF16 `binary16Layout(8)`; f16.test.ts and bf16.test.ts run
 * the checks with their format's library functions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

export interface Binary16Layout {
  /** Pattern -> the number it denotes, by arithmetic (no bit tricks shared with the library). */
  refDecode(h: number): number;
  isNaNBits(h: number): boolean;
  /** The bit a NaN gets set when made quiet: the top mantissa bit. */
  quietBit: number;
}

export function binary16Layout(expBits: number): Binary16Layout {
  const mantBits = 15 - expBits;
  const expAllOnes = (1 << expBits) - 1;
  const mantMask = (1 << mantBits) - 1;
  const bias = 2 ** (expBits - 1) - 1;
  return {
    refDecode(h) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> mantBits) & expAllOnes;
      const mant = h & mantMask;
      if (exp === expAllOnes) return mant === 0 ? sign * Infinity : NaN;
      if (exp === 0) return sign * mant * Math.pow(2, 1 - bias - mantBits);
      return sign * (1 + mant / 2 ** mantBits) * Math.pow(2, exp - bias);
    },
    isNaNBits: (h) => ((h >> mantBits) & expAllOnes) === expAllOnes && (h & mantMask) !== 0,
    quietBit: 1 << (mantBits - 1),
  };
}

/** The library's functions for one format. */
export interface FormatFunctions {
  bitsToNumber(h: number): number;
  bitsToF32Bits(h: number): number;
  f32BitsToBits(bits: number): number;
  bitsToF32Array(src: Uint16Array): Float32Array;
  f32ArrayToBits(src: Float32Array): Uint16Array;
}

/**
 * Over all 65536 patterns: decoding matches the layout's reference, and decode -> encode
 * gives the pattern back (a NaN comes back quiet with its sign and payload), with the
 * bulk and scalar functions agreeing. `name` ('f16', 'bf16') is for the test names.
 */
export function testAllPatterns(name: string, layout: Binary16Layout, fns: FormatFunctions): void {
  const { refDecode, isNaNBits, quietBit } = layout;

  test(`${name} -> f32: all 65536 patterns match the arithmetic reference`, () => {
    for (let h = 0; h < 65536; h++) {
      const got = fns.bitsToNumber(h);
      const want = refDecode(h);
      if (Number.isNaN(want)) assert.ok(Number.isNaN(got), `0x${h.toString(16)} should be NaN`);
      else assert.ok(Object.is(got, want), `0x${h.toString(16)}: got ${got}, want ${want}`);
    }
  });

  test(`${name} -> f32 -> ${name}: all 65536 patterns round-trip (bulk and scalar)`, () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f32 = fns.bitsToF32Array(all);
    const back = fns.f32ArrayToBits(f32);
    const f32Bits = new Uint32Array(f32.buffer);
    for (let h = 0; h < 65536; h++) {
      assert.equal(f32Bits[h], fns.bitsToF32Bits(h), 'bulk decode == scalar decode');
      assert.equal(fns.f32BitsToBits(f32Bits[h]), back[h], 'bulk encode == scalar encode');
      if (isNaNBits(h)) {
        assert.ok(Number.isNaN(f32[h]));
        assert.ok(isNaNBits(back[h]), `NaN 0x${h.toString(16)} became 0x${back[h].toString(16)}`);
        assert.equal(back[h], h | quietBit, 'sign and payload kept, quiet bit set');
      } else {
        assert.equal(back[h], h, `0x${h.toString(16)} -> ${f32[h]} -> 0x${back[h].toString(16)}`);
      }
    }
  });
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  F16_MAX,
  F16_MIN_SUBNORMAL,
  f16BitsToF32,
  f16BitsToF32Array,
  f16BitsToF32Bits,
  f32ArrayToF16Bits,
  f32BitsToF16Bits,
  f32ToF16Bits,
  roundToF16,
} from '../src/index.js';
import { makeRng } from '@tuned-lens/fixtures';
import { binary16Layout, testAllPatterns } from './binary16.js';
import { bitsOfF32, f32FromBits } from './f32Bits.js';

// ---- Independent reference: decode by arithmetic (binary16.ts), encode by searching the
// sorted list of every finite f16 value for the nearest one (ties to the even bit pattern).

const layout = binary16Layout(5);
const { refDecode, isNaNBits } = layout;

// Non-negative finite f16 values in bit order 0x0000..0x7bff, which is also value order.
const POSITIVE = Array.from({ length: 0x7c00 }, (_, h) => refDecode(h));

function refEncode(x: number): number {
  if (Number.isNaN(x)) throw new Error('refEncode: NaN');
  const signBit = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  // IEEE overflow: anything that would round to 2^16 with an unbounded exponent, i.e.
  // from the midpoint of 65504 and 65536 up, becomes Infinity.
  if (a >= 65520) return signBit | 0x7c00;
  let lo = 0;
  let hi = POSITIVE.length - 1; // largest index with POSITIVE[i] <= a
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (POSITIVE[mid] <= a) lo = mid;
    else hi = mid - 1;
  }
  if (POSITIVE[lo] === a || lo === POSITIVE.length - 1) return signBit | lo;
  const below = a - POSITIVE[lo];
  const above = POSITIVE[lo + 1] - a;
  if (below < above) return signBit | lo;
  if (above < below) return signBit | (lo + 1);
  return signBit | (lo % 2 === 0 ? lo : lo + 1);
}

testAllPatterns('f16', layout, {
  bitsToNumber: f16BitsToF32,
  bitsToF32Bits: f16BitsToF32Bits,
  f32BitsToBits: f32BitsToF16Bits,
  bitsToF32Array: f16BitsToF32Array,
  f32ArrayToBits: f32ArrayToF16Bits,
});

test('f16 rounding: ties to even in the normal range', () => {
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00, '1 + half ulp ties down to even 1');
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02, '1 + 1.5 ulp ties up to even');
  assert.equal(f32ToF16Bits(1 + 2 ** -11 + 2 ** -23), 0x3c01, 'just above the tie rounds up');
  assert.equal(f32ToF16Bits(1 + 2 ** -11 - 2 ** -23), 0x3c00, 'just below the tie rounds down');
  assert.equal(f32ToF16Bits(-(1 + 3 * 2 ** -11)), 0xbc02, 'symmetric for negatives');
  assert.equal(f32ToF16Bits(2 - 2 ** -11), 0x4000, 'mantissa carry bumps the exponent');
  assert.equal(roundToF16(0.1), 0.0999755859375);
});

test('f16 range ends: 65504, 65520 -> Infinity, infinities', () => {
  assert.equal(F16_MAX, 65504);
  assert.equal(f32ToF16Bits(65504), 0x7bff);
  assert.equal(f16BitsToF32(0x7bff), 65504);
  assert.equal(f32ToF16Bits(65519), 0x7bff, 'below the tie stays finite');
  assert.equal(f32ToF16Bits(f32FromBits(bitsOfF32(65520) - 1)), 0x7bff, 'largest f32 below 65520');
  assert.equal(f32ToF16Bits(65520), 0x7c00, 'the tie 65520 goes to the even side, Infinity');
  assert.equal(f32ToF16Bits(-65520), 0xfc00);
  assert.equal(f32ToF16Bits(1e10), 0x7c00);
  assert.equal(f32ToF16Bits(3.4e38), 0x7c00);
  assert.equal(f32ToF16Bits(Infinity), 0x7c00);
  assert.equal(f32ToF16Bits(-Infinity), 0xfc00);
  assert.equal(f16BitsToF32(0x7c00), Infinity);
  assert.equal(f16BitsToF32(0xfc00), -Infinity);
});

test('f16 subnormals: smallest 2^-24 and the rounding around half of it', () => {
  assert.equal(F16_MIN_SUBNORMAL, 2 ** -24);
  assert.equal(f32ToF16Bits(2 ** -24), 0x0001);
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  const half = 2 ** -25;
  assert.equal(f32ToF16Bits(half), 0x0000, 'exactly half ties to even zero');
  assert.equal(f32ToF16Bits(-half), 0x8000, 'keeping the sign');
  assert.equal(f32ToF16Bits(f32FromBits(bitsOfF32(half) + 1)), 0x0001, 'just above half rounds up');
  assert.equal(f32ToF16Bits(f32FromBits(bitsOfF32(half) - 1)), 0x0000, 'just below half rounds to zero');
  assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002, '1.5 steps ties to even 2');
  assert.equal(f32ToF16Bits(5 * 2 ** -25), 0x0002, '2.5 steps ties to even 2');
  assert.equal(f32ToF16Bits(1023 * 2 ** -24), 0x03ff, 'largest subnormal');
  assert.equal(f32ToF16Bits(1023.5 * 2 ** -24), 0x0400, 'ties up into the smallest normal');
  assert.equal(f32ToF16Bits(2 ** -14), 0x0400);
  assert.equal(f16BitsToF32(0x03ff), 1023 * 2 ** -24);
  assert.equal(f32ToF16Bits(1e-30), 0x0000);
  assert.equal(f32ToF16Bits(f32FromBits(0x00000001)), 0x0000, 'f32 subnormal underflows to +0');
  assert.equal(f32ToF16Bits(f32FromBits(0x80000001)), 0x8000, 'and to -0');
});

test('f16 signed zero and NaN', () => {
  assert.equal(f32ToF16Bits(0), 0x0000);
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  assert.ok(isNaNBits(f32ToF16Bits(NaN)));
  // NaNs whose payload sits only in the low mantissa bits must not become Infinity.
  for (const bits of [0x7f800001, 0xff800001, 0x7f801fff, 0x7fc00000, 0x7fffffff, 0xffffffff]) {
    const h = f32BitsToF16Bits(bits);
    assert.ok(isNaNBits(h), `0x${bits.toString(16)} -> 0x${h.toString(16)}`);
    assert.equal(h & 0x8000, (bits >>> 16) & 0x8000, 'sign kept');
    assert.equal(h & 0x200, 0x200, 'quiet');
  }
  const src = new Float32Array(new Uint32Array([0x7f800001, 0xff800001]).buffer);
  const bulk = f32ArrayToF16Bits(src);
  assert.ok(isNaNBits(bulk[0]) && isNaNBits(bulk[1]));
});

test('f32 -> f16 matches the nearest-value search on random samples', () => {
  const rng = makeRng(16);
  const n = 200_000;
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    if (kind === 0) {
      bits[i] = rng.u32(); // anywhere in float32
    } else if (kind === 1) {
      // Exponents around the f16 range (2^-27 .. 2^17), random mantissa and sign.
      bits[i] = ((rng.int(0, 1) << 31) | (rng.int(100, 144) << 23) | rng.int(0, 0x7fffff)) >>> 0;
    } else {
      // An f16 value moved by a fraction of its spacing (including exact midpoints).
      const h = rng.int(0, 0x7bff);
      const step = 2 ** (Math.max((h >> 10) & 0x1f, 1) - 25);
      const frac = kind === 2 ? rng.int(-4, 4) / 8 : rng.next() - 0.5;
      bits[i] = bitsOfF32((rng.int(0, 1) ? -1 : 1) * (refDecode(h) + frac * 2 * step));
    }
  }
  const values = new Float32Array(bits.buffer);
  const bulk = f32ArrayToF16Bits(values);
  let checked = 0;
  for (let i = 0; i < n; i++) {
    const x = values[i];
    if (Number.isNaN(x)) {
      assert.ok(isNaNBits(bulk[i]));
      continue;
    }
    const want = refEncode(x);
    if (bulk[i] !== want) assert.fail(`f32 ${x} (0x${bits[i].toString(16)}): got 0x${bulk[i].toString(16)}, want 0x${want.toString(16)}`);
    assert.equal(f32ToF16Bits(x), want);
    checked++;
  }
  assert.ok(checked > n * 0.99);
});

test('bulk f16 conversions validate dst length and fill a given dst', () => {
  assert.throws(() => f32ArrayToF16Bits(new Float32Array(3), new Uint16Array(2)), /dst has 2 elements, src has 3/);
  assert.throws(() => f16BitsToF32Array(new Uint16Array(3), new Float32Array(4)), /dst has 4 elements, src has 3/);
  const dst = new Float32Array(2);
  assert.equal(f16BitsToF32Array(new Uint16Array([0x3c00, 0xc000]), dst), dst);
  assert.deepEqual(Array.from(dst), [1, -2]);
  // Views at a non-zero offset work (the Uint32 view follows byteOffset).
  const big = new Float32Array([9, 1.5, -0.25, 9]);
  assert.deepEqual(Array.from(f32ArrayToF16Bits(big.subarray(1, 3))), [0x3e00, 0xb400]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BF16_MAX,
  BF16_MIN_SUBNORMAL,
  bf16BitsToF32,
  bf16BitsToF32Array,
  bf16BitsToF32Bits,
  f32ArrayToBf16Bits,
  f32BitsToBf16Bits,
  f32ToBf16Bits,
  roundToBf16,
} from '../src/index.js';
import { makeRng } from '@tuned-lens/fixtures';
import { binary16Layout, testAllPatterns } from './binary16.js';
import { f32FromBits } from './f32Bits.js';

// ---- Independent reference: decode by arithmetic (binary16.ts); encode by comparing the
// distances to the two neighbouring bf16 values (truncation and the next one away from zero).

const layout = binary16Layout(8);
const { refDecode, isNaNBits } = layout;

function refEncode(bits: number): number {
  const x = f32FromBits(bits);
  if (Number.isNaN(x)) throw new Error('refEncode: NaN');
  const signBit = (bits >>> 16) & 0x8000;
  const a = Math.abs(x);
  const down = (bits >>> 16) & 0x7fff; // truncated magnitude pattern
  const vDown = refDecode(down);
  if (vDown === a) return signBit | down;
  // The next pattern up; past the largest finite value, compare against 2^128 (the
  // value the exponent would reach if it were unbounded), as IEEE rounding does.
  const up = down + 1;
  const vUp = up === 0x7f80 ? 2 ** 128 : refDecode(up);
  const dDown = a - vDown;
  const dUp = vUp - a;
  if (dDown < dUp) return signBit | down;
  if (dUp < dDown) return signBit | up;
  return signBit | (down % 2 === 0 ? down : up);
}

testAllPatterns('bf16', layout, {
  bitsToNumber: bf16BitsToF32,
  bitsToF32Bits: bf16BitsToF32Bits,
  f32BitsToBits: f32BitsToBf16Bits,
  bitsToF32Array: bf16BitsToF32Array,
  f32ArrayToBits: f32ArrayToBf16Bits,
});

test('bf16 rounding: ties to even, carries across the mantissa boundary', () => {
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80, 'half ulp above 1 ties down to even');
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82, '1.5 ulp ties up to even');
  assert.equal(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -23), 0x3f81, 'above the tie rounds up');
  assert.equal(f32BitsToBf16Bits(0x3fff8000), 0x4000, 'odd 0x3fff + tie carries into the exponent (2.0)');
  assert.equal(f32BitsToBf16Bits(0x3ffe8000), 0x3ffe, 'even 0x3ffe + tie stays');
  assert.equal(f32BitsToBf16Bits(0x3ffe8001), 0x3fff);
  assert.equal(f32BitsToBf16Bits(0xbfff8000), 0xc000, 'negative carry');
  assert.equal(roundToBf16(Math.PI), 3.140625);
});

test('bf16 range ends, subnormals and signed zero', () => {
  assert.equal(BF16_MAX, f32FromBits(0x7f7f0000));
  assert.equal(f32BitsToBf16Bits(0x7f7f0000), 0x7f7f);
  assert.equal(f32BitsToBf16Bits(0x7f7f7fff), 0x7f7f, 'below the last tie stays finite');
  assert.equal(f32BitsToBf16Bits(0x7f7f8000), 0x7f80, 'the last tie overflows to Infinity');
  assert.equal(f32BitsToBf16Bits(0x7f7fffff), 0x7f80, 'FLT_MAX rounds to Infinity');
  assert.equal(f32BitsToBf16Bits(0xff7fffff), 0xff80);
  assert.equal(f32ToBf16Bits(Infinity), 0x7f80);
  assert.equal(f32ToBf16Bits(-Infinity), 0xff80);
  assert.equal(BF16_MIN_SUBNORMAL, 2 ** -133);
  assert.equal(f32ToBf16Bits(2 ** -133), 0x0001);
  assert.equal(f32BitsToBf16Bits(0x00008000), 0x0000, 'subnormal tie to even zero');
  assert.equal(f32BitsToBf16Bits(0x00018000), 0x0002, 'subnormal tie to even');
  assert.equal(f32BitsToBf16Bits(0x007fffff), 0x0080, 'largest f32 subnormal rounds up to the smallest normal');
  assert.equal(f32ToBf16Bits(-0), 0x8000);
  assert.ok(Object.is(bf16BitsToF32(0x8000), -0));
});

test('bf16 NaN stays NaN, never Infinity or zero', () => {
  // Payload only in the dropped low half: naive rounding would give Inf, or wrap
  // 0x7fffffff around to -0.
  for (const bits of [0x7f800001, 0x7f807fff, 0x7f808000, 0x7fbfffff, 0x7fffffff, 0xff800001, 0xffffffff, 0x7fc00000]) {
    const h = f32BitsToBf16Bits(bits);
    assert.ok(isNaNBits(h), `0x${bits.toString(16)} -> 0x${h.toString(16)}`);
    assert.equal(h & 0x8000, (bits >>> 16) & 0x8000, 'sign kept');
    assert.equal(h & 0x40, 0x40, 'quiet');
    const bulk = f32ArrayToBf16Bits(new Float32Array(new Uint32Array([bits]).buffer));
    assert.equal(bulk[0], h);
  }
  assert.ok(Number.isNaN(bf16BitsToF32(0x7f81)));
  assert.ok(Number.isNaN(roundToBf16(NaN)));
});

test('f32 -> bf16 matches the distance comparison on random samples', () => {
  const rng = makeRng(0xbf16);
  const n = 200_000;
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    // Half uniform bit patterns; half with the dropped low half at or near the tie 0x8000.
    bits[i] = i % 2 === 0 ? rng.u32() : ((rng.u32() & 0xffff0000) | (0x8000 + rng.int(-2, 2))) >>> 0;
  }
  const bulk = f32ArrayToBf16Bits(new Float32Array(bits.buffer));
  for (let i = 0; i < n; i++) {
    const b = bits[i];
    if ((b & 0x7fffffff) > 0x7f800000) {
      assert.ok(isNaNBits(bulk[i]));
      continue;
    }
    const want = refEncode(b);
    if (bulk[i] !== want) assert.fail(`0x${b.toString(16)}: got 0x${bulk[i].toString(16)}, want 0x${want.toString(16)}`);
    assert.equal(f32BitsToBf16Bits(b), want);
  }
});

test('bulk bf16 conversions validate dst length', () => {
  assert.throws(() => f32ArrayToBf16Bits(new Float32Array(3), new Uint16Array(4)), /dst has 4 elements, src has 3/);
  assert.throws(() => bf16BitsToF32Array(new Uint16Array(1), new Float32Array(2)), /dst has 2 elements, src has 1/);
});

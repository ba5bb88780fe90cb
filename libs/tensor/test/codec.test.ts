import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IS_LITTLE_ENDIAN,
  checkByteLength,
  decode,
  decodeFloats,
  decodeInt32,
  decodeInt64,
  decodeRaw,
  decodeTokenIdList,
  decodeTokenIds,
  encode,
  encodeFloats,
  encodeInts,
  bf16BitsToF32Array,
  f16BitsToF32Array,
  f32ArrayToBf16Bits,
  f32ArrayToF16Bits,
  hostToRaw,
  rawToHost,
  type DType,
  type FloatDType,
} from '../src/index.js';
import { forcePortableCodecForTesting } from '../src/codec.js';
import { toBytesLE } from '../src/portable.js';
import { makeRng } from '@tuned-lens/fixtures';

/** Copies `bytes` into a larger buffer at `offset` and returns the view there. */
function atOffset(bytes: Uint8Array, offset: number): Uint8Array {
  const buf = new Uint8Array(bytes.byteLength + offset + 3);
  buf.fill(0xee);
  buf.set(bytes, offset);
  return buf.subarray(offset, offset + bytes.byteLength);
}

function randomFloats(n: number, seed: number): Float32Array {
  const rng = makeRng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.next() - 0.5) * 2 ** rng.int(-30, 30);
  a[0] = -0;
  if (n > 3) {
    a[1] = Infinity;
    a[2] = NaN;
  }
  return a;
}

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

test('host is little-endian (as this project assumes), detected once', () => {
  assert.equal(IS_LITTLE_ENDIAN, true);
});

test('F32: encode/decode round-trips bit-exactly at every offset 0..7', () => {
  const values = randomFloats(257, 1);
  const bytes = encodeFloats(values, 'F32', { copy: true });
  assert.equal(bytes.byteLength, 257 * 4);
  for (let off = 0; off < 8; off++) {
    const view = atOffset(bytes, off);
    const out = decodeFloats(view, 'F32', [257]);
    assert.deepEqual(bitsOf(out), bitsOf(values), `offset ${off}`);
  }
});

test('F32 decode: zero-copy alias when 4-aligned, one independent copy when not', () => {
  const values = new Float32Array([1, 2, 3, 4]);
  const aligned = atOffset(new Uint8Array(values.buffer), 8);
  const a = decodeFloats(aligned, 'F32', 4);
  assert.equal(a.buffer, aligned.buffer, 'same memory');
  assert.equal(a.byteOffset, aligned.byteOffset);
  a[0] = 42; // writing the result writes the input bytes
  assert.deepEqual(Array.from(new Float32Array(aligned.slice().buffer)), [42, 2, 3, 4]);

  const unaligned = atOffset(new Uint8Array(values.buffer), 5);
  const u = decodeFloats(unaligned, 'F32', 4);
  assert.notEqual(u.buffer, unaligned.buffer);
  const before = unaligned.slice();
  u[0] = -1;
  assert.deepEqual(unaligned, before, 'the copy does not alias');
  assert.deepEqual(Array.from(u), [-1, 2, 3, 4]);
});

test('Node Buffer slices at odd pool offsets decode correctly', () => {
  const values = new Float32Array([0.5, -1.25, 3e-3]);
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const encoded = encodeFloats(values, dtype, { copy: true });
    const buf = Buffer.concat([Buffer.from([7]), Buffer.from(encoded)]).subarray(1);
    const want = decodeFloats(encoded, dtype);
    assert.deepEqual(bitsOf(decodeFloats(buf, dtype, 3)), bitsOf(want), dtype);
  }
});

test('F32 encode: aliases the input unless copy is asked for', () => {
  const values = new Float32Array([1, 2, 3, 4, 5]).subarray(1, 4);
  const alias = encodeFloats(values, 'F32');
  assert.equal(alias.buffer, values.buffer);
  assert.equal(alias.byteOffset, 4);
  assert.equal(alias.byteLength, 12);
  const copy = encodeFloats(values, 'F32', { copy: true });
  assert.notEqual(copy.buffer, values.buffer);
  values[0] = 99;
  assert.equal(new Float32Array(alias.buffer, alias.byteOffset, 3)[0], 99);
  assert.equal(new Float32Array(copy.buffer, copy.byteOffset, 3)[0], 2);
});

test('F16/BF16: little-endian bytes on the wire, decode at any offset', () => {
  const values = new Float32Array([1, -2, 0.5, 65504, 1 / 3]);
  assert.deepEqual(Array.from(encodeFloats(values.subarray(0, 2), 'F16')), [0x00, 0x3c, 0x00, 0xc0]);
  assert.deepEqual(Array.from(encodeFloats(values.subarray(0, 2), 'BF16')), [0x80, 0x3f, 0x00, 0xc0]);
  for (const dtype of ['F16', 'BF16'] as const) {
    const bytes = encodeFloats(values, dtype);
    const half = dtype === 'F16' ? f32ArrayToF16Bits(values) : f32ArrayToBf16Bits(values);
    assert.deepEqual(new Uint16Array(bytes.slice().buffer), half);
    const ref = decodeFloats(bytes, dtype, [5]);
    for (let off = 0; off < 4; off++) {
      assert.deepEqual(bitsOf(decodeFloats(atOffset(bytes, off), dtype, [5])), bitsOf(ref), `${dtype} offset ${off}`);
    }
    // Decoding a half dtype always yields a new array.
    assert.notEqual(ref.buffer, bytes.buffer);
  }
  assert.deepEqual(Array.from(decodeFloats(encodeFloats(values, 'F16'), 'F16')), [1, -2, 0.5, 65504, 0.333251953125]);
});

test('F16/BF16 decode: all 65536 patterns agree between the aligned and odd-offset paths', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const bytes = new Uint8Array(all.buffer);
  for (const dtype of ['F16', 'BF16'] as const) {
    const want = dtype === 'F16' ? f16BitsToF32Array(all) : bf16BitsToF32Array(all);
    assert.deepEqual(bitsOf(decodeFloats(bytes, dtype)), bitsOf(want), `${dtype} aligned`);
    assert.deepEqual(bitsOf(decodeFloats(atOffset(bytes, 1), dtype)), bitsOf(want), `${dtype} odd offset`);
  }
});

test('byte length must match numel * bytesPerElement, with a clear message', () => {
  assert.throws(() => decodeFloats(new Uint8Array(23), 'F32', [2, 3]), {
    message: 'F32 tensor [2, 3]: expected 24 bytes (6 elements x 4 bytes), got 23',
  });
  assert.throws(() => decodeFloats(new Uint8Array(10), 'F16', 4), /F16 data of 4 elements: expected 8 bytes \(4 elements x 2 bytes\), got 10/);
  assert.throws(() => decodeFloats(new Uint8Array(7), 'BF16'), /BF16 data: 7 bytes is not a whole number of 2-byte elements/);
  assert.throws(() => decodeInt64(new Uint8Array(12)), /I64 data: 12 bytes is not a whole number of 8-byte elements/);
  assert.throws(() => decodeInt32(new Uint8Array(8), [3]), /I32 tensor \[3\]: expected 12 bytes/);
  assert.throws(() => decodeTokenIds(new Uint8Array(16), 'I64', { expected: [1, 3] }), /I64 tensor \[1, 3\]: expected 24 bytes .* got 16/);
  assert.throws(() => checkByteLength('F32', 8, [-1, 2]), /dim 0 is -1/);
  assert.throws(() => checkByteLength('F32', 8, 2.5), /non-negative safe integer/);
  assert.equal(checkByteLength('I64', 24, [3]), 3);
  assert.equal(checkByteLength('F16', 0), 0);
});

test('wrong kinds of input are refused', () => {
  assert.throws(() => decodeFloats(new Uint8Array(8), 'I32' as FloatDType), /I32 is an integer dtype/);
  assert.throws(() => decodeFloats(new Uint8Array(8), 'F64' as FloatDType), /unknown dtype "F64"/);
  assert.throws(() => decodeFloats([1, 2] as unknown as Uint8Array, 'F32'), /must be a Uint8Array/);
  assert.throws(() => encodeFloats(new Int32Array(2) as unknown as Float32Array, 'F32'), /must be a Float32Array, got Int32Array/);
  assert.throws(() => encode(new Float32Array(2), 'I32'), /I32 needs integers/);
  assert.throws(() => encode(new Int32Array(2), 'F16'), /F16 needs a Float32Array/);
  assert.throws(() => decodeTokenIds(new Uint8Array(8), 'F32' as 'I32'), /must be I32 or I64/);
});

test('I32: aliasing when aligned, copy when not, generic decode dispatch', () => {
  const ids = new Int32Array([5, -7, 2147483647, -2147483648]);
  const bytes = encodeInts(ids, 'I32');
  assert.equal(bytes.buffer, ids.buffer);
  const aligned = decodeInt32(bytes, [4]);
  assert.equal(aligned.buffer, ids.buffer);
  const odd = decodeInt32(atOffset(bytes, 3), 4);
  assert.deepEqual(odd, ids);
  assert.notEqual(odd.buffer, ids.buffer);
  const d = decode(bytes, 'I32');
  assert.ok(d instanceof Int32Array);
  assert.ok(decode(encodeFloats(new Float32Array(2), 'BF16'), 'BF16') instanceof Float32Array);
});

test('I64: encode from numbers, Int32Array and BigInt64Array agree; decode at any offset', () => {
  const nums = [0, 1, -1, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 50256];
  const big = BigInt64Array.from(nums.map(BigInt));
  const fromNums = encodeInts(nums, 'I64');
  const fromBig = encodeInts(big, 'I64', { copy: true });
  assert.deepEqual(fromNums, fromBig);
  assert.notEqual(fromBig.buffer, big.buffer);
  const small = new Int32Array([3, -4, -2147483648]);
  assert.deepEqual(encodeInts(small, 'I64'), encodeInts(BigInt64Array.from([3n, -4n, -2147483648n]), 'I64'));
  for (let off = 0; off < 9; off++) {
    const view = atOffset(fromNums, off);
    const out = decodeInt64(view, nums.length);
    assert.deepEqual(out, big, `offset ${off}`);
    assert.equal(out.buffer === view.buffer, off % 8 === 0, 'aliases exactly when 8-aligned');
  }
  assert.throws(() => encodeInts([1.5], 'I64'), /element 0 is 1.5, not a safe integer/);
  assert.throws(() => encodeInts([2 ** 53], 'I64'), /not a safe integer/);
});

test('I32 narrowing refuses values outside int32', () => {
  assert.deepEqual(new Int32Array(encodeInts([1, -2], 'I32').buffer), new Int32Array([1, -2]));
  assert.throws(() => encodeInts([2 ** 31], 'I32'), /element 0 is 2147483648, not an integer in the I32 range/);
  assert.throws(() => encodeInts([0, 0.5], 'I32'), /element 1 is 0.5/);
  assert.throws(() => encodeInts(BigInt64Array.from([1n, -(2n ** 31n) - 1n]), 'I32'), /element 1 is -2147483649, outside the I32 range/);
  assert.deepEqual(new Int32Array(encodeInts(BigInt64Array.from([7n, -(2n ** 31n)]), 'I32').buffer), new Int32Array([7, -(2 ** 31)]));
});

test('token ids: I64 out of int32 range detected, bounds checked, result never aliases', () => {
  const ok = encodeInts([0, 17, 50256], 'I64');
  for (let off = 0; off < 8; off++) {
    assert.deepEqual(decodeTokenIds(atOffset(ok, off), 'I64', { expected: [1, 3] }), new Int32Array([0, 17, 50256]));
  }
  assert.deepEqual(decodeTokenIdList(ok, 'I64'), [0, 17, 50256]);
  for (const bad of [2 ** 31, 2 ** 32, 2 ** 40, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER]) {
    for (const off of [0, 4, 1]) {
      assert.throws(
        () => decodeTokenIds(atOffset(encodeInts([5, bad], 'I64'), off), 'I64', { min: -(2 ** 31) }),
        { message: `decodeTokenIds: I64 element 1 is ${bad}, outside the int32 range` },
      );
    }
  }
  // 2^32 has a zero low half: a check of the low half alone would accept it as 0.
  assert.throws(() => decodeTokenIds(encodeInts([2 ** 32], 'I64'), 'I64'), /outside the int32 range/);
  assert.throws(() => decodeTokenIds(encodeInts([-1], 'I64'), 'I64'), /element 0 is -1, outside the allowed range \[0, 2147483648\)/);
  assert.deepEqual(decodeTokenIdList(encodeInts([-100, 3], 'I64'), 'I64', { min: -100 }), [-100, 3]);
  assert.throws(() => decodeTokenIds(encodeInts([1, 4096], 'I32'), 'I32', { maxExclusive: 4096 }), /element 1 is 4096, outside the allowed range \[0, 4096\)/);

  const i32 = new Int32Array([1, 2, 3]);
  const ids = decodeTokenIds(encodeInts(i32, 'I32'), 'I32');
  assert.notEqual(ids.buffer, i32.buffer);
  ids[0] = 9;
  assert.equal(i32[0], 1);
});

test('big-endian fallback (DataView) produces the same bytes and values as the fast path', () => {
  const rng = makeRng(42);
  const floats = randomFloats(301, 7);
  const ints = new Int32Array(301).map(() => rng.int(-(2 ** 31), 2 ** 31 - 1));
  const bigs = BigInt64Array.from(ints, (v) => BigInt(v) * 4099n);
  const fast = {
    F32: encodeFloats(floats, 'F32', { copy: true }),
    F16: encodeFloats(floats, 'F16'),
    BF16: encodeFloats(floats, 'BF16'),
    I32: encodeInts(ints, 'I32', { copy: true }),
    I64: encodeInts(bigs, 'I64', { copy: true }),
  };
  const fastDecoded = Object.fromEntries(
    (Object.keys(fast) as DType[]).map((d) => [d, decode(atOffset(fast[d], 1), d)]),
  ) as Record<DType, Float32Array | Int32Array | BigInt64Array>;
  forcePortableCodecForTesting(true);
  try {
    const slow = {
      F32: encodeFloats(floats, 'F32'),
      F16: encodeFloats(floats, 'F16'),
      BF16: encodeFloats(floats, 'BF16'),
      I32: encodeInts(ints, 'I32'),
      I64: encodeInts(bigs, 'I64'),
    };
    for (const d of Object.keys(fast) as DType[]) {
      assert.deepEqual(slow[d], fast[d], `${d} bytes`);
      assert.notEqual(slow[d].buffer, (d === 'F32' ? floats : d === 'I32' ? ints : bigs).buffer, `${d} copies`);
      for (const off of [0, 1, 2, 4, 8]) {
        const got = decode(atOffset(slow[d], off), d);
        const want = fastDecoded[d];
        if (got instanceof Float32Array) assert.deepEqual(bitsOf(got), bitsOf(want as Float32Array), `${d} @${off}`);
        else assert.deepEqual(got, want, `${d} @${off}`);
      }
    }
    const i64 = encodeInts([1, 2 ** 33], 'I64');
    assert.throws(() => decodeTokenIds(i64, 'I64'), /I64 element 1 is 8589934592/);
    assert.deepEqual(decodeTokenIds(encodeInts([4, 5], 'I64'), 'I64'), new Int32Array([4, 5]));
  } finally {
    forcePortableCodecForTesting(false);
  }
  // And the DataView serialiser itself agrees with the native views.
  assert.deepEqual(toBytesLE(floats), fast.F32);
  assert.deepEqual(toBytesLE(ints), fast.I32);
  assert.deepEqual(toBytesLE(bigs), fast.I64);
});

test('RawTensor <-> HostTensor', () => {
  const host = { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) };
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const raw = hostToRaw(host, dtype);
    assert.equal(raw.dtype, dtype);
    assert.equal(raw.data.byteLength, 6 * (dtype === 'F32' ? 4 : 2));
    const back = rawToHost(raw);
    assert.deepEqual(back.shape, [2, 3]);
    assert.deepEqual(Array.from(back.data), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Array.from(decodeRaw(raw) as Float32Array), [1, 2, 3, 4, 5, 6]);
  }
  assert.throws(() => hostToRaw({ shape: [4], data: new Float32Array(3) }), /host tensor \[4\] needs 4 elements, has 3/);
  assert.throws(() => rawToHost({ dtype: 'I32', shape: [1], data: new Uint8Array(4) }), /I32 tensor \[1\] is not a float tensor/);
  assert.throws(() => rawToHost({ dtype: 'F32', shape: [2, 2], data: new Uint8Array(12) }), /expected 16 bytes .* got 12/);
});

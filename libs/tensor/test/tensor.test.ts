import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BYTES_PER_ELEMENT,
  DTYPES,
  assertDType,
  assertHostTensor,
  byteLengthFor,
  bytesPerElement,
  expectedByteLength,
  hostTensor,
  isDType,
  isFloatDType,
  isIntDType,
  numel,
  parseDType,
  rawTensor,
  rowCount,
  rowElements,
  shapeToString,
  shapesEqual,
  type DType,
} from '../src/index.js';

test('dtype sizes, predicates and parsing', () => {
  assert.deepEqual([...DTYPES], ['F32', 'F16', 'BF16', 'I32', 'I64']);
  assert.deepEqual(DTYPES.map(bytesPerElement), [4, 2, 2, 4, 8]);
  assert.equal(BYTES_PER_ELEMENT.BF16, 2);
  assert.equal(byteLengthFor('I64', 3), 24);
  assert.deepEqual(DTYPES.filter(isFloatDType), ['F32', 'F16', 'BF16']);
  assert.deepEqual(DTYPES.filter(isIntDType), ['I32', 'I64']);
  assert.ok(isDType('BF16'));
  for (const bad of ['f32', 'F64', 'constructor', 'toString', '__proto__', '', 1, null, undefined]) assert.ok(!isDType(bad), String(bad));
  assert.equal(parseDType('float16'), 'F16');
  assert.equal(parseDType(' bfloat16 '), 'BF16');
  assert.equal(parseDType('fp32'), 'F32');
  assert.equal(parseDType('i64'), 'I64');
  assert.throws(() => parseDType('constructor'), /unknown dtype "constructor": expected one of F32, F16, BF16, I32, I64/);
  assert.throws(() => assertDType('U8'), /unknown dtype "U8"/);
  assert.throws(() => bytesPerElement('toString' as DType), /unknown dtype "toString"/);
});

test('numel validates every dim and the product', () => {
  assert.equal(numel([]), 1);
  assert.equal(numel([0]), 0);
  assert.equal(numel([2, 0, 5]), 0);
  assert.equal(numel([2, 3, 4]), 24);
  assert.throws(() => numel([2, -1]), /invalid shape \[2, -1\]: dim 1 is -1, expected a non-negative safe integer/);
  assert.throws(() => numel([1.5]), /dim 0 is 1.5/);
  assert.throws(() => numel([NaN]), /dim 0 is NaN/);
  assert.throws(() => numel([Infinity]), /dim 0 is Infinity/);
  assert.throws(() => numel(['3'] as unknown as number[]), /dim 0 is "3"/);
  assert.throws(() => numel([3n] as unknown as number[]), /dim 0 is 3n/);
  assert.throws(() => numel([2 ** 30, 2 ** 30, 2 ** 30]), /beyond Number.MAX_SAFE_INTEGER/);
  assert.throws(() => numel('12' as unknown as number[]), /shape must be an array/);
});

test('shape helpers', () => {
  assert.equal(shapeToString([]), '[]');
  assert.equal(shapeToString([7, 64]), '[7, 64]');
  assert.ok(shapesEqual([1, 2], [1, 2]));
  assert.ok(!shapesEqual([1, 2], [1, 2, 1]));
  assert.ok(!shapesEqual([1, 2], [2, 1]));
  assert.equal(rowCount([7, 64]), 7);
  assert.equal(rowElements([7, 64]), 64);
  assert.equal(rowElements([2, 3, 4]), 12);
  assert.equal(rowCount([]), 1);
  assert.equal(rowElements([]), 1);
  assert.equal(rowElements([5]), 1);
  assert.equal(expectedByteLength('BF16', [3, 5]), 30);
});

test('rawTensor and hostTensor validate and copy the shape', () => {
  const shape = [2, 2];
  const t = rawTensor('F16', shape, new Uint8Array(8));
  shape[0] = 9;
  assert.deepEqual(t.shape, [2, 2]);
  assert.throws(() => rawTensor('F16', [2, 2], new Uint8Array(6)), {
    message: 'F16 tensor [2, 2]: expected 8 bytes (4 elements x 2 bytes), got 6',
  });
  assert.throws(() => rawTensor('F32', [2], new Float32Array(2) as unknown as Uint8Array), /data must be a Uint8Array/);
  assert.deepEqual(hostTensor([3]).data, new Float32Array(3));
  assert.throws(() => hostTensor([3], new Float32Array(2)), /host tensor \[3\]: expected 3 elements, got 2/);
  assert.throws(() => assertHostTensor({ shape: [1], data: [1] as unknown as Float32Array }), /must be a Float32Array/);
});

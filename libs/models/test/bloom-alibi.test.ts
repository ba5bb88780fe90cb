// BLOOM's ALiBi slopes and bias, against values worked out by hand from the definition
// in transformers' build_alibi_tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alibiCausalBias, alibiSlopes } from '../src/architectures/bloom/alibi';

test('slopes: powers of 2^(-8/n) for a power-of-two head count, odd powers of 2^(-4/n) for the rest', () => {
  assert.deepEqual([...alibiSlopes(8)], [1, 2, 3, 4, 5, 6, 7, 8].map((k) => 2 ** -k));
  // 6 heads: n = 4 -> base 2^-2 for 4 heads, then 2 heads of (2^-1)^1, (2^-1)^3.
  assert.deepEqual([...alibiSlopes(6)], [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]);
  // 16 heads: base 2^-0.5, rounded to f32 as HF's tensor.
  assert.equal(alibiSlopes(16)[0], Math.fround(Math.SQRT1_2));
});

test('bias [H, T, T]: slope * key position on and below the diagonal, -Infinity above', () => {
  const b = alibiCausalBias(3, 3); // slopes 2^-4, 2^-8, then 2^-2
  assert.deepEqual(b.shape, [3, 3, 3]);
  const row = (h: number, i: number) => [...b.data.subarray((h * 3 + i) * 3, (h * 3 + i + 1) * 3)];
  assert.deepEqual(row(0, 0), [0, -Infinity, -Infinity]);
  assert.deepEqual(row(0, 2), [0, 2 ** -4, 2 * 2 ** -4]);
  assert.deepEqual(row(2, 1), [0, 2 ** -2, -Infinity]);
});

// GPT-J's interleaved-pair rotary equals the rotate-half rotation on features reordered
// by deinterleavedOrder, so q·k is unchanged when q and k are both reordered: checked
// here on random vectors against a direct implementation of the interleaved rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deinterleavedOrder, deinterleaveRotaryColumns } from '../src/architectures/gptj/rotaryLayout';

/** GPT-J's rotation of one head vector at angles theta_i on pairs (x[2i], x[2i+1]). */
function rotateInterleaved(x: number[], theta: number[], rd: number): number[] {
  const y = x.slice();
  for (let i = 0; i < rd / 2; i++) {
    const c = Math.cos(theta[i]), s = Math.sin(theta[i]);
    y[2 * i] = x[2 * i] * c - x[2 * i + 1] * s;
    y[2 * i + 1] = x[2 * i + 1] * c + x[2 * i] * s;
  }
  return y;
}

/** Rotate-half: pairs (x[i], x[i + rd/2]) at the same angles theta_i. */
function rotateHalf(x: number[], theta: number[], rd: number): number[] {
  const y = x.slice(), h = rd / 2;
  for (let i = 0; i < h; i++) {
    const c = Math.cos(theta[i]), s = Math.sin(theta[i]);
    y[i] = x[i] * c - x[i + h] * s;
    y[i + h] = x[i + h] * c + x[i] * s;
  }
  return y;
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);

test('the order keeps pass-through features and splits the rotary ones into evens then odds', () => {
  assert.deepEqual(deinterleavedOrder(12, 8), [0, 2, 4, 6, 1, 3, 5, 7, 8, 9, 10, 11]);
  assert.deepEqual(deinterleavedOrder(4, 4), [0, 2, 1, 3]);
});

test('rotate-half of the reordered vectors gives the same q·k as the interleaved rotation', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const Dh = 12, rd = 8, order = deinterleavedOrder(Dh, rd);
  for (let trial = 0; trial < 20; trial++) {
    const q = Array.from({ length: Dh }, rand), k = Array.from({ length: Dh }, rand);
    const tq = Array.from({ length: rd / 2 }, () => 3 * rand()), tk = Array.from({ length: rd / 2 }, () => 3 * rand());
    const want = dot(rotateInterleaved(q, tq, rd), rotateInterleaved(k, tk, rd));
    const got = dot(rotateHalf(order.map((j) => q[j]), tq, rd), rotateHalf(order.map((j) => k[j]), tk, rd));
    assert.ok(Math.abs(got - want) < 1e-12, `trial ${trial}: ${got} vs ${want}`);
  }
});

test('columns are reordered within each head of a [in, heads * headDim] weight', () => {
  const inDim = 2, heads = 2, Dh = 4, rd = 4;
  const w = Float32Array.from({ length: inDim * heads * Dh }, (_, i) => i);
  // row 0: head 0 = [0, 1, 2, 3] -> [0, 2, 1, 3]; head 1 = [4, 5, 6, 7] -> [4, 6, 5, 7]
  assert.deepEqual([...deinterleaveRotaryColumns(w, inDim, heads, Dh, rd)], [0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15]);
});

/**
 * erf / erfc / GELU of the reference engine against values computed with mpmath at 40
 * digits (printed to 17 significant digits, i.e. to float64 precision).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { erf, erfc, geluErf, geluTanh } from '../src/reference/index.js';

// [x, erf(x)]: both sides of each switch between the series and the continued fraction
const ERF: Array<[number, number]> = [
  [1e-10, 1.1283791670955126e-10],
  [0.001, 0.0011283787909692364],
  [0.1, 0.1124629160182849],
  [0.25, 0.27632639016823693],
  [0.4999, 0.52041199516138659],
  [0.5, 0.52049987781304654],
  [0.75, 0.71115563365351513],
  [1, 0.84270079294971487],
  [1.5, 0.96610514647531073],
  [2, 0.99532226501895273],
  [2.4999, 0.99959283009966655],
  [2.5, 0.99959304798255504],
  [3, 0.99997790950300141],
  [3.5, 0.99999925690162766],
  [4, 0.9999999845827421],
  [5, 0.99999999999846254],
  [5.9, 0.99999999999999993],
];

// [x, erfc(x)]: down to the subnormal range, where 1 - erf(x) would be 0
const ERFC: Array<[number, number]> = [
  [0.1, 0.8875370839817151],
  [0.4999, 0.47958800483861341],
  [0.5, 0.47950012218695346],
  [0.75, 0.28884436634648487],
  [1, 0.15729920705028513],
  [2, 0.0046777349810472658],
  [3, 2.2090496998585441e-5],
  [5, 1.5374597944280349e-12],
  [8, 1.1224297172982927e-29],
  [10, 2.0884875837625448e-45],
  [15, 7.2129941724512067e-100],
  [20, 5.3958656116079009e-176],
  [26, 5.6631924088561428e-296],
];

const rel = (got: number, want: number) => Math.abs(got - want) / Math.abs(want);

test('erf matches mpmath to ~1e-15 relative (odd function)', () => {
  for (const [x, want] of ERF) {
    assert.ok(rel(erf(x), want) < 2e-15, `erf(${x}) = ${erf(x)}, want ${want}`);
    assert.ok(rel(erf(-x), -want) < 2e-15, `erf(${-x})`);
  }
  assert.equal(erf(0), 0);
  assert.equal(erf(30), 1);
  assert.equal(erf(-Infinity), -1);
  assert.ok(Number.isNaN(erf(NaN)));
});

test('erfc matches mpmath to ~1e-15 relative, also in the far tail', () => {
  for (const [x, want] of ERFC) assert.ok(rel(erfc(x), want) < 3e-15, `erfc(${x}) = ${erfc(x)}, want ${want}`);
  // erfc(-x) = 2 - erfc(x)
  for (const [x, want] of ERFC) assert.ok(rel(erfc(-x), 2 - want) < 2e-15, `erfc(${-x})`);
  assert.equal(erfc(0), 1);
  assert.equal(erfc(40), 0);
  assert.equal(erfc(Infinity), 0);
});

test('erf + erfc = 1 across the range', () => {
  // within 2 ulp of 1 (2.2e-16 each)
  for (let x = -6; x <= 6; x += 0.0625) assert.ok(Math.abs(erf(x) + erfc(x) - 1) <= 4.5e-16, `x = ${x}`);
});

test('GELU (erf) is x Phi(x), tails included', () => {
  // Phi(1) = 0.841344746..., Phi(-10) = 7.6198530241605e-24 (mpmath)
  assert.ok(rel(geluErf(1), 0.84134474606854295) < 1e-15);
  assert.ok(rel(geluErf(-1), -0.15865525393145705) < 1e-15);
  assert.ok(rel(geluErf(-10), -7.6198530241605261e-23) < 1e-14);
  assert.equal(geluErf(0), 0);
  assert.equal(geluErf(50), 50);
});

test('GELU (tanh) follows the GPT-2 formula', () => {
  assert.ok(rel(geluTanh(1), 0.8411919906082767) < 1e-15);
  assert.ok(rel(geluTanh(3), 2.996362607918227) < 1e-15);
  // the two forms agree to ~1e-3 (the tanh form's known approximation error)
  for (let x = -5; x <= 5; x += 0.25) assert.ok(Math.abs(geluTanh(x) - geluErf(x)) < 1e-3, `x = ${x}`);
});

/**
 * Helpers for testing engines and model code against the reference engine: the seeded
 * PRNG (from @tuned-lens/fixtures), random host arrays, and tolerance checks that report
 * where and by how much two results differ.
 */
import { makeRng, type Rng } from '@tuned-lens/fixtures';
import type { Engine, HostArray, RuntimeInputs, TensorProgram } from '../ops.js';
import { ReferenceEngine } from './engine.js';
import { fmtShape, shapesEqual } from './tensor.js';

// The PRNG has one home, with the other test material; re-exported so engine users
// keep importing it from here.
export { makeRng, type Rng };

/** An f32 array of N(0, scale^2) values. */
export function randomF32(rng: Rng, shape: number[], scale = 1): HostArray {
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * scale;
  return { shape, data };
}

/** An i32 array of uniform ints in [lo, hi]. */
export function randomI32(rng: Rng, shape: number[], lo: number, hi: number): HostArray {
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.int(lo, hi);
  return { shape, data };
}

/** The additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above it. */
export function causalBias(t: number, masked = -1e9): HostArray {
  const data = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) data[i * t + j] = masked;
  return { shape: [t, t], data };
}

/**
 * Allowed error |actual - expected| <= atol + rtol * |expected|, elementwise (numpy's
 * allclose rule).
 */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Closeness {
  ok: boolean;
  maxAbsDiff: number;
  /** Largest |diff| / (atol + rtol |expected|): <= 1 means within tolerance. */
  worstRatio: number;
  worstIndex: number;
}

export function closeness(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): Closeness {
  if (actual.length !== expected.length) throw new Error(`closeness: lengths differ (${actual.length} vs ${expected.length})`);
  let maxAbsDiff = 0;
  let worstRatio = 0;
  let worstIndex = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    // equal infinities and NaN vs NaN count as equal
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const diff = Math.abs(a - e);
    const ratio = Number.isNaN(diff) ? Infinity : diff / (tol.atol + tol.rtol * Math.abs(e));
    if (diff > maxAbsDiff || Number.isNaN(diff)) maxAbsDiff = Number.isNaN(diff) ? Infinity : diff;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worstIndex = i;
    }
  }
  return { ok: worstRatio <= 1, maxAbsDiff, worstRatio, worstIndex };
}

/** Throws an Error describing the worst element unless `actual` is close to `expected`. */
export function assertAllClose(
  actual: { shape: readonly number[]; data: ArrayLike<number> },
  expected: { shape: readonly number[]; data: ArrayLike<number> },
  tol: Tolerance,
  what = 'result',
): Closeness {
  if (!shapesEqual(actual.shape, expected.shape)) {
    throw new Error(`${what}: shape ${fmtShape(actual.shape)} differs from expected ${fmtShape(expected.shape)}`);
  }
  const c = closeness(actual.data, expected.data, tol);
  if (!c.ok) {
    const i = c.worstIndex;
    throw new Error(
      `${what}: not close (atol ${tol.atol}, rtol ${tol.rtol}): at flat index ${i} got ${actual.data[i]}, expected ${expected.data[i]} ` +
        `(|diff| ${Math.abs(actual.data[i] - expected.data[i])}, ${c.worstRatio.toFixed(2)}x the tolerance); max |diff| ${c.maxAbsDiff}`,
    );
  }
  return c;
}

/**
 * Runs `program` on `engine` and on the reference engine with the same inputs and checks
 * every output is close. Returns the closeness per output (useful to print or to tune a
 * tolerance from measurements).
 */
export async function compareWithReference(
  engine: Engine,
  program: TensorProgram,
  inputs: RuntimeInputs,
  tol: Tolerance,
): Promise<Record<string, Closeness>> {
  const ref = await new ReferenceEngine().compile(program);
  const compiled = await engine.compile(program);
  try {
    // compared with the float64 values, so the reference adds no rounding of its own
    const want = new Map(ref.runF64(inputs));
    const got = await compiled.run(inputs);
    const out: Record<string, Closeness> = {};
    for (const name of program.outputs) {
      out[name] = assertAllClose(got[name], want.get(name)!, tol, `${engine.name} vs reference: program "${program.name}" output "${name}"`);
    }
    return out;
  } finally {
    await compiled.dispose();
    await ref.dispose();
  }
}

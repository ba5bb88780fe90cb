/**
 * Muon's quintic Newton-Schulz iteration (Keller Jordan's Muon, as used by tuned-lens
 * PR #141), written over engine-neutral ops so the 15 matmuls of d^3 per matrix run on
 * the engine (onnxruntime's multithreaded GEMM) instead of in JS loops.
 *
 * For X0 with ||X0||_F <= 1 (so every singular value is <= 1), each step is
 *   A = X X^T;  B = b A + c A A;  X = a X + B X
 * which maps every singular value s to a s + b s^3 + c s^5 and leaves the singular
 * vectors alone: after 5 steps the result is roughly U S' V^T with S' in a band around 1
 * (not exactly U V^T: the coefficients maximise the slope at zero so small singular
 * values grow fast, at the price of not converging to exactly 1). The caller normalises
 * and transposes (see train/muon.ts); X has rows <= cols so A is the smaller Gram matrix.
 *
 * The PR runs this in bfloat16 on the GPU; here it is f32 on every engine (float64 on
 * the reference engine), which is only more accurate: the band the quintic lands in is
 * set by the coefficients, not by the rounding.
 */
import type { Ops, TensorProgram } from '@tuned-lens/engine';

/** (a, b, c) of the quintic a s + b s^3 + c s^5. */
export const NEWTON_SCHULZ_COEFFS = [3.4445, -4.775, 2.0315] as const;
export const NEWTON_SCHULZ_STEPS = 5;

/**
 * Input 'x' [k, m, n] (a stack of k matrices, m <= n for speed, each with Frobenius norm
 * <= 1); output 'y' [k, m, n], each matrix after `steps` quintic steps.
 */
export function newtonSchulzProgram(steps = NEWTON_SCHULZ_STEPS): TensorProgram {
  const [a, b, c] = NEWTON_SCHULZ_COEFFS;
  return {
    name: `newton-schulz-${steps}`,
    params: new Map(),
    inputs: { x: { dtype: 'f32', rank: 3 } },
    outputs: ['y'],
    fn<T>(ops: Ops<T>) {
      let x = ops.input('x');
      for (let i = 0; i < steps; i++) {
        const gram = ops.matmulTransposeB(x, x); // [k, m, m]
        const poly = ops.add(ops.scale(gram, b), ops.scale(ops.matmul(gram, gram), c));
        x = ops.add(ops.scale(x, a), ops.matmul(poly, x));
      }
      ops.output('y', x);
    },
  };
}

/** The scalar map of one step, s -> a s + b s^3 + c s^5 (for tests and docs). */
export function newtonSchulzScalar(s: number, steps = NEWTON_SCHULZ_STEPS): number {
  const [a, b, c] = NEWTON_SCHULZ_COEFFS;
  for (let i = 0; i < steps; i++) s = a * s + b * s ** 3 + c * s ** 5;
  return s;
}

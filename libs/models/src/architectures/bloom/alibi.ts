/** BLOOM's ALiBi: a per-head linear bias on key positions instead of position embeddings. */
import type { HostArray } from '@tuned-lens/engine';

/**
 * Head slopes as transformers builds them: for the largest power of two n <= heads,
 * (2^(-8/n))^k for k = 1..n; the remaining heads take the odd powers (2^(-4/n))^k,
 * k = 1, 3, 5, ... Bases and results are rounded to f32, as HF computes them.
 */
export function alibiSlopes(heads: number): Float32Array {
  const n = 2 ** Math.floor(Math.log2(heads));
  const slopes = new Float32Array(heads);
  const base = Math.fround(2 ** -(2 ** -(Math.log2(n) - 3)));
  for (let k = 1; k <= n; k++) slopes[k - 1] = base ** k;
  const extraBase = Math.fround(2 ** -(2 ** -(Math.log2(2 * n) - 3)));
  for (let i = 0; i < heads - n; i++) slopes[n + i] = extraBase ** (2 * i + 1);
  return slopes;
}

/**
 * The attention bias [H, T, T] for a causal BLOOM call: slope_h * j for key j <= query i
 * (the product rounded to f32 as HF's), -Infinity above the diagonal. HF's bias is
 * slope_h * j for every query row; softmax ignores the per-row constant, so this is the
 * same as the textbook -slope_h * (i - j).
 */
export function alibiCausalBias(heads: number, seq: number): HostArray {
  const slopes = alibiSlopes(heads);
  const data = new Float32Array(heads * seq * seq);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < seq; i++) {
      const row = (h * seq + i) * seq;
      for (let j = 0; j < seq; j++) data[row + j] = j <= i ? Math.fround(slopes[h] * j) : -Infinity;
    }
  }
  return { shape: [heads, seq, seq], data };
}

/**
 * GPT-J rotates interleaved pairs (x[2i], x[2i+1]) of each head's first rotaryDim
 * features. Reordering those features to [x0, x2, x4, ..., x1, x3, ...] turns that into
 * the rotate-half rotation (pair i = (i, i + rotaryDim/2)) with the same angles. Applying
 * the same reordering to the q and k projection outputs leaves every q·k, and so the
 * model, unchanged; it is done once on the weights at load.
 */

/** Where each output feature of a head comes from: new j <- old source[j], for j < headDim. */
export function deinterleavedOrder(headDim: number, rotaryDim: number): number[] {
  const half = rotaryDim / 2;
  return Array.from({ length: headDim }, (_, j) => (j < half ? 2 * j : j < rotaryDim ? 2 * (j - half) + 1 : j));
}

/**
 * Reorders the output columns of a [in, heads * headDim] weight (the [in, out] layout of
 * Ops.linear), head by head, per {@link deinterleavedOrder}.
 */
export function deinterleaveRotaryColumns(w: Float32Array, inDim: number, heads: number, headDim: number, rotaryDim: number): Float32Array {
  const order = deinterleavedOrder(headDim, rotaryDim);
  const out = heads * headDim;
  const result = new Float32Array(w.length);
  for (let r = 0; r < inDim; r++) {
    for (let h = 0; h < heads; h++) {
      const base = r * out + h * headDim;
      for (let j = 0; j < headDim; j++) result[base + j] = w[base + order[j]];
    }
  }
  return result;
}

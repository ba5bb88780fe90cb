/**
 * The tuned lens's parameters: one affine translator per lensed layer 0..L-1, in the
 * residual form h' = h + h W^T + b, W [d, d] in nn.Linear layout (out x in), both
 * initialised to ZERO so an untrained tuned lens is exactly the logit lens and weight
 * decay pulls towards the identity map.
 */
import type { Translator } from '../io/lensFolder.js';

export type { Translator };

export interface TunedLensWeights {
  dModel: number;
  translators: Translator[];
}

export function zeroTunedLens(numLayers: number, dModel: number, bias = true): TunedLensWeights {
  return {
    dModel,
    translators: Array.from({ length: numLayers }, () => ({
      weight: new Float32Array(dModel * dModel),
      bias: bias ? new Float32Array(dModel) : null,
    })),
  };
}

/** h' = h + h W^T + b for rows of h [n, d], on the host (small n: predictions, tests). */
export function applyTranslator(t: Translator, h: Float32Array, d: number): Float32Array {
  const n = h.length / d;
  const out = h.slice();
  for (let r = 0; r < n; r++) {
    const row = h.subarray(r * d, (r + 1) * d);
    for (let o = 0; o < d; o++) {
      let s = t.bias ? t.bias[o] : 0;
      const w = t.weight.subarray(o * d, (o + 1) * d);
      for (let i = 0; i < d; i++) s += row[i] * w[i];
      out[r * d + o] += s;
    }
  }
  return out;
}

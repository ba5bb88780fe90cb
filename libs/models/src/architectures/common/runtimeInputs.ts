/** Host-built per-call inputs shared by architectures (never traced into graphs). */
import type { HostArray, RuntimeInputs } from '@tuned-lens/engine';
import type { ArchConfig } from './types';

/** Positions 0..T-1 as i32 [T]. */
export function positions(seq: number): HostArray {
  const data = new Int32Array(seq);
  for (let i = 0; i < seq; i++) data[i] = i;
  return { shape: [seq], data };
}

/**
 * Additive attention bias [T, T]: 0 where query i may attend key j (j <= i, and within
 * `window` when a sliding window is set), -Infinity elsewhere. Every row keeps its
 * diagonal, so softmax never sees an all -Infinity row.
 */
export function causalBias(seq: number, window?: number): HostArray {
  const data = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) {
    for (let j = 0; j < seq; j++) {
      const allowed = j <= i && (window === undefined || i - j < window);
      data[i * seq + j] = allowed ? 0 : -Infinity;
    }
  }
  return { shape: [seq, seq], data };
}

/**
 * Rotary tables in the "rotate half" convention (GPT-NeoX, Llama): for rotary width
 * `dim`, inv_freq_k = base^(-2k/dim); cos/sin [T, dim] hold cat(freqs, freqs) where
 * freqs[t, k] = t * inv_freq_k. Computed in f64 then rounded, like HF's f32 tables up to
 * the last bit.
 */
export function ropeTables(seq: number, dim: number, base: number): { cos: HostArray; sin: HostArray } {
  const invFreq = new Float64Array(dim / 2);
  // HF computes inv_freq in f32: 1 / base ** (arange(0, dim, 2).float() / dim)
  for (let k = 0; k < dim / 2; k++) invFreq[k] = Math.fround(1 / Math.pow(base, Math.fround((2 * k) / dim)));
  return ropeTablesFrom(seq, invFreq);
}

/** 'rope_cos' / 'rope_sin' [T, rotaryDim] for the config's rotary (rotaryDim at rotaryBase). */
export function ropeInputs(c: ArchConfig, seq: number): RuntimeInputs {
  const { cos, sin } = ropeTables(seq, c.rotaryDim, c.rotaryBase);
  return { rope_cos: cos, rope_sin: sin };
}

/** The inputs of a rotary family with one mask: 'causal_bias' [T, T] (within c.slidingWindow when set) and the rotary tables. */
export const causalRopeInputs = (c: ArchConfig, _batch: number, seq: number): RuntimeInputs => ({ causal_bias: causalBias(seq, c.slidingWindow), ...ropeInputs(c, seq) });

/**
 * Rotate-half tables [T, 2 * invFreq.length] from given inverse frequencies (f32 values),
 * cos and sin multiplied by `scale` (LongRoPE's attention factor; 1 otherwise).
 */
export function ropeTablesFrom(seq: number, invFreq: ArrayLike<number>, scale = 1): { cos: HostArray; sin: HostArray } {
  const half = invFreq.length, dim = 2 * half;
  const cos = new Float32Array(seq * dim);
  const sin = new Float32Array(seq * dim);
  for (let k = 0; k < half; k++) {
    for (let t = 0; t < seq; t++) {
      // HF: positions times inv_freq in f32.
      const angle = Math.fround(t * invFreq[k]);
      const c = Math.cos(angle) * scale, s = Math.sin(angle) * scale;
      cos[t * dim + k] = c; cos[t * dim + k + half] = c;
      sin[t * dim + k] = s; sin[t * dim + k + half] = s;
    }
  }
  return { cos: { shape: [seq, dim], data: cos }, sin: { shape: [seq, dim], data: sin } };
}

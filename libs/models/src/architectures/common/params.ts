/**
 * Reading checkpoint tensors into prepared f32 params with shape checks that name the
 * tensor, what the config implies, and the file.
 */
import type { HostArray } from '@tuned-lens/engine';
import type { WeightSource } from './types';

export class ParamReader {
  readonly params = new Map<string, HostArray>();

  constructor(private readonly weights: WeightSource, private readonly configHint: string) {}

  private check(name: string, shape: number[]): Float32Array {
    if (!this.weights.has(name)) throw new Error(`${this.weights.describe()}: tensor ${name} is missing (expected shape [${shape.join(', ')}] for ${this.configHint})`);
    const stored = this.weights.shapeOf(name);
    if (stored.length !== shape.length || stored.some((d, i) => d !== shape[i])) {
      throw new Error(`${this.weights.describe()}: ${name} has shape [${stored.join(', ')}] but the config (${this.configHint}) needs [${shape.join(', ')}]`);
    }
    return this.weights.f32(name);
  }

  has(name: string): boolean {
    return this.weights.has(name);
  }

  /** A tensor kept as stored (norm weights, biases, embeddings). */
  take(as: string, name: string, shape: number[]): void {
    this.params.set(as, { shape, data: this.check(name, shape) });
  }

  /** A [in, out] weight stored as [in, out] (GPT-2's Conv1D). */
  takeInOut(as: string, name: string, inDim: number, outDim: number): void {
    this.take(as, name, [inDim, outDim]);
  }

  /**
   * A [in, out] weight whose columns are `names.length` equal blocks (GPT-2's fused
   * c_attn = q | k | v), stored as one [in, out / n] param per block under prefix + name.
   */
  takeInOutColumns(prefix: string, names: string[], name: string, inDim: number, outDim: number): void {
    const src = this.check(name, [inDim, outDim]);
    const width = outDim / names.length;
    names.forEach((as, j) => {
      const data = new Float32Array(inDim * width);
      for (let r = 0; r < inDim; r++) data.set(src.subarray(r * outDim + j * width, r * outDim + (j + 1) * width), r * width);
      this.params.set(prefix + as, { shape: [inDim, width], data });
    });
  }

  /** A vector [n] cut into `names.length` equal parts (the biases of a fused projection). */
  takeColumns(prefix: string, names: string[], name: string, n: number): void {
    const src = this.check(name, [n]);
    const width = n / names.length;
    names.forEach((as, j) => this.params.set(prefix + as, { shape: [width], data: src.slice(j * width, (j + 1) * width) }));
  }

  /** A torch Linear weight stored [out, in], transposed to [in, out] (done once, at load). */
  takeLinear(as: string, name: string, inDim: number, outDim: number): void {
    const src = this.check(name, [outDim, inDim]);
    this.params.set(as, { shape: [inDim, outDim], data: transpose(src, outDim, inDim) });
  }

  /** A host-built param (e.g. (1 + w) for Gemma). */
  set(as: string, value: HostArray): void {
    this.params.set(as, value);
  }
}

/** [rows, cols] -> [cols, rows], cache-blocked so large LM heads transpose quickly. */
export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const base = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = src[base + c];
      }
    }
  }
  return out;
}

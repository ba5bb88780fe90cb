/**
 * The Muon recipe of tuned-lens PR #141 (Belrose): translator weight matrices get Muon,
 * everything else (the biases) gets AdamW, both at lr = 0.01 x lrScale with decoupled
 * weight decay, after the same global gradient clip as the other optimisers.
 *
 * Muon, per matrix p [rows, cols] with clipped gradient g (beta = momentum, 0.9):
 *   buf = lerp(buf, g, 1 - beta)            (= beta buf + (1 - beta) g; buf starts at 0,
 *                                             an average, not torch SGD's sum)
 *   u   = lerp(g, buf, beta)                (Nesterov, always on in the PR)
 *   O   = NS5(u / (||u||_F + 1e-7))         (math/newtonSchulz.ts; transposed first when
 *                                             rows > cols so the Gram matrix is the small one)
 *   p  *= 1 - lr wd                         (decoupled decay, before the update, as the PR)
 *   p  -= lr * 0.2 sqrt(max(rows, cols)) O  (the "match AdamW's RMS" scale, arXiv 2502.16982)
 * The PR casts u to bfloat16 before the normalisation and the iteration; here both are
 * f32 (float64 on the reference engine). No bias correction: the NS normalisation makes
 * the update's size independent of buf's magnitude anyway.
 *
 * AdamW, per vector (torch.optim.AdamW, amsgrad off, eps 1e-8, betas (momentum, 0.999)):
 *   p *= 1 - lr wd;  m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 */
import type { CompiledProgram, Engine } from '@tuned-lens/engine';
import { newtonSchulzProgram } from '../math/newtonSchulz';

/** A matrix laid out row-major: data.length === rows * cols. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

/** Muon's update scale for a [rows, cols] matrix: 0.2 sqrt(max(rows, cols)). */
export function muonScale(rows: number, cols: number): number {
  return 0.2 * Math.sqrt(Math.max(rows, cols));
}

/**
 * Runs the Newton-Schulz program on an engine: normalises each matrix on the host
 * (||u||_F in f64, cheap next to the d^3 matmuls), transposes tall ones, stacks
 * every matrix of the same [m, n] into one [k, m, n] call (all translators are [d, d]: one
 * engine call per step), and undoes the transposes.
 * Compiles on first use, so a trainer that never steps with Muon compiles nothing.
 */
export class NewtonSchulzRunner {
  private program?: Promise<CompiledProgram>;

  constructor(private readonly engine: Engine) {}

  /** NS5(x / (||x||_F + 1e-7)) for every matrix, each with its own shape. */
  async orthogonalize(mats: Matrix[]): Promise<Float32Array[]> {
    // a failed compile is not cached: the next step tries again
    this.program ??= this.engine.compile(newtonSchulzProgram()).catch((e: unknown) => {
      this.program = undefined;
      throw e;
    });
    const program = await this.program;
    const groups = new Map<string, number[]>();
    mats.forEach((x, i) => {
      const [m, n] = x.rows > x.cols ? [x.cols, x.rows] : [x.rows, x.cols];
      const key = `${m}x${n}`;
      const group = groups.get(key);
      if (group) group.push(i);
      else groups.set(key, [i]);
    });
    const out: Float32Array[] = new Array(mats.length);
    for (const idx of groups.values()) {
      const { rows, cols } = mats[idx[0]];
      const tall = rows > cols;
      const [m, n] = tall ? [cols, rows] : [rows, cols];
      const stacked = new Float32Array(idx.length * m * n);
      idx.forEach((i, k) => {
        const x = mats[i];
        const inv = 1 / (frobenius(x.data) + 1e-7);
        const dst = stacked.subarray(k * m * n, (k + 1) * m * n);
        if (x.rows > x.cols) transposeInto(x.data, x.rows, x.cols, dst, inv);
        else for (let j = 0; j < dst.length; j++) dst[j] = x.data[j] * inv;
      });
      const { y } = await program.run({ x: { shape: [idx.length, m, n], data: stacked } });
      idx.forEach((i, k) => {
        const x = mats[i];
        const src = y.data.subarray(k * m * n, (k + 1) * m * n);
        if (x.rows > x.cols) {
          const back = new Float32Array(x.rows * x.cols);
          transposeInto(src, m, n, back, 1);
          out[i] = back;
        } else out[i] = src.slice();
      });
    }
    return out;
  }

  async dispose(): Promise<void> {
    const p = this.program;
    this.program = undefined;
    if (p) await (await p).dispose();
  }
}

/** sqrt(sum x^2), accumulated in f64. */
export function frobenius(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** dst [cols, rows] = s * src^T for src [rows, cols]. */
function transposeInto(src: Float32Array, rows: number, cols: number, dst: Float32Array, s: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c] * s;
}

/**
 * Muon's momentum for one matrix: returns the new buffer and the Nesterov direction u,
 * both fresh arrays (the caller commits the buffer only once the whole step has succeeded).
 * `g` is the raw gradient, `clip` the global clip factor (1 when not clipping).
 */
export function muonMomentum(buf: Float32Array, g: Float32Array, clip: number, beta: number): { buf: Float32Array; u: Float32Array } {
  const nextBuf = new Float32Array(g.length), u = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const gi = Math.fround(g[i] * clip);
    const b = Math.fround(buf[i] + (1 - beta) * (gi - buf[i]));
    nextBuf[i] = b;
    u[i] = gi + beta * (b - gi);
  }
  return { buf: nextBuf, u };
}

/** p = p (1 - lr wd) - lr muonScale(rows, cols) O, in place. */
export function muonApply(p: Float32Array, o: Float32Array, rows: number, cols: number, lr: number, wd: number): void {
  const decay = 1 - lr * wd, step = lr * muonScale(rows, cols);
  for (let i = 0; i < p.length; i++) p[i] = Math.fround(p[i] * decay) - step * o[i];
}

/** One AdamW step on a vector, in place (see the top of this file); t is the 1-based step. */
export function adamwStep(p: Float32Array, g: Float32Array, clip: number, m: Float32Array, v: Float32Array, t: number, lr: number, beta1: number, wd: number): void {
  const beta2 = 0.999, eps = 1e-8;
  const stepSize = lr / (1 - beta1 ** t), sqrtBc2 = Math.sqrt(1 - beta2 ** t);
  const decay = 1 - lr * wd;
  for (let i = 0; i < p.length; i++) {
    const gi = Math.fround(g[i] * clip);
    m[i] = m[i] + (1 - beta1) * (gi - m[i]);
    v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
    p[i] = Math.fround(p[i] * decay) - stepSize * m[i] / (Math.sqrt(v[i]) / sqrtBc2 + eps);
  }
}

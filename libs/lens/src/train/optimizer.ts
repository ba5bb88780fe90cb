/**
 * The original tuned-lens optimiser recipe, in f32 over flat parameter arrays, with
 * PyTorch's exact update rules so a step here equals a step there:
 *
 * - global gradient-norm clip (torch.nn.utils.clip_grad_norm_: coef = max / (norm + 1e-6),
 *   applied only when < 1), over every trainable tensor of the lens;
 * - SGD (default): lr = lrScale * (1 - momentum) (the "(1 - beta) rescale" that makes the
 *   effective step lrScale), Nesterov momentum, coupled L2 weight decay added to the
 *   gradient: g += wd * p; buf = mu * buf + g (buf = g on the first step);
 *   p -= lr * (g + mu * buf);
 * - Adam: amsgrad, betas (momentum, 0.999), eps 1e-8, lr = lrScale * 1e-3, coupled L2.
 * - Muon (tuned-lens PR #141): Muon for [rows, cols] matrices, AdamW for everything else,
 *   lr = lrScale * 0.01, decoupled weight decay; see muon.ts. It runs Newton-Schulz on an
 *   engine, so it needs one (constructor) and steps only through `stepAsync`.
 * The LR of each step is base * lrMultiplier (schedule.ts).
 */
import type { Engine } from '@tuned-lens/engine';
import { NewtonSchulzRunner, adamwStep, muonApply, muonMomentum, type Matrix } from './muon';
import { NonFiniteError } from './nonFinite';

export interface OptimizerConfig {
  kind: 'sgd' | 'adam' | 'muon';
  lrScale: number;
  /** SGD momentum, Adam's beta1, or Muon's momentum and its AdamW's beta1. */
  momentum: number;
  /** SGD/Adam: coupled L2 (added to the gradient); Muon/AdamW: decoupled (p *= 1 - lr wd). */
  weightDecay: number;
  /** Max global gradient norm; <= 0 disables clipping. */
  maxGradNorm: number;
}

export const defaultOptimizerConfig: OptimizerConfig = { kind: 'sgd', lrScale: 1, momentum: 0.9, weightDecay: 1e-3, maxGradNorm: 1 };
/** PR #141's Muon defaults: weight decay 0.01 (the PR's new default), momentum 0.9, clip 1. */
export const defaultMuonConfig: OptimizerConfig = { kind: 'muon', lrScale: 1, momentum: 0.9, weightDecay: 0.01, maxGradNorm: 1 };

/** A named trainable tensor with its gradient buffer (same length). */
export interface Trainable {
  name: string;
  value: Float32Array;
  grad: Float32Array;
  /**
   * [rows, cols] for a matrix (row-major). Only Muon reads it: a 2-D shape gets Muon,
   * anything else (omitted = a vector) gets AdamW, as the PR splits by p.ndim == 2.
   */
  shape?: number[];
}

/** Optimizer state per parameter, serialisable for checkpoints. */
export interface OptimizerState {
  step: number;
  /** SGD momentum buffers, Adam exp_avg, or Muon's momentum buffer (matrices) and AdamW exp_avg (vectors). */
  m: Record<string, Float32Array>;
  /** Adam / AdamW exp_avg_sq. */
  v: Record<string, Float32Array>;
  /** Adam max_exp_avg_sq (amsgrad; unused by Muon's AdamW). */
  vmax: Record<string, Float32Array>;
}

export function baseLearningRate(cfg: OptimizerConfig): number {
  switch (cfg.kind) {
    case 'sgd': return cfg.lrScale * (1 - cfg.momentum);
    case 'adam': return cfg.lrScale * 1e-3;
    // the PR: "The default Muon LR is 1e-3, but we find we can go 10x higher" (both groups)
    case 'muon': return cfg.lrScale * 0.01;
  }
}

/** sqrt of the sum of squares of every gradient (accumulated in f64). */
export function globalGradNorm(params: Trainable[]): number {
  let s = 0;
  for (const p of params) for (let i = 0; i < p.grad.length; i++) s += p.grad[i] * p.grad[i];
  return Math.sqrt(s);
}

export class LensOptimizer {
  state: OptimizerState;
  private readonly ns?: NewtonSchulzRunner;

  /** `engine` runs Muon's Newton-Schulz iteration (required for kind 'muon', unused otherwise). */
  constructor(readonly cfg: OptimizerConfig, state?: OptimizerState, engine?: Engine) {
    this.state = state ?? { step: 0, m: {}, v: {}, vmax: {} };
    if (cfg.kind === 'muon') {
      if (!engine) throw new Error("the 'muon' optimizer runs Newton-Schulz on an engine: pass one to LensOptimizer");
      this.ns = new NewtonSchulzRunner(engine);
    }
  }

  /**
   * Clips, then updates every parameter in place with learning rate `lr`, then zeroes
   * the gradients. Returns the gradient norm before clipping. SGD and Adam only (Muon
   * needs the engine: use `stepAsync`).
   */
  step(params: Trainable[], lr: number): number {
    if (this.cfg.kind === 'muon') throw new Error("the 'muon' optimizer steps through stepAsync (its Newton-Schulz runs on the engine)");
    const { norm, scale } = this.clip(params);
    this.state.step++;
    for (const p of params) {
      if (this.cfg.kind === 'sgd') this.sgd(p, lr, scale);
      else this.adam(p, lr, scale);
      p.grad.fill(0);
    }
    return norm;
  }

  /** `step` for every kind. Muon: if the engine call fails, no parameter or state has changed. */
  async stepAsync(params: Trainable[], lr: number): Promise<number> {
    if (this.cfg.kind !== 'muon') return this.step(params, lr);
    const { norm, scale } = this.clip(params);
    const beta = this.cfg.momentum, wd = this.cfg.weightDecay;
    const isMatrix = (p: Trainable) => p.shape?.length === 2;
    // Everything that can fail (the engine) runs before anything is written.
    const matrices = params.filter(isMatrix);
    const moments = matrices.map((p) => muonMomentum(this.state.m[p.name] ?? new Float32Array(p.value.length), p.grad, scale, beta));
    const shapes: Matrix[] = matrices.map((p, i) => {
      const [rows, cols] = p.shape!;
      if (rows * cols !== p.value.length) throw new Error(`${p.name}: shape [${rows}, ${cols}] does not match its ${p.value.length} values`);
      return { rows, cols, data: moments[i].u };
    });
    const orth = shapes.length ? await this.ns!.orthogonalize(shapes) : [];
    this.state.step++;
    matrices.forEach((p, i) => {
      this.state.m[p.name] = moments[i].buf;
      muonApply(p.value, orth[i], shapes[i].rows, shapes[i].cols, lr, wd);
    });
    for (const p of params) {
      if (isMatrix(p)) continue;
      const m = (this.state.m[p.name] ??= new Float32Array(p.value.length));
      const v = (this.state.v[p.name] ??= new Float32Array(p.value.length));
      adamwStep(p.value, p.grad, scale, m, v, this.state.step, lr, beta, wd);
    }
    for (const p of params) p.grad.fill(0);
    return norm;
  }

  /** Releases Muon's compiled Newton-Schulz program (a no-op for SGD and Adam). */
  async dispose(): Promise<void> {
    await this.ns?.dispose();
  }

  /** torch.nn.utils.clip_grad_norm_'s factor (see the top of this file), after a finiteness check. */
  private clip(params: Trainable[]): { norm: number; scale: number } {
    const norm = globalGradNorm(params);
    if (!Number.isFinite(norm)) throw new NonFiniteError('gradient', `gradient norm is ${norm}: the loss or its gradients are not finite`);
    const coef = this.cfg.maxGradNorm > 0 ? this.cfg.maxGradNorm / (norm + 1e-6) : 1;
    return { norm, scale: coef < 1 ? coef : 1 };
  }

  private sgd(p: Trainable, lr: number, scale: number): void {
    const { momentum: mu, weightDecay: wd } = this.cfg;
    const first = !this.state.m[p.name];
    const buf = (this.state.m[p.name] ??= new Float32Array(p.value.length));
    const x = p.value, g0 = p.grad;
    for (let i = 0; i < x.length; i++) {
      const g = Math.fround(g0[i] * scale) + wd * x[i];
      const b = first ? g : mu * buf[i] + g;
      buf[i] = b;
      x[i] -= lr * (g + mu * b);
    }
  }

  private adam(p: Trainable, lr: number, scale: number): void {
    const { momentum: beta1, weightDecay: wd } = this.cfg;
    const beta2 = 0.999, eps = 1e-8, t = this.state.step;
    const m = (this.state.m[p.name] ??= new Float32Array(p.value.length));
    const v = (this.state.v[p.name] ??= new Float32Array(p.value.length));
    const vmax = (this.state.vmax[p.name] ??= new Float32Array(p.value.length));
    const bc1 = 1 - beta1 ** t, bc2 = 1 - beta2 ** t;
    const stepSize = lr / bc1, sqrtBc2 = Math.sqrt(bc2);
    const x = p.value, g0 = p.grad;
    for (let i = 0; i < x.length; i++) {
      const g = Math.fround(g0[i] * scale) + wd * x[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      if (v[i] > vmax[i]) vmax[i] = v[i];
      x[i] -= stepSize * m[i] / (Math.sqrt(vmax[i]) / sqrtBc2 + eps);
    }
  }
}

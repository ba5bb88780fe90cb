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
 * The LR of each step is base * lrMultiplier (schedule.ts).
 */

export interface OptimizerConfig {
  kind: 'sgd' | 'adam';
  lrScale: number;
  momentum: number;
  weightDecay: number;
  /** Max global gradient norm; <= 0 disables clipping. */
  maxGradNorm: number;
}

export const defaultOptimizerConfig: OptimizerConfig = { kind: 'sgd', lrScale: 1, momentum: 0.9, weightDecay: 1e-3, maxGradNorm: 1 };

/** A named trainable tensor with its gradient buffer (same length). */
export interface Trainable {
  name: string;
  value: Float32Array;
  grad: Float32Array;
}

/** Optimizer state per parameter, serialisable for checkpoints. */
export interface OptimizerState {
  step: number;
  /** SGD momentum buffers, or Adam exp_avg. */
  m: Record<string, Float32Array>;
  /** Adam exp_avg_sq. */
  v: Record<string, Float32Array>;
  /** Adam max_exp_avg_sq (amsgrad). */
  vmax: Record<string, Float32Array>;
}

export function baseLearningRate(cfg: OptimizerConfig): number {
  return cfg.kind === 'sgd' ? cfg.lrScale * (1 - cfg.momentum) : cfg.lrScale * 1e-3;
}

/** sqrt of the sum of squares of every gradient (accumulated in f64). */
export function globalGradNorm(params: Trainable[]): number {
  let s = 0;
  for (const p of params) for (let i = 0; i < p.grad.length; i++) s += p.grad[i] * p.grad[i];
  return Math.sqrt(s);
}

export class LensOptimizer {
  state: OptimizerState;

  constructor(readonly cfg: OptimizerConfig, state?: OptimizerState) {
    this.state = state ?? { step: 0, m: {}, v: {}, vmax: {} };
  }

  /**
   * Clips, then updates every parameter in place with learning rate `lr`, then zeroes
   * the gradients. Returns the gradient norm before clipping.
   */
  step(params: Trainable[], lr: number): number {
    const norm = globalGradNorm(params);
    if (!Number.isFinite(norm)) throw new Error(`gradient norm is ${norm}: the loss or its gradients are not finite`);
    const coef = this.cfg.maxGradNorm > 0 ? this.cfg.maxGradNorm / (norm + 1e-6) : 1;
    const scale = coef < 1 ? coef : 1;
    this.state.step++;
    for (const p of params) {
      if (this.cfg.kind === 'sgd') this.sgd(p, lr, scale);
      else this.adam(p, lr, scale);
      p.grad.fill(0);
    }
    return norm;
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

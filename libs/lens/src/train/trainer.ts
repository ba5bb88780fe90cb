/**
 * Fits the translators: gradients accumulated over micro-batches (all in f32), then one
 * optimiser step with the original recipe. Each layer's loss touches only its own
 * translator; the global gradient clip is the only coupling between layers.
 *
 * Per micro-batch of hidden states (HF convention: indices 0..L-1 raw residuals, L after
 * the final norm):
 * - KL (default, token shift 0): target = log_softmax(W_U h_L + b_U) at every position;
 * - CE (token shift 1): the lens at position t predicts input token t+1; the last
 *   position of every sequence is left out.
 * Another `tokenShift` s pairs the lens at t with the target at t + s (|s| positions of
 * each sequence have no partner and are left out), as the original's --token_shift.
 * Rows are processed in slices of at most `maxRowsPerCall` so the [rows, vocab]
 * intermediates stay bounded (GPT-2: 1024 rows x 50257 x 4 B = 206 MB each).
 */
import type { CompiledProgram, Engine } from '@tuned-lens/engine';
import { klTargetProgram, lensStepProgram, type LossKind, type Unembedding } from '../math/index';
import { zeroTunedLens, type TunedLensWeights } from '../lens/tunedLens';
import { LensOptimizer, baseLearningRate, type OptimizerConfig, type OptimizerState, type Trainable } from './optimizer';
import { lrMultiplier } from './schedule';
import { NonFiniteError } from './nonFinite';

export interface TrainerOptions {
  loss: LossKind;
  numLayers: number;
  numSteps: number;
  warmupSteps: number;
  optimizer: OptimizerConfig;
  /** Train only the biases (weights stay as initialised). */
  biasOnly: boolean;
  maxRowsPerCall: number;
  /**
   * The lens at position t is trained against the target at t + tokenShift (KL: the model's
   * distribution there; CE: the input token there). Default 0 for KL, 1 for CE (the original's).
   */
  tokenShift?: number;
}

/** One micro-batch: [batch, seq] tokens with the hidden states the lens reads. */
export interface MicroBatch {
  batch: number;
  seq: number;
  inputIds: Int32Array;
  /** layer 0..L -> [batch * seq * d] f32 (HF convention; L is used for the KL target). */
  hiddenStates: Map<number, Float32Array>;
}

export interface StepStats {
  step: number;
  lr: number;
  gradNorm: number;
  weightNorm: number;
  biasNorm: number;
}

export class TranslatorTrainer {
  readonly lens: TunedLensWeights;
  readonly optimizer: LensOptimizer;
  private readonly grads: { weight: Float32Array; bias: Float32Array | null }[];
  private stepProgram!: CompiledProgram;
  private target?: CompiledProgram;

  private constructor(readonly engine: Engine, readonly u: Unembedding, readonly opts: TrainerOptions, lens?: TunedLensWeights, state?: OptimizerState) {
    this.lens = lens ?? zeroTunedLens(opts.numLayers, u.dModel);
    const d = u.dModel;
    if (this.lens.dModel !== d || this.lens.translators.length !== opts.numLayers) {
      throw new Error(`lens has ${this.lens.translators.length} translators of width ${this.lens.dModel}, the model needs ${opts.numLayers} of width ${d}`);
    }
    this.grads = this.lens.translators.map((t) => ({ weight: new Float32Array(d * d), bias: t.bias ? new Float32Array(d) : null }));
    // Muon's Newton-Schulz runs on the same engine as the gradients (compiled on its first step)
    this.optimizer = new LensOptimizer(opts.optimizer, state, engine);
  }

  static async create(engine: Engine, u: Unembedding, opts: TrainerOptions, lens?: TunedLensWeights, state?: OptimizerState): Promise<TranslatorTrainer> {
    const t = new TranslatorTrainer(engine, u, opts, lens, state);
    t.stepProgram = await engine.compile(lensStepProgram(u, opts.loss));
    if (opts.loss === 'kl') t.target = await engine.compile(klTargetProgram(u));
    return t;
  }

  /**
   * Adds this micro-batch's gradients, weighted by `weight` (the micro-batch's share of
   * the step: 1 / gradient-accumulation steps). Returns each layer's mean loss (nats).
   */
  async accumulate(mb: MicroBatch, weight: number): Promise<number[]> {
    const d = this.u.dModel, L = this.opts.numLayers;
    const chunk = this.opts.maxRowsPerCall;
    const { batch: B, seq: T } = mb;
    const ce = this.opts.loss === 'ce';
    // The lens at position t is trained against the target at t + shift (the original's
    // shift_preds / shift_labels): positions [lensStart, lensStart + rowsPerSeq) of each
    // sequence, targets from targetStart.
    const shift = this.opts.tokenShift ?? (ce ? 1 : 0);
    const rowsPerSeq = T - Math.abs(shift);
    const lensStart = Math.max(0, -shift), targetStart = Math.max(0, shift);
    const n = B * Math.max(0, rowsPerSeq);
    if (n < 1) throw new Error(`a micro-batch of [${B}, ${T}] has no positions to train on with the ${this.opts.loss} loss and token shift ${shift}`);
    const rowsOf = (h: Float32Array, start: number): Float32Array => sequenceRows(h, B, T, d, start, rowsPerSeq);
    let labels: Int32Array | undefined;
    // KL: p W_U [n, d] and sum_v p (log p - b_U) [n] of the model's distribution p, shared by every layer
    let pHead: Float32Array | undefined, pConst: Float32Array | undefined;
    if (ce) {
      labels = sequenceRows(mb.inputIds, B, T, 1, targetStart, rowsPerSeq);
    } else {
      const hFinal = mb.hiddenStates.get(L);
      if (!hFinal) throw new Error(`the KL loss needs hidden state ${L} (the model's output) in every micro-batch`);
      const hL = rowsOf(hFinal, targetStart);
      pHead = new Float32Array(n * d);
      pConst = new Float32Array(n);
      for (let r0 = 0; r0 < n; r0 += chunk) {
        const r1 = Math.min(n, r0 + chunk);
        const out = await this.target!.run({ h_final: { shape: [r1 - r0, d], data: hL.subarray(r0 * d, r1 * d) } });
        pHead.set(out.p_head.data, r0 * d);
        pConst.set(out.p_const.data, r0);
      }
    }
    const invCount = Float32Array.of(weight / n);
    const losses: number[] = [];
    for (let l = 0; l < L; l++) {
      const hl = mb.hiddenStates.get(l);
      if (!hl) throw new Error(`micro-batch lacks hidden state ${l}`);
      const h = rowsOf(hl, lensStart);
      const tr = this.lens.translators[l];
      const g = this.grads[l];
      const bias = tr.bias ?? new Float32Array(d);
      let lossSum = 0;
      for (let r0 = 0; r0 < n; r0 += chunk) {
        const r1 = Math.min(n, r0 + chunk);
        const rows = r1 - r0;
        const out = await this.stepProgram.run({
          h: { shape: [rows, d], data: h.subarray(r0 * d, r1 * d) },
          weight: { shape: [d, d], data: tr.weight },
          bias: { shape: [d], data: bias },
          inv_count: { shape: [1], data: invCount },
          ...(ce
            ? { labels: { shape: [rows], data: labels!.subarray(r0, r1) } }
            : {
              p_head: { shape: [rows, d], data: pHead!.subarray(r0 * d, r1 * d) },
              p_const: { shape: [rows, 1], data: pConst!.subarray(r0, r1) },
            }),
        });
        lossSum += out.loss.data[0];
        if (!this.opts.biasOnly) addInto(g.weight, out.grad_weight.data);
        if (g.bias) addInto(g.bias, out.grad_bias.data);
      }
      if (!Number.isFinite(lossSum)) throw new NonFiniteError('loss', `the loss of layer ${l} is ${lossSum}: stopping before a bad update`);
      losses.push(lossSum / weight);
    }
    return losses;
  }

  /**
   * One optimiser step (0-based `step` picks the scheduled learning rate). Async because
   * Muon runs Newton-Schulz on the engine; SGD and Adam do no engine work here.
   */
  async step(step: number): Promise<StepStats> {
    const lr = baseLearningRate(this.opts.optimizer) * lrMultiplier(step, this.opts.numSteps, this.opts.warmupSteps);
    const gradNorm = await this.optimizer.stepAsync(this.trainables(), lr);
    let w = 0, b = 0;
    for (const t of this.lens.translators) {
      for (const x of t.weight) w += x * x;
      if (t.bias) for (const x of t.bias) b += x * x;
    }
    // A finite loss and gradient can still take the weights to inf (a learning rate far too
    // high): refuse here, so no checkpoint or lens is ever written from this update.
    if (!Number.isFinite(w) || !Number.isFinite(b)) {
      throw new NonFiniteError('weights', `the update of step ${step + 1} made the translator weights non-finite (learning rate ${lr}, gradient norm ${gradNorm}): stopping before they are saved or used`);
    }
    return { step, lr, gradNorm, weightNorm: Math.sqrt(w), biasNorm: Math.sqrt(b) };
  }

  private trainables(): Trainable[] {
    const out: Trainable[] = [];
    this.lens.translators.forEach((t, l) => {
      // weight [d, d] (out x in): the shape sends it to Muon when the optimizer is 'muon'
      if (!this.opts.biasOnly) out.push({ name: `${l}.weight`, value: t.weight, grad: this.grads[l].weight, shape: [this.lens.dModel, this.lens.dModel] });
      if (t.bias) out.push({ name: `${l}.bias`, value: t.bias, grad: this.grads[l].bias! });
    });
    return out;
  }

  async dispose(): Promise<void> {
    await this.stepProgram?.dispose();
    await this.target?.dispose();
    await this.optimizer.dispose();
  }
}

/**
 * Rows [start, start + count) of every sequence of `x` [batch, seq, width], packed as
 * [batch * count, width]; `x` itself (no copy) when that is all of it.
 */
function sequenceRows<A extends Float32Array | Int32Array>(x: A, batch: number, seq: number, width: number, start: number, count: number): A {
  if (start === 0 && count === seq) return x;
  const out = new (x.constructor as new (n: number) => A)(batch * count * width);
  for (let b = 0; b < batch; b++) out.set(x.subarray((b * seq + start) * width, (b * seq + start + count) * width), b * count * width);
  return out;
}

function addInto(acc: Float32Array, x: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += x[i];
}

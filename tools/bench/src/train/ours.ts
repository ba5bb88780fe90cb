/**
 * Our side of the training bench: libs/lens TranslatorTrainer on an engine, over the
 * micro-batch of a data file (data.ts), with the unembedding from loadModel(dir). One
 * "full step" is what the bench times: accumulate(micro-batch, 1) (the KL target once,
 * then every layer's lens step: translator, unembedding, loss, gradients, accumulation)
 * followed by step(k) (global clip 1.0, SGD Nesterov 0.9, lr 0.1, weight decay 1e-3).
 */
import { createEngine, type Engine } from '@tuned-lens/engine';
import { loadModel } from '@tuned-lens/models';
import { TranslatorTrainer, defaultOptimizerConfig, type MicroBatch, type StepStats } from '@tuned-lens/lens';
import type { EngineKind } from '../common';
import { lensUnembedding, microBatch, readTrainData, type TrainData } from './data';
import { profileEngine, type EngineProfile } from './profile';

export interface OursOptions {
  threads: number;
  /** The schedule's length S (lr multiplier (S - k) / S at step k), the same on both sides. */
  numSteps: number;
  maxRowsPerCall: number;
  /** Time every engine program call (profile.ts). */
  profile?: boolean;
}

export interface StepProfile {
  total: number;
  accumulate: number;
  optimizer: number;
  engine: EngineProfile;
}

export interface FullStep {
  losses: number[];
  stats: StepStats;
  seconds: number;
  profile?: StepProfile;
}

/** The row cap the lens-training service uses by default (services/lens-training job.ts). */
export function serviceMaxRows(vocabSize: number): number {
  return Math.max(64, Math.floor(2 ** 26 / vocabSize));
}

export class OurTraining {
  private next = 0;

  private constructor(
    readonly engine: Engine,
    readonly trainer: TranslatorTrainer,
    readonly data: TrainData,
    private readonly mb: MicroBatch,
    private readonly prof?: ReturnType<typeof profileEngine>,
  ) {}

  static async create(kind: EngineKind, modelDir: string, dataFile: string, o: OursOptions): Promise<OurTraining> {
    const data = readTrainData(dataFile);
    const model = await loadModel(modelDir);
    const u = lensUnembedding(model);
    if (u.dModel !== data.dModel || u.vocabSize !== data.vocabSize || model.dims.numLayers !== data.numLayers) {
      throw new Error(`${dataFile} does not belong to ${modelDir}`);
    }
    const engine = await createEngine(kind, { threads: kind === 'onnx' ? o.threads : undefined });
    const prof = o.profile ? profileEngine(engine) : undefined;
    const trainer = await TranslatorTrainer.create(prof?.engine ?? engine, u, {
      loss: 'kl', numLayers: data.numLayers, numSteps: o.numSteps, warmupSteps: 0,
      optimizer: { ...defaultOptimizerConfig }, biasOnly: false, maxRowsPerCall: o.maxRowsPerCall,
    });
    return new OurTraining(engine, trainer, data, microBatch(data), prof);
  }

  get tokens(): number {
    return this.data.batch * this.data.seq;
  }

  /** One timed full step: the micro-batch's gradients, then the optimiser step. */
  async fullStep(): Promise<FullStep> {
    this.prof?.reset();
    const s = performance.now();
    const losses = await this.trainer.accumulate(this.mb, 1);
    const a = performance.now();
    const stats = await this.trainer.step(this.next++);
    const e = performance.now();
    const profile = this.prof ? { total: (e - s) / 1000, accumulate: (a - s) / 1000, optimizer: (e - a) / 1000, engine: this.prof.snapshot() } : undefined;
    return { losses, stats, seconds: (e - s) / 1000, profile };
  }

  /** Every translator as raw f32, layer by layer: weight [d, d] (out x in), then bias [d]. */
  weights(): Float32Array {
    const d = this.data.dModel;
    const out = new Float32Array(this.data.numLayers * (d * d + d));
    let o = 0;
    for (const t of this.trainer.lens.translators) {
      out.set(t.weight, o);
      o += d * d;
      if (t.bias) out.set(t.bias, o);
      o += d;
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.trainer.dispose();
    await this.engine.dispose?.();
  }
}

/**
 * The original `tuned-lens eval` metrics: for each lensed layer and each lens (logit, and
 * tuned when given), per token: `ce` (next-token cross-entropy, shift 1), `entropy` of the
 * lens distribution, `kl` = KL(p_model || p_lens) at the same position; plus the model's
 * own `ce` and `entropy` as the baseline. Aggregated like the original: mean within each
 * batch, then mean over batches.
 */
import type { CompiledProgram, Engine } from '@tuned-lens/engine';
import { baselineMetricsProgram, lensMetricsProgram, targetProgram, type Unembedding } from '../math/index';
import type { TunedLensWeights } from '../lens/tunedLens';
import type { MicroBatch } from '../train/trainer';

export interface LayerMetrics {
  ce: number[];
  entropy: number[];
  kl: number[];
}

export interface EvalResult {
  /** Per layer 0..L-1, nats/token. */
  logit: LayerMetrics;
  tuned?: LayerMetrics;
  baseline: { ce: number; entropy: number };
  batches: number;
  tokens: number;
}

const emptyMetrics = (L: number): LayerMetrics => ({ ce: new Array(L).fill(0), entropy: new Array(L).fill(0), kl: new Array(L).fill(0) });

export class LensEvaluator {
  private metrics!: CompiledProgram;
  private baseline!: CompiledProgram;
  private target!: CompiledProgram;
  private readonly sums: { logit: LayerMetrics; tuned?: LayerMetrics; baseline: { ce: number; entropy: number } };
  private batches = 0;
  private tokens = 0;
  private readonly zeroWeight: Float32Array;
  private readonly zeroBias: Float32Array;

  private constructor(readonly u: Unembedding, readonly numLayers: number, readonly tuned?: TunedLensWeights) {
    this.sums = { logit: emptyMetrics(numLayers), tuned: tuned ? emptyMetrics(numLayers) : undefined, baseline: { ce: 0, entropy: 0 } };
    this.zeroWeight = new Float32Array(u.dModel * u.dModel);
    this.zeroBias = new Float32Array(u.dModel);
  }

  static async create(engine: Engine, u: Unembedding, numLayers: number, tuned?: TunedLensWeights): Promise<LensEvaluator> {
    if (tuned && (tuned.translators.length !== numLayers || tuned.dModel !== u.dModel)) {
      throw new Error(`the lens has ${tuned.translators.length} translators of width ${tuned.dModel}; the model needs ${numLayers} of width ${u.dModel}`);
    }
    const e = new LensEvaluator(u, numLayers, tuned);
    e.metrics = await engine.compile(lensMetricsProgram(u));
    e.baseline = await engine.compile(baselineMetricsProgram(u));
    e.target = await engine.compile(targetProgram(u));
    return e;
  }

  /** Adds one batch (HF-convention hidden states 0..L). */
  async addBatch(mb: MicroBatch): Promise<void> {
    const { batch: B, seq: T } = mb;
    const d = this.u.dModel, L = this.numLayers, n = B * T;
    const hL = mb.hiddenStates.get(L);
    if (!hL) throw new Error(`evaluation needs hidden state ${L} (the model's output)`);
    const logp = (await this.target.run({ h_final: { shape: [n, d], data: hL } })).target_logp.data;
    const labels = new Int32Array(n).fill(-1);
    for (let b = 0; b < B; b++) for (let t = 0; t < T - 1; t++) labels[b * T + t] = mb.inputIds[b * T + t + 1];
    const ceCount = B * (T - 1);
    const common = { target_logp: { shape: [n, this.u.vocabSize], data: logp }, labels: { shape: [n], data: labels } };
    const base = await this.baseline.run(common);
    this.sums.baseline.ce += base.ce_sum.data[0] / ceCount;
    this.sums.baseline.entropy += base.entropy_sum.data[0] / n;
    for (let l = 0; l < L; l++) {
      const h = mb.hiddenStates.get(l);
      if (!h) throw new Error(`evaluation needs hidden state ${l}`);
      const lenses: Array<[LayerMetrics, Float32Array, Float32Array]> = [[this.sums.logit, this.zeroWeight, this.zeroBias]];
      if (this.tuned && this.sums.tuned) {
        const t = this.tuned.translators[l];
        lenses.push([this.sums.tuned, t.weight, t.bias ?? this.zeroBias]);
      }
      for (const [sums, weight, bias] of lenses) {
        const out = await this.metrics.run({
          ...common,
          h: { shape: [n, d], data: h },
          weight: { shape: [d, d], data: weight },
          bias: { shape: [d], data: bias },
        });
        sums.kl[l] += out.kl_sum.data[0] / n;
        sums.entropy[l] += out.entropy_sum.data[0] / n;
        sums.ce[l] += out.ce_sum.data[0] / ceCount;
      }
    }
    this.batches++;
    this.tokens += n;
  }

  /** Means over the batches so far, nats/token. */
  result(): EvalResult {
    const k = Math.max(1, this.batches);
    const mean = (m: LayerMetrics): LayerMetrics => ({ ce: m.ce.map((x) => x / k), entropy: m.entropy.map((x) => x / k), kl: m.kl.map((x) => x / k) });
    return {
      logit: mean(this.sums.logit),
      tuned: this.sums.tuned ? mean(this.sums.tuned) : undefined,
      baseline: { ce: this.sums.baseline.ce / k, entropy: this.sums.baseline.entropy / k },
      batches: this.batches,
      tokens: this.tokens,
    };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.metrics?.dispose(), this.baseline?.dispose(), this.target?.dispose()]);
  }
}

/**
 * `aggregate_metrics.json` in the original's layout, every metric multiplied by
 * `scale` (nats_to_bpb for the original's bits-per-byte file, 1 for our nats version).
 */
export function aggregateMetricsJson(r: EvalResult, scale: number): Record<string, unknown> {
  const layers = (xs: number[]) => Object.fromEntries(xs.map((x, i) => [`layer_${i}`, x * scale]));
  const lens = (m: LayerMetrics) => ({ ce: layers(m.ce), entropy: layers(m.entropy), kl: layers(m.kl) });
  return {
    logit: lens(r.logit),
    ...(r.tuned ? { tuned: lens(r.tuned) } : {}),
    baseline: { ce: { final: r.baseline.ce * scale }, entropy: { final: r.baseline.entropy * scale } },
  };
}

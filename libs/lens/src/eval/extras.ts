/**
 * The original eval's two options beyond the per-layer metrics:
 *
 * - layer transfer (`--layer_transfer`): for every translator i applied to hidden state
 *   j, the next-token CE and KL(lens_j(h_j) || translator_i(h_j)) -- relative to layer
 *   j's own lens, as the original computes it, not to the model. Per batch means, then
 *   the mean over batches; for the logit lens every "translator" is the identity, so its
 *   matrices are the layer-j values (CE) and zeros (KL), filled in without computing.
 * - logit statistics (`--record_logit_stats`): each layer's mean lens distribution over
 *   every evaluated token (the marginal), and the model's, for the paper's "bias" plots.
 */
import type { CompiledProgram, Engine } from '@tuned-lens/engine';
import { lensLogProbsProgram, lensMetricsProgram, targetProgram } from '../math/index';
import type { EvalResult } from './evaluator';
import type { MicroBatch } from '../train/index';
import type { TunedLensWeights } from '../lens/tunedLens';
import type { Unembedding } from '../math/unembed';

export interface TransferResult {
  /** [i][j]: translator i on hidden state j, nats. */
  ce: number[][];
  kl: number[][];
}

export interface ExtraOptions {
  layerTransfer: boolean;
  logitStats: boolean;
}

const square = (L: number) => Array.from({ length: L }, () => new Array<number>(L).fill(0));

export class ExtraMetrics {
  private logProbs!: CompiledProgram;
  private metrics?: CompiledProgram;
  private target?: CompiledProgram;
  private readonly transferSums: TransferResult;
  private readonly marginals = new Map<string, Float64Array[]>();
  private baselineMarginal?: Float64Array;
  private batches = 0;
  private tokens = 0;
  private readonly zeroWeight: Float32Array;
  private readonly zeroBias: Float32Array;

  private constructor(readonly u: Unembedding, readonly numLayers: number, readonly opts: ExtraOptions, readonly tuned?: TunedLensWeights) {
    this.transferSums = { ce: square(numLayers), kl: square(numLayers) };
    this.zeroWeight = new Float32Array(u.dModel * u.dModel);
    this.zeroBias = new Float32Array(u.dModel);
    if (opts.logitStats) {
      for (const lens of tuned ? ['logit', 'tuned'] : ['logit']) {
        this.marginals.set(lens, Array.from({ length: numLayers }, () => new Float64Array(u.vocabSize)));
      }
      this.baselineMarginal = new Float64Array(u.vocabSize);
    }
  }

  static async create(engine: Engine, u: Unembedding, numLayers: number, opts: ExtraOptions, tuned?: TunedLensWeights): Promise<ExtraMetrics> {
    const x = new ExtraMetrics(u, numLayers, opts, tuned);
    x.logProbs = await engine.compile(lensLogProbsProgram(u));
    if (opts.layerTransfer && tuned) x.metrics = await engine.compile(lensMetricsProgram(u));
    if (opts.logitStats) x.target = await engine.compile(targetProgram(u));
    return x;
  }

  get active(): boolean {
    return this.opts.logitStats || (this.opts.layerTransfer && Boolean(this.tuned));
  }

  async addBatch(mb: MicroBatch): Promise<void> {
    if (!this.active) return;
    const { batch: B, seq: T } = mb;
    const d = this.u.dModel, V = this.u.vocabSize, L = this.numLayers, n = B * T;
    const labels = new Int32Array(n).fill(-1);
    for (let b = 0; b < B; b++) for (let t = 0; t < T - 1; t++) labels[b * T + t] = mb.inputIds[b * T + t + 1];
    const ceCount = B * (T - 1);
    const addMarginal = (acc: Float64Array, logp: Float32Array) => {
      for (let r = 0; r < n; r++) for (let v = 0; v < V; v++) acc[v] += Math.exp(logp[r * V + v]);
    };
    if (this.target && this.baselineMarginal) {
      const out = await this.target.run({ h_final: { shape: [n, d], data: mb.hiddenStates.get(L)! } });
      addMarginal(this.baselineMarginal, out.target_logp.data);
    }
    for (let j = 0; j < L; j++) {
      const h = mb.hiddenStates.get(j)!;
      for (const lens of this.tuned ? ['logit', 'tuned'] as const : ['logit'] as const) {
        const wantTransfer = lens === 'tuned' && this.metrics !== undefined;
        if (!this.opts.logitStats && !wantTransfer) continue;
        const t = lens === 'tuned' ? this.tuned!.translators[j] : undefined;
        const logq = (await this.logProbs.run({
          h: { shape: [n, d], data: h },
          weight: { shape: [d, d], data: t ? t.weight : this.zeroWeight },
          bias: { shape: [d], data: t?.bias ?? this.zeroBias },
        })).logq.data;
        if (this.opts.logitStats) addMarginal(this.marginals.get(lens)![j], logq);
        if (!wantTransfer) continue;
        for (let i = 0; i < L; i++) {
          const ti = this.tuned!.translators[i];
          const out = await this.metrics!.run({
            h: { shape: [n, d], data: h },
            weight: { shape: [d, d], data: ti.weight },
            bias: { shape: [d], data: ti.bias ?? this.zeroBias },
            target_logp: { shape: [n, V], data: logq },
            labels: { shape: [n], data: labels },
          });
          this.transferSums.ce[i][j] += out.ce_sum.data[0] / ceCount;
          this.transferSums.kl[i][j] += out.kl_sum.data[0] / n;
        }
      }
    }
    this.batches++;
    this.tokens += n;
  }

  /** Transfer matrices per lens (nats), when asked for. */
  transfer(base: EvalResult): Record<string, TransferResult> | undefined {
    if (!this.opts.layerTransfer) return undefined;
    const L = this.numLayers;
    const out: Record<string, TransferResult> = {
      // identity "translators": translator i on h_j is the logit lens at j
      logit: { ce: Array.from({ length: L }, () => [...base.logit.ce]), kl: square(L) },
    };
    if (this.tuned) {
      const k = Math.max(1, this.batches);
      out.tuned = { ce: this.transferSums.ce.map((r) => r.map((x) => x / k)), kl: this.transferSums.kl.map((r) => r.map((x) => x / k)) };
    }
    return out;
  }

  /** `logit_stats.json` in the original's layout, when asked for. */
  logitStatsJson(): Record<string, unknown> | undefined {
    if (!this.opts.logitStats || !this.baselineMarginal) return undefined;
    const mean = (a: Float64Array) => Array.from(a, (x) => x / Math.max(1, this.tokens));
    const out: Record<string, unknown> = {};
    for (const [lens, layers] of this.marginals) {
      out[lens] = { logit_stats: Object.fromEntries(layers.map((m, j) => [`layer_${j}`, mean(m)])) };
    }
    out.baseline = { logit_stats: { final: mean(this.baselineMarginal) } };
    return out;
  }

  async dispose(): Promise<void> {
    await Promise.all([this.logProbs?.dispose(), this.metrics?.dispose(), this.target?.dispose()]);
  }
}

/**
 * aggregate_metrics.json with the transfer matrices inside each lens, in the original's
 * key order: `{lens: {ce, entropy, kl, layer_transfer: {ce: {layer_i: {layer_j}}, kl}}}`.
 */
export function withLayerTransfer(agg: Record<string, unknown>, transfer: Record<string, TransferResult> | undefined, scale: number): Record<string, unknown> {
  if (!transfer) return agg;
  const out: Record<string, unknown> = {};
  const matrix = (m: number[][]) => Object.fromEntries(m.map((row, i) => [`layer_${i}`, Object.fromEntries(row.map((x, j) => [`layer_${j}`, x * scale]))]));
  for (const [key, value] of Object.entries(agg)) {
    const t = transfer[key];
    out[key] = t ? { ...(value as object), layer_transfer: { ce: matrix(t.ce), kl: matrix(t.kl) } } : value;
  }
  return out;
}

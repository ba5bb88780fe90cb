/**
 * Lens predictions for one sequence, position by position, without ever holding the
 * (L+1) x seq x vocab array the original's PredictionTrajectory materialises: positions
 * are taken in slices of rows; for each slice the model's log-distribution and then
 * each (lens, layer)'s are computed on the engine one at a time ([rows, vocab] each),
 * reduced on the host to top-k and statistics, and dropped. A slice's positions are
 * complete once its last layer is done, so they can be streamed before the next slice
 * is computed.
 *
 * Hidden states follow the HF convention (0..L-1 raw residuals, L after the final
 * norm): the model row is log_softmax(W_U h_L + b_U).
 */
import type { CompiledProgram, Engine } from '@tuned-lens/engine';
import { lensLogProbsProgram, targetProgram, type Unembedding } from '../math/index';
import type { TunedLensWeights } from '../lens/tunedLens';
import { distributionDistances, rowStatistics, type CellStats, type Distances } from './stats';

export type LensName = 'logit' | 'tuned';

/** A lens to apply: the logit lens, or a tuned lens with its translators. */
export type LensToApply = { kind: 'logit' } | { kind: 'tuned'; weights: TunedLensWeights };

/** One sequence: its tokens and hidden states (layer -> [seq, d] f32). */
export interface SequenceStates {
  inputIds: Int32Array;
  hiddenStates: Map<number, Float32Array>;
}

export interface PredictOptions {
  /** Lensed layers (each in 0..L-1), in the order cells should appear. */
  layers: number[];
  lenses: LensToApply[];
  topK: number;
  /** Cells whose full log-distribution to return (layer L = the model row). */
  fullCells?: Array<{ layer: number; position: number }>;
  /** Positions per engine call; default: as many as keep one [rows, vocab] under 32 MiB. */
  rowsPerCall?: number;
}

export interface CellResult extends CellStats {
  lens: LensName | 'model';
  /** 0..L-1, or L for the model row. */
  layer: number;
  fullLogProbs?: Float32Array;
}

export interface PositionResult {
  position: number;
  tokenId: number;
  /** Per lens its layers in order, then the model row. */
  cells: CellResult[];
}

export interface CompareOptions {
  layers: number[];
  lens: LensToApply;
  /** Tokens with the largest probability change per cell. */
  topK: number;
  rowsPerCall?: number;
}

export interface CellComparisonResult extends Distances {
  /** 0..L-1, or L for the model rows. */
  layer: number;
}

export interface PositionComparison {
  position: number;
  cells: CellComparisonResult[];
}

const SLICE_BYTES = 32 * 1024 * 1024;

export class LensPredictor {
  private logProbs!: CompiledProgram;
  private target!: CompiledProgram;
  private readonly zeroWeight: Float32Array;
  private readonly zeroBias: Float32Array;

  private constructor(readonly u: Unembedding, readonly numLayers: number) {
    this.zeroWeight = new Float32Array(u.dModel * u.dModel);
    this.zeroBias = new Float32Array(u.dModel);
  }

  /** Compiles the two programs once; every lens and request reuses them. */
  static async create(engine: Engine, u: Unembedding, numLayers: number): Promise<LensPredictor> {
    const p = new LensPredictor(u, numLayers);
    p.logProbs = await engine.compile(lensLogProbsProgram(u));
    p.target = await engine.compile(targetProgram(u));
    return p;
  }

  /** Checks a tuned lens fits this model (translators and width). */
  checkLens(lens: LensToApply): void {
    if (lens.kind !== 'tuned') return;
    const w = lens.weights;
    if (w.translators.length !== this.numLayers || w.dModel !== this.u.dModel) {
      throw new RangeError(`the lens has ${w.translators.length} translators of width ${w.dModel}; the model needs ${this.numLayers} of width ${this.u.dModel}`);
    }
  }

  /** Predictions per position, in order, streamed slice by slice. */
  async *predict(seq: SequenceStates, opts: PredictOptions): AsyncGenerator<PositionResult> {
    const T = seq.inputIds.length;
    this.checkLayers(opts.layers);
    opts.lenses.forEach((l) => this.checkLens(l));
    const full = new Set((opts.fullCells ?? []).map((c) => `${c.layer}:${c.position}`));
    const rows = this.rowsPerCall(opts.rowsPerCall);
    const V = this.u.vocabSize;
    for (let r0 = 0; r0 < T; r0 += rows) {
      const r1 = Math.min(T, r0 + rows);
      const n = r1 - r0;
      const model = await this.modelLogProbs(seq, r0, r1);
      const cells: CellResult[][] = Array.from({ length: n }, () => []);
      for (const lens of opts.lenses) {
        for (const layer of opts.layers) {
          const logq = await this.lensLogProbs(seq, lens, layer, r0, r1);
          for (let i = 0; i < n; i++) {
            const t = r0 + i;
            const row = logq.subarray(i * V, (i + 1) * V);
            const stats = rowStatistics(row, { topK: opts.topK, target: t + 1 < T ? seq.inputIds[t + 1] : -1, modelLogProbs: model.subarray(i * V, (i + 1) * V) });
            cells[i].push({ lens: lens.kind, layer, ...stats, ...(full.has(`${layer}:${t}`) ? { fullLogProbs: row.slice() } : {}) });
          }
        }
      }
      const L = this.numLayers;
      for (let i = 0; i < n; i++) {
        const t = r0 + i;
        const row = model.subarray(i * V, (i + 1) * V);
        const stats = rowStatistics(row, { topK: opts.topK, target: t + 1 < T ? seq.inputIds[t + 1] : -1 });
        cells[i].push({ lens: 'model', layer: L, ...stats, klToModel: 0, ...(full.has(`${L}:${t}`) ? { fullLogProbs: row.slice() } : {}) });
        yield { position: t, tokenId: seq.inputIds[t], cells: cells[i] };
      }
    }
  }

  /**
   * Distances between two sequences' distributions through the same lens, at each
   * position of the shorter one: per layer, then the model rows.
   */
  async *compare(a: SequenceStates, b: SequenceStates, opts: CompareOptions): AsyncGenerator<PositionComparison> {
    this.checkLayers(opts.layers);
    this.checkLens(opts.lens);
    const T = Math.min(a.inputIds.length, b.inputIds.length);
    const rows = this.rowsPerCall(opts.rowsPerCall);
    const V = this.u.vocabSize;
    for (let r0 = 0; r0 < T; r0 += rows) {
      const r1 = Math.min(T, r0 + rows);
      const n = r1 - r0;
      const cells: CellComparisonResult[][] = Array.from({ length: n }, () => []);
      const add = (layer: number, p: Float32Array, q: Float32Array) => {
        for (let i = 0; i < n; i++) {
          cells[i].push({ layer, ...distributionDistances(p.subarray(i * V, (i + 1) * V), q.subarray(i * V, (i + 1) * V), opts.topK) });
        }
      };
      for (const layer of opts.layers) {
        add(layer, await this.lensLogProbs(a, opts.lens, layer, r0, r1), await this.lensLogProbs(b, opts.lens, layer, r0, r1));
      }
      add(this.numLayers, await this.modelLogProbs(a, r0, r1), await this.modelLogProbs(b, r0, r1));
      for (let i = 0; i < n; i++) yield { position: r0 + i, cells: cells[i] };
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([this.logProbs?.dispose(), this.target?.dispose()]);
  }

  private checkLayers(layers: number[]): void {
    for (const l of layers) {
      if (!Number.isInteger(l) || l < 0 || l >= this.numLayers) throw new RangeError(`layer ${l} is out of range: lensed layers are 0..${this.numLayers - 1}`);
    }
  }

  private rowsPerCall(asked?: number): number {
    return Math.max(1, asked ?? Math.floor(SLICE_BYTES / (4 * this.u.vocabSize)));
  }

  private hidden(seq: SequenceStates, layer: number, r0: number, r1: number): Float32Array {
    const h = seq.hiddenStates.get(layer);
    const d = this.u.dModel;
    if (!h) throw new RangeError(`hidden state ${layer} is missing`);
    if (h.length !== seq.inputIds.length * d) throw new RangeError(`hidden state ${layer} has ${h.length} values, expected ${seq.inputIds.length} x ${d}`);
    return h.subarray(r0 * d, r1 * d);
  }

  private async modelLogProbs(seq: SequenceStates, r0: number, r1: number): Promise<Float32Array> {
    const h = this.hidden(seq, this.numLayers, r0, r1);
    return (await this.target.run({ h_final: { shape: [r1 - r0, this.u.dModel], data: h } })).target_logp.data;
  }

  private async lensLogProbs(seq: SequenceStates, lens: LensToApply, layer: number, r0: number, r1: number): Promise<Float32Array> {
    const d = this.u.dModel;
    const t = lens.kind === 'tuned' ? lens.weights.translators[layer] : undefined;
    const out = await this.logProbs.run({
      h: { shape: [r1 - r0, d], data: this.hidden(seq, layer, r0, r1) },
      weight: { shape: [d, d], data: t ? t.weight : this.zeroWeight },
      bias: { shape: [d], data: t?.bias ?? this.zeroBias },
    });
    return out.logq.data;
  }
}

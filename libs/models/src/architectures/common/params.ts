/**
 * Reading checkpoint tensors into params under our names (see blocks.ts) with shape checks
 * that name the tensor, what the config implies, and the file. Where the weight source knows where a tensor lies on disk,
 * a param is a StoredParam: the tensor stays in its file, in its stored dtype, and the view
 * an architecture asks for (as stored, transposed, a block of columns) is recorded, not
 * computed; engines that need f32 arrays get them from its `data`. Otherwise params are
 * f32 copies in the asked layout.
 */
import { StoredParam, transposeF32, type HostArray, type StoredLayout } from '@tuned-lens/engine';
import type { WeightSource } from './types';

export class ParamReader {
  constructor(
    private readonly weights: WeightSource,
    private readonly configHint: string,
    /** Where params go (pass another reader's map to add to it with a different hint). */
    readonly params = new Map<string, HostArray>(),
  ) {}

  private check(name: string, shape: number[]): void {
    if (!this.weights.has(name)) throw new Error(`${this.weights.describe()}: tensor ${name} is missing (expected shape [${shape.join(', ')}] for ${this.configHint})`);
    const stored = this.weights.shapeOf(name);
    if (stored.length !== shape.length || stored.some((d, i) => d !== shape[i])) {
      throw new Error(`${this.weights.describe()}: ${name} has shape [${stored.join(', ')}] but the config (${this.configHint}) needs [${shape.join(', ')}]`);
    }
  }

  /** `name` (already checked) in `layout`: in place when its location is known, else an f32 copy. */
  private view(name: string, layout: StoredLayout): HostArray {
    const location = this.weights.location?.(name);
    const stored = new StoredParam(location ?? { file: '', offset: 0, dtype: 'F32', shape: this.weights.shapeOf(name) }, layout, () => this.weights.f32(name));
    return location ? stored : { shape: stored.shape, data: stored.data };
  }

  has(name: string): boolean {
    return this.weights.has(name);
  }

  /** A tensor kept as stored (norm weights, biases, embeddings). */
  take(as: string, name: string, shape: number[]): void {
    this.check(name, shape);
    this.params.set(as, this.view(name, { kind: 'asStored' }));
  }

  /** A [in, out] weight stored as [in, out] (GPT-2's Conv1D). */
  takeInOut(as: string, name: string, inDim: number, outDim: number): void {
    this.take(as, name, [inDim, outDim]);
  }

  /**
   * A [in, out] weight whose columns are `names.length` equal blocks (GPT-2's fused
   * c_attn = q | k | v), one [in, out / n] param per block under prefix + name.
   */
  takeInOutColumns(prefix: string, names: string[], name: string, inDim: number, outDim: number): void {
    this.check(name, [inDim, outDim]);
    names.forEach((as, j) => this.params.set(prefix + as, this.view(name, { kind: 'columns', index: j, count: names.length })));
  }

  /** A vector [n] cut into `names.length` equal parts (the biases of a fused projection): small f32 copies. */
  takeColumns(prefix: string, names: string[], name: string, n: number): void {
    this.check(name, [n]);
    const src = this.weights.f32(name);
    const width = n / names.length;
    names.forEach((as, j) => this.params.set(prefix + as, { shape: [width], data: src.slice(j * width, (j + 1) * width) }));
  }

  /** A torch Linear weight stored [out, in], used as [in, out] (transposed in the graph, or once here). */
  takeLinear(as: string, name: string, inDim: number, outDim: number): void {
    this.check(name, [outDim, inDim]);
    this.params.set(as, this.view(name, { kind: 'transpose' }));
  }

  /**
   * Rows [start, start + count) of a torch Linear weight stored [outs, in] whose rows are
   * consecutive blocks (Phi-3's qkv_proj = q | k | v), used as [in, count].
   */
  takeLinearRows(as: string, name: string, inDim: number, totalOut: number, start: number, count: number): void {
    this.check(name, [totalOut, inDim]);
    this.params.set(as, this.view(name, { kind: 'rowsTransposed', start, count }));
  }

  /**
   * A head tied to the input embedding: param `from` ([vocab, d], as stored) used as
   * [d, vocab]. In place it is the same bytes read transposed; otherwise a transposed copy.
   */
  tieHead(as: string, from: string): void {
    const embed = this.params.get(from);
    if (!embed) throw new Error(`tieHead: param ${from} was not read`);
    if (embed instanceof StoredParam && embed.layout.kind === 'asStored') {
      this.params.set(as, new StoredParam(embed.location, { kind: 'transpose' }, () => embed.data));
      return;
    }
    const [rows, cols] = embed.shape;
    this.params.set(as, { shape: [cols, rows], data: transposeF32(embed.data as Float32Array, rows, cols) });
  }

  /** A norm weight [dim] as `${as}.w` (RMSNorm), from `${name}.weight`. */
  norm(as: string, name: string, dim: number): void {
    this.take(`${as}.w`, `${name}.weight`, [dim]);
  }

  /** A LayerNorm's weight and bias [dim] as `${as}.w`, `${as}.b`, from `${name}.weight`, `${name}.bias`. */
  layerNorm(as: string, name: string, dim: number): void {
    this.norm(as, name, dim);
    this.take(`${as}.b`, `${name}.bias`, [dim]);
  }

  /** A torch Linear `${name}.weight` [out, in] as `${as}.w` [in, out], and its bias [out] as `${as}.b` when `bias`. */
  linear(as: string, name: string, inDim: number, outDim: number, bias: boolean): void {
    this.takeLinear(`${as}.w`, `${name}.weight`, inDim, outDim);
    if (bias) this.take(`${as}.b`, `${name}.bias`, [outDim]);
  }

  /** A Conv1D (GPT-2) `${name}.weight` [in, out] and bias [out] as `${as}.w`, `${as}.b`. */
  conv1d(as: string, name: string, inDim: number, outDim: number): void {
    this.takeInOut(`${as}.w`, `${name}.weight`, inDim, outDim);
    this.take(`${as}.b`, `${name}.bias`, [outDim]);
  }

  /**
   * The LM head as `lm_head` [inDim, vocab]: `name` [vocab, inDim] unless `tied`, else the
   * `embed` param read transposed. An untied config whose checkpoint lacks `name` is an
   * error, or with `tieWhenMissing` (GPT-2, GPT-NeoX) ties as well.
   */
  head(name: string, inDim: number, vocab: number, tied: boolean, tieWhenMissing = false): void {
    if (!tied && (!tieWhenMissing || this.has(name))) this.takeLinear('lm_head', name, inDim, vocab);
    else this.tieHead('lm_head', 'embed');
  }

  /** A host-built param (OPT's all-ones norm weight, GPT-J's reordered q/k weights). */
  set(as: string, value: HostArray): void {
    this.params.set(as, value);
  }
}

/** [rows, cols] -> [cols, rows] (the engine's cache-blocked transpose). */
export const transpose = transposeF32;

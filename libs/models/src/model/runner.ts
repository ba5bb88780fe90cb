/**
 * Runs a loaded model on an engine: token batches in, hidden states (and optionally
 * logits) out. One compiled program per output selection, compiled on first use and
 * kept (an ONNX session per distinct selection; shapes are dynamic inside each).
 */
import type { CompiledProgram, Engine } from '@tuned-lens/engine';
import type { LoadedModel } from './loadedModel';

export type HiddenStateConvention = 'hf' | 'residual';

export interface ForwardRequest {
  /** [batch, seq] token ids, row-major. */
  inputIds: Int32Array;
  batch: number;
  seq: number;
  /** Hidden-state indices 0..L to return (default all). */
  layers?: number[];
  /** 'hf': index L after the final norm (transformers); 'residual': before it. */
  convention?: HiddenStateConvention;
  logits?: boolean;
}

export interface ForwardResult {
  /** index -> [batch, seq, dModel] f32. */
  hiddenStates: Map<number, Float32Array>;
  /** [batch, seq, vocab] f32, when asked. */
  logits?: Float32Array;
  seconds: number;
}

export class ModelRunner {
  private readonly compiled = new Map<string, Promise<CompiledProgram>>();

  constructor(readonly model: LoadedModel, readonly engine: Engine) {}

  /** Checks ids and length before any work, with messages naming the problem. */
  validate(req: ForwardRequest): void {
    const { batch, seq, inputIds } = req;
    const { vocabSize, contextLength, numLayers } = this.model.dims;
    if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(seq) || seq < 1) throw new RangeError(`batch and seq must be positive integers, got [${batch}, ${seq}]`);
    if (inputIds.length !== batch * seq) throw new RangeError(`input_ids has ${inputIds.length} ids, shape [${batch}, ${seq}] needs ${batch * seq}`);
    if (seq > contextLength) throw new RangeError(`sequence length ${seq} exceeds the model's context length ${contextLength}`);
    for (let i = 0; i < inputIds.length; i++) {
      const id = inputIds[i];
      if (id < 0 || id >= vocabSize) throw new RangeError(`token id ${id} at [${Math.floor(i / seq)}, ${i % seq}] is outside the vocabulary (0..${vocabSize - 1})`);
    }
    for (const l of req.layers ?? []) {
      if (!Number.isInteger(l) || l < 0 || l > numLayers) throw new RangeError(`hidden-state index ${l} is out of range 0..${numLayers}`);
    }
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    this.validate(req);
    const L = this.model.dims.numLayers;
    const layers = req.layers && req.layers.length > 0 ? [...new Set(req.layers)].sort((a, b) => a - b) : Array.from({ length: L + 1 }, (_, i) => i);
    const lastName = req.convention === 'residual' ? `residual.${L}` : `hidden_states.${L}`;
    const names = layers.map((i) => (i === L ? lastName : `hidden_states.${i}`));
    if (req.logits) names.push('logits');
    const program = await this.programFor(!!req.logits);
    const inputs = { ...this.model.runtimeInputs(req.batch, req.seq), input_ids: { shape: [req.batch, req.seq], data: req.inputIds } };
    const t0 = performance.now();
    const out = await program.run(inputs, names);
    const seconds = (performance.now() - t0) / 1000;
    const hiddenStates = new Map<number, Float32Array>();
    layers.forEach((i, k) => hiddenStates.set(i, out[names[k]].data));
    return { hiddenStates, logits: req.logits ? out.logits.data : undefined, seconds };
  }

  private programFor(logits: boolean): Promise<CompiledProgram> {
    const key = logits ? 'with-logits' : 'hidden-only';
    let p = this.compiled.get(key);
    if (!p) {
      p = this.engine.compile(this.model.program({ logits }));
      this.compiled.set(key, p);
      p.catch(() => this.compiled.delete(key));
    }
    return p;
  }

  async dispose(): Promise<void> {
    for (const p of this.compiled.values()) await (await p.catch(() => null))?.dispose();
    this.compiled.clear();
  }
}

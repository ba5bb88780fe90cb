/**
 * Runs a loaded model on an engine: token batches in, hidden states (and optionally
 * logits) out. One compiled program per output selection, compiled on first use and
 * kept (an ONNX session per distinct selection; shapes are dynamic inside each).
 */
import type { CompiledProgram, Engine } from '@tuned-lens/engine';
import type { LoadedModel } from './loadedModel';
import type { ModelDims } from '../architectures/common/types';
import { hiddenStateOutput, LOGITS_OUTPUT, residualOutput } from '../architectures/common/decoder';

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

/**
 * Checks ids, length and layer indices before any work, with messages naming the
 * problem (RangeError). Usable without the model's weights (e.g. in front of a worker).
 */
export function validateForwardRequest(dims: ModelDims, req: ForwardRequest): void {
  const { batch, seq, inputIds } = req;
  const { vocabSize, contextLength, numLayers } = dims;
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

export class ModelRunner {
  private readonly compiled = new Map<string, Promise<CompiledProgram>>();
  private readonly outputNames = new Map<string, string[]>();

  constructor(readonly model: LoadedModel, readonly engine: Engine) {}

  /** Checks ids and length before any work, with messages naming the problem. */
  validate(req: ForwardRequest): void {
    validateForwardRequest(this.model.dims, req);
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    this.validate(req);
    const L = this.model.dims.numLayers;
    const layers = req.layers && req.layers.length > 0 ? [...new Set(req.layers)].sort((a, b) => a - b) : Array.from({ length: L + 1 }, (_, i) => i);
    const program = await this.programFor(!!req.logits);
    const inputs = { ...this.model.runtimeInputs(req.batch, req.seq), input_ids: { shape: [req.batch, req.seq], data: req.inputIds } };
    const t0 = performance.now();
    // Always the program's whole output set: an engine may build one session per distinct
    // set (each with its own copy of the weights), and the layers are computed anyway.
    const out = await program.compiled.run(inputs, program.outputs);
    const seconds = (performance.now() - t0) / 1000;
    const hiddenStates = new Map<number, Float32Array>();
    for (const i of layers) {
      const name = i === L && req.convention === 'residual' ? residualOutput(L) : hiddenStateOutput(i);
      hiddenStates.set(i, out[name].data);
    }
    return { hiddenStates, logits: req.logits ? out[LOGITS_OUTPUT].data : undefined, seconds };
  }

  /**
   * The compiled program for a request: one live program per model. A request without
   * logits uses the with-logits program when that one exists (the logits are a few percent
   * of a big model's forward); the first request with logits replaces the hidden-only
   * program. Why: each onnxruntime session maps the checkpoint's weights on its own (the
   * weights stay in the files), so two live programs count the checkpoint twice in RSS.
   */
  private async programFor(logits: boolean): Promise<{ compiled: CompiledProgram; outputs: string[] }> {
    const key = logits || this.compiled.has('with-logits') ? 'with-logits' : 'hidden-only';
    let p = this.compiled.get(key);
    if (!p) {
      const program = this.model.program({ logits: key === 'with-logits' });
      this.outputNames.set(key, program.outputs);
      p = this.engine.compile(program);
      this.compiled.set(key, p);
      p.catch(() => this.compiled.delete(key));
      const replaced = key === 'with-logits' ? this.compiled.get('hidden-only') : undefined;
      if (replaced) {
        this.compiled.delete('hidden-only');
        // Released once the new one is up (a request still running on it finishes first).
        void p.then(async () => (await replaced.catch(() => null))?.dispose(), () => undefined);
      }
    }
    return { compiled: await p, outputs: this.outputNames.get(key)! };
  }

  async dispose(): Promise<void> {
    for (const p of this.compiled.values()) await (await p.catch(() => null))?.dispose();
    this.compiled.clear();
  }
}

/**
 * TfjsEngine: runs a TensorProgram on TensorFlow.js. `compile` uploads the params once;
 * the first `run` records the program's op calls as a tape (tape.ts); each `run` uploads
 * the inputs and replays the steps the requested outputs need with `tfjsOps`, each step
 * in its own tf.tidy and every intermediate disposed right after its last use (the whole
 * run inside an outer tf.tidy, so everything is freed also when a step throws), then
 * reads the requested outputs back as float32.
 */
import type { Tensor } from '@tensorflow/tfjs';
import type { CompiledProgram, Engine, HostArray, RuntimeInputs, TensorProgram } from '../ops.js';
import { OutputCollector, checkInputs, checkProgram, resolveOutputs, undeclaredInput, unknownParam } from '../reference/program-io.js';
import {
  activateTfjsBackend,
  selectTfjsBackend,
  type Tf,
  type TfjsBackendOptions,
  type TfjsBackendPreference,
  type TfjsBackendSelection,
  type TfjsEngineName,
} from './backend.js';
import { tfjsOps } from './ops.js';
import { planTape, recordTape, TapeValue, type Tape, type TapeArg } from './tape.js';

export interface TfjsEngineOptions extends TfjsBackendOptions {
  /** Which backend to start the search at (default 'auto'; see selectTfjsBackend). */
  backend?: TfjsBackendPreference;
}

type Outputs = Record<string, { shape: number[]; data: Float32Array }>;

export class TfjsEngine implements Engine {
  /** 'tfjs-node-gpu', 'tfjs-node', 'tfjs-wasm' or 'tfjs-cpu'. */
  readonly name: TfjsEngineName;
  private readonly programs = new Set<TfjsProgram>();

  /** Selects (or reuses) the process's tfjs backend and makes an engine on it. */
  static async create(options: TfjsEngineOptions = {}): Promise<TfjsEngine> {
    const { backend = 'auto', ...rest } = options;
    return new TfjsEngine(await selectTfjsBackend(backend, rest));
  }

  constructor(readonly selection: TfjsBackendSelection) {
    this.name = selection.name;
  }

  /** The tf namespace this engine runs on (for tf.grad & co. on `tfjsOps`). */
  get tf(): Tf {
    return this.selection.tf;
  }

  async compile(program: TensorProgram): Promise<TfjsProgram> {
    checkProgram(program);
    await activateTfjsBackend(this.selection);
    const compiled = new TfjsProgram(this, program, () => this.programs.delete(compiled));
    this.programs.add(compiled);
    return compiled;
  }

  /** Frees the params of every program compiled here and not yet disposed. */
  async dispose(): Promise<void> {
    for (const p of [...this.programs]) await p.dispose();
  }
}

export class TfjsProgram implements CompiledProgram {
  private params: Map<string, Tensor> | null;
  private tape?: Tape;

  constructor(
    private readonly engine: TfjsEngine,
    readonly program: TensorProgram,
    private readonly onDispose: () => void,
  ) {
    const { tf } = engine;
    const params = new Map<string, Tensor>();
    try {
      for (const [name, h] of program.params) params.set(name, tf.keep(toTensor(tf, h, engine.selection.tfBackend === 'cpu')));
    } catch (e) {
      for (const t of params.values()) t.dispose();
      throw e;
    }
    this.params = params;
  }

  async run(inputs: RuntimeInputs, outputs?: string[]): Promise<Outputs> {
    const { program, engine } = this;
    const { tf } = engine;
    if (!this.params) throw new Error(`program "${program.name}": run after dispose`);
    const params = this.params;
    const wanted = resolveOutputs(program, outputs);
    checkInputs(program, inputs);
    await activateTfjsBackend(engine.selection);

    const tape = this.recorded();
    const plan = planTape(tape, wanted);
    // Synchronous from here to the end of tidy, so concurrent runs cannot interleave
    // inside one tidy scope.
    const results = tf.tidy(() => {
      const ops = tfjsOps(tf) as unknown as Record<string, (...args: unknown[]) => Tensor>;
      const values = new Map<number, Tensor>();
      // Tensors that must outlive their last use on the tape: params, and values that are
      // the same tensor object as another live value (an op may hand back its input).
      const pinned = new Set<Tensor>(params.values());
      const liveIds = new Map<Tensor, number>();
      const resolve = (a: TapeArg): unknown => (a instanceof TapeValue ? values.get(a.id)! : Array.isArray(a) ? a.map((x) => resolve(x as TapeArg)) : a);
      plan.steps.forEach((step, i) => {
        let t: Tensor;
        if (step.kind === 'param') {
          const p = params.get(step.name);
          if (!p) throw unknownParam(program, step.name);
          t = p;
        } else if (step.kind === 'input') {
          if (!(step.name in program.inputs)) throw undeclaredInput(program, step.name);
          t = toTensor(tf, inputs[step.name], false);
        } else {
          const fn = ops[step.method];
          if (typeof fn !== 'function') throw new Error(`program "${program.name}": the tfjs engine has no op "${step.method}"`);
          const args = step.args.map(resolve);
          t = tf.tidy(() => fn(...args));
        }
        values.set(step.id, t);
        liveIds.set(t, (liveIds.get(t) ?? 0) + 1);
        for (const id of plan.lastUses.get(i) ?? []) {
          const dead = values.get(id)!;
          values.delete(id);
          const left = liveIds.get(dead)! - 1;
          if (left > 0) liveIds.set(dead, left);
          else {
            liveIds.delete(dead);
            if (!pinned.has(dead)) dead.dispose();
          }
        }
      });
      const collector = new OutputCollector<Tensor>(program, wanted);
      for (const [name, id] of tape.outputs) if (collector.isWanted(name)) collector.add(name, values.get(id)!);
      // clone: a result that is (a view of) a param must not be disposed with the results
      return collector.finish().map(([name, t]) => [name, t.dtype === 'float32' ? tf.clone(t) : tf.cast(t, 'float32')] as [string, Tensor]);
    });

    try {
      const out: Outputs = {};
      // data() rather than dataSync(): on tfjs-node-gpu the wait for the GPU then does not
      // block the event loop; on wasm/cpu it resolves at once
      const values = await Promise.all(results.map(([, t]) => t.data<'float32'>()));
      results.forEach(([name, t], i) => {
        // the cpu backend hands out its own storage (shared with params for reshapes)
        const data = engine.selection.tfBackend === 'cpu' ? values[i].slice() : values[i];
        out[name] = { shape: t.shape.slice(), data };
      });
      return out;
    } finally {
      for (const [, t] of results) t.dispose();
    }
  }

  /** The program's op calls, recorded on first use; its outputs checked against the declaration. */
  private recorded(): Tape {
    if (!this.tape) {
      const tape = recordTape(this.program);
      const check = new OutputCollector<number>(this.program, []);
      for (const [name, id] of tape.outputs) check.add(name, id);
      this.tape = tape;
    }
    return this.tape;
  }

  async dispose(): Promise<void> {
    if (!this.params) return;
    for (const t of this.params.values()) t.dispose();
    this.params = null;
    this.onDispose();
  }
}

/**
 * A host array as a tf tensor. The cpu backend keeps the given array as its storage, so
 * params are copied there (the caller may reuse its buffers).
 */
function toTensor(tf: Tf, h: HostArray, copy: boolean): Tensor {
  const dtype = h.data instanceof Int32Array ? 'int32' : 'float32';
  return tf.tensor(copy ? h.data.slice() : h.data, h.shape, dtype);
}

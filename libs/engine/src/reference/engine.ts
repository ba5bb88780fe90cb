/**
 * ReferenceEngine: runs a TensorProgram eagerly with `ReferenceOps` in float64 and
 * returns the results rounded to float32. The oracle for the other engines' tests and
 * for model code; far too slow for real shapes.
 */
import type { CompiledProgram, Engine, HostArray, RuntimeInputs, TensorProgram } from '../ops.js';
import { ReferenceOps } from './ops.js';
import { OutputCollector, checkInputs, checkProgram, resolveOutputs, undeclaredInput, unknownParam } from './program-io.js';
import { RefTensor } from './tensor.js';

/** A host array widened to a RefTensor (f32 values are exact in float64). */
export function fromHost(h: HostArray): RefTensor {
  return new RefTensor(h.shape.slice(), Float64Array.from(h.data), h.data instanceof Int32Array ? 'i32' : 'f32');
}

export class ReferenceEngine implements Engine {
  readonly name = 'reference';

  async compile(program: TensorProgram): Promise<ReferenceProgram> {
    checkProgram(program);
    return new ReferenceProgram(program);
  }

  async dispose(): Promise<void> {}
}

export class ReferenceProgram implements CompiledProgram {
  private params: Map<string, RefTensor> | null;

  constructor(readonly program: TensorProgram) {
    // widened once; the program's host arrays are not read again
    this.params = new Map([...program.params].map(([name, h]) => [name, fromHost(h)]));
  }

  /** Runs `fn` and returns the requested outputs as float64 RefTensors (for oracle use). */
  runF64(inputs: RuntimeInputs, outputs?: string[]): Array<[string, RefTensor]> {
    const { program } = this;
    const params = this.params;
    if (!params) throw new Error(`program "${program.name}": run after dispose`);
    const wanted = resolveOutputs(program, outputs);
    checkInputs(program, inputs);
    const collector = new OutputCollector<RefTensor>(program, wanted);
    const cache = new Map<string, RefTensor>();
    const ops = new ReferenceOps({
      param: (name) => {
        const p = params.get(name);
        if (!p) throw unknownParam(program, name);
        return p;
      },
      input: (name) => {
        if (!(name in program.inputs)) throw undeclaredInput(program, name);
        let t = cache.get(name);
        if (!t) cache.set(name, (t = fromHost(inputs[name])));
        return t;
      },
      output: (name, x) => collector.add(name, x),
    });
    program.fn(ops);
    return collector.finish();
  }

  async run(inputs: RuntimeInputs, outputs?: string[]): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
    const result: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of this.runF64(inputs, outputs)) {
      // Float32Array.from rounds each float64 to the nearest float32
      result[name] = { shape: t.shape.slice(), data: Float32Array.from(t.data) };
    }
    return result;
  }

  async dispose(): Promise<void> {
    this.params = null;
  }
}

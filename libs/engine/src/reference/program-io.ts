/**
 * Checks shared by the reference and tfjs engines: a program's declared params, inputs
 * and outputs against what a caller hands over, with errors that name the culprit.
 * (Eager engines only learn which params/inputs the function reads while running it, so
 * the declared `TensorProgram.inputs` is the contract checked before every run.)
 */
import type { HostArray, RuntimeInputs, TensorProgram } from '../ops.js';
import { fmtShape, sizeOf } from './tensor.js';

/** Throws unless `h` is a row-major f32/i32 array whose length matches its shape. */
export function checkHostArray(h: HostArray, what: string): void {
  if (h == null || typeof h !== 'object') throw new Error(`${what}: expected { shape, data }, got ${String(h)}`);
  if (!Array.isArray(h.shape)) throw new Error(`${what}: shape must be an array of dims`);
  let n: number;
  try {
    n = sizeOf(h.shape);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
  if (!(h.data instanceof Float32Array) && !(h.data instanceof Int32Array)) {
    throw new Error(`${what}: data must be a Float32Array or Int32Array, got ${describeData(h.data)}`);
  }
  if (h.data.length !== n) {
    throw new Error(`${what}: ${h.data.length} values for shape ${fmtShape(h.shape)} (needs ${n})`);
  }
}

/** Validates a program's declaration once, at compile time. */
export function checkProgram(program: TensorProgram): void {
  const p = `program "${program.name}"`;
  if (typeof program.fn !== 'function') throw new Error(`${p}: fn is not a function`);
  for (const [name, h] of program.params) checkHostArray(h, `${p}: param "${name}"`);
  for (const [name, spec] of Object.entries(program.inputs)) {
    if (spec.dtype !== 'f32' && spec.dtype !== 'i32') {
      throw new Error(`${p}: input "${name}" has dtype ${String(spec.dtype)}, expected 'f32' or 'i32'`);
    }
    if (!Number.isInteger(spec.rank) || spec.rank < 0) throw new Error(`${p}: input "${name}" has rank ${spec.rank}`);
  }
  if (new Set(program.outputs).size !== program.outputs.length) {
    throw new Error(`${p}: duplicate names in outputs [${program.outputs.join(', ')}]`);
  }
}

/**
 * Checks every declared input is present with the declared element type and rank and a
 * consistent length. Inputs the program does not declare are ignored (callers may build
 * one set of runtime inputs for several programs).
 */
export function checkInputs(program: TensorProgram, inputs: RuntimeInputs): void {
  const p = `program "${program.name}"`;
  if (inputs == null || typeof inputs !== 'object') throw new Error(`${p}: inputs must be an object keyed by input name`);
  for (const [name, spec] of Object.entries(program.inputs)) {
    const h = inputs[name];
    if (h === undefined) {
      const given = Object.keys(inputs);
      throw new Error(`${p}: missing input "${name}" (${spec.dtype}, rank ${spec.rank}); given: ${given.length ? given.map((g) => `"${g}"`).join(', ') : 'none'}`);
    }
    checkHostArray(h, `${p}: input "${name}"`);
    const want = spec.dtype === 'f32' ? Float32Array : Int32Array;
    if (!(h.data instanceof want)) {
      throw new Error(`${p}: input "${name}" must be ${spec.dtype} (${want.name}), got ${describeData(h.data)}`);
    }
    if (h.shape.length !== spec.rank) {
      throw new Error(`${p}: input "${name}" must have rank ${spec.rank}, got shape ${fmtShape(h.shape)}`);
    }
  }
}

/** The outputs to return: all declared ones by default; unknown names are an error. */
export function resolveOutputs(program: TensorProgram, requested?: string[]): string[] {
  if (requested === undefined) return program.outputs.slice();
  for (const name of requested) {
    if (!program.outputs.includes(name)) {
      throw new Error(`program "${program.name}": unknown output "${name}" (outputs: ${program.outputs.join(', ')})`);
    }
  }
  return [...new Set(requested)];
}

/**
 * Collects `ops.output` calls during one eager run and checks them: each name declared
 * and produced once, every requested one produced.
 */
export class OutputCollector<T> {
  private readonly got = new Map<string, T>();

  constructor(
    private readonly program: TensorProgram,
    private readonly wanted: readonly string[],
  ) {}

  add(name: string, x: T): void {
    const p = `program "${this.program.name}"`;
    if (!this.program.outputs.includes(name)) {
      throw new Error(`${p}: fn produced output "${name}", which is not declared in outputs [${this.program.outputs.join(', ')}]`);
    }
    if (this.got.has(name)) throw new Error(`${p}: output "${name}" produced twice`);
    this.got.set(name, x);
  }

  /** Whether `name` is among the requested outputs (others need not be read back). */
  isWanted(name: string): boolean {
    return this.wanted.includes(name);
  }

  /** The requested outputs in request order; throws if fn did not produce one. */
  finish(): Array<[string, T]> {
    return this.wanted.map((name) => {
      const x = this.got.get(name);
      if (x === undefined) throw new Error(`program "${this.program.name}": fn did not produce output "${name}"`);
      return [name, x];
    });
  }
}

export function unknownParam(program: TensorProgram, name: string): Error {
  return new Error(`program "${program.name}": fn reads param "${name}", which is not in program.params`);
}

export function undeclaredInput(program: TensorProgram, name: string): Error {
  return new Error(`program "${program.name}": fn reads input "${name}", which is not declared in program.inputs`);
}

function describeData(d: unknown): string {
  if (d == null) return String(d);
  if (ArrayBuffer.isView(d)) return d.constructor.name;
  if (Array.isArray(d)) return 'a plain Array';
  return typeof d;
}

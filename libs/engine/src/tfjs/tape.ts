/**
 * A program's op calls recorded once as a tape, so the tfjs engine can run them with
 * every intermediate freed right after its last use.
 *
 * Why: run eagerly inside one tf.tidy, a model keeps every intermediate of every layer
 * alive until the end (a GPT-2-small forward at 8 x 256 needs > 4 GB, past the wasm32
 * heap; on tfjs-node-gpu the same waste is GPU memory). The Ops contract (whole-tensor
 * ops, no reading values, no data-dependent control flow) makes a program's sequence of
 * op calls the same on every run, as the onnx engine's traced graph relies on too, so
 * one recording tells when each value is used for the last time.
 */
import type { Ops, TensorProgram } from '../ops.js';

/** A value on the tape: the result of step `id` (params and inputs are steps too). */
export class TapeValue {
  constructor(readonly id: number) {}
}

/** An argument as recorded: a tape value, a list (concatLast), or a host value as is. */
export type TapeArg = TapeValue | TapeArg[] | string | number | boolean | null | undefined | readonly number[];

export type TapeStep =
  | { kind: 'param'; id: number; name: string }
  | { kind: 'input'; id: number; name: string }
  | { kind: 'op'; id: number; method: string; args: TapeArg[] };

export interface Tape {
  steps: TapeStep[];
  /** [output name, value id] in the order the program marked them. */
  outputs: [string, number][];
}

/** Runs `program.fn` against a recorder and returns what it did. */
export function recordTape(program: TensorProgram): Tape {
  const steps: TapeStep[] = [];
  const outputs: [string, number][] = [];
  const valueOf = (x: unknown, method: string): TapeValue => {
    if (!(x instanceof TapeValue)) throw new Error(`program "${program.name}": ${method} got ${String(x)}, not a value of this program`);
    return x;
  };
  const add = (make: (id: number) => TapeStep): TapeValue => {
    const id = steps.length;
    steps.push(make(id));
    return new TapeValue(id);
  };
  const recorder = new Proxy({} as Ops<TapeValue>, {
    get(_, method) {
      if (typeof method !== 'string') return undefined;
      if (method === 'param' || method === 'input') return (name: string) => add((id) => ({ kind: method, id, name }));
      if (method === 'output') return (name: string, x: unknown) => { outputs.push([name, valueOf(x, 'output').id]); };
      return (...args: TapeArg[]) => add((id) => ({ kind: 'op', id, method, args }));
    },
  });
  program.fn(recorder);
  return { steps, outputs };
}

/** Ids of the values an argument refers to. */
export function argValueIds(arg: TapeArg, into: number[] = []): number[] {
  if (arg instanceof TapeValue) into.push(arg.id);
  else if (Array.isArray(arg)) for (const a of arg) argValueIds(a as TapeArg, into);
  return into;
}

export interface TapePlan {
  /** Every recorded step, in order (a step no output needs still runs: its errors show). */
  steps: TapeStep[];
  /** step index -> ids of values used there for the last time (or made there and never used). */
  lastUses: Map<number, number[]>;
}

/**
 * After which step each value is dead. The wanted outputs never are (the caller reads
 * them at the end); a value nothing reads dies right where it is made.
 */
export function planTape(tape: Tape, wanted: readonly string[]): TapePlan {
  const wantedIds = new Set(tape.outputs.filter(([name]) => wanted.includes(name)).map(([, id]) => id));
  const last = new Map<number, number>();
  tape.steps.forEach((s, i) => {
    last.set(s.id, i);
    if (s.kind === 'op') for (const a of s.args) for (const id of argValueIds(a)) last.set(id, i);
  });
  const lastUses = new Map<number, number[]>();
  for (const [id, i] of last) {
    if (wantedIds.has(id)) continue;
    const list = lastUses.get(i) ?? [];
    list.push(id);
    lastUses.set(i, list);
  }
  return { steps: tape.steps, lastUses };
}

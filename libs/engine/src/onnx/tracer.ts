import type { Ops, TensorProgram } from '../ops.js';
import { isStoredParam, type StoredParam } from '../storedParam.js';
import type { AttrValue, ElemType, IrGraph, IrInitializer, IrNode, IrOutput } from './graph.js';

/** A dim known while tracing (from a weight's shape or a reshape constant), or null. */
export type Dim = number | null;

/**
 * A symbolic value of the graph being traced. `shape` has the true rank; dims are known
 * only where the trace can see them (weights, reshape targets) and null otherwise, since
 * batch and sequence sizes are dynamic. Known dims are used for early, readable errors.
 */
export interface Sym {
  readonly name: string;
  readonly dtype: ElemType;
  readonly shape: readonly Dim[];
  /** Set when the value is a weight: lets ops fold host-side work into a new initializer. */
  readonly param?: string;
  /** For a weight left in its checkpoint (StoredParam, as stored): the raw initializer, for ops that can read it directly (embedding's Gather). */
  readonly stored?: { name: string; dtype: ElemType };
}

/** The ONNX opset: 20 has LayerNormalization (17), Gelu with `approximate` (20), axes as inputs (Slice/Unsqueeze 13, ReduceMean 18). */
export const ONNX_OPSET = 20;

const bytesOf = (a: Float32Array | Int32Array | BigInt64Array): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const product = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);

/**
 * Traces an `Ops` function into an ONNX graph (see `graph.ts`). Every op appends nodes
 * in call order and returns a fresh `Sym`; names are deterministic (`n<index>:<Op>` for
 * nodes, `v<index>:<Op>` for values), so tracing the same program twice gives the same
 * graph. Weights are referenced, not copied.
 */
export class OnnxTracer implements Ops<Sym> {
  private readonly nodes: IrNode[] = [];
  private readonly initializers = new Map<string, IrInitializer>();
  private readonly inputs = new Map<string, Sym>();
  private readonly params = new Map<string, Sym>();
  private readonly outputs = new Map<string, IrOutput>();
  /** Names chosen by the program (weights, inputs, outputs): generated names must avoid them. */
  private readonly reserved: Set<string>;
  /**
   * The value most recently computed from the program's inputs: a stored weight's
   * widening is made to wait for it (see `storedParam`). Undefined before any input is read.
   */
  private frontier?: Sym;
  /** Widened views of stored weights, by param name and frontier (one per layer, not per use). */
  private readonly storedViews = new Map<string, Sym>();

  constructor(private readonly program: Pick<TensorProgram, 'name' | 'params' | 'inputs' | 'outputs'>) {
    this.reserved = new Set([...program.params.keys(), ...Object.keys(program.inputs), ...program.outputs]);
  }

  /** Runs `program.fn` on a fresh tracer and returns the whole graph. */
  static trace(program: TensorProgram): IrGraph {
    const tracer = new OnnxTracer(program);
    program.fn(tracer);
    return tracer.finish();
  }

  /** The traced graph; outputs in the program's declared order. Throws if one was never produced. */
  finish(): IrGraph {
    const missing = this.program.outputs.filter((o) => !this.outputs.has(o));
    if (missing.length) throw new Error(`program '${this.program.name}' never produced output(s): ${missing.join(', ')}`);
    return {
      nodes: withoutOutputCopies(this.nodes, [...this.outputs.values()]),
      initializers: new Map(this.initializers),
      inputs: [...this.inputs.values()].map((s) => ({ name: s.name, dtype: s.dtype, rank: s.shape.length })),
      outputs: this.program.outputs.map((o) => this.outputs.get(o)!),
    };
  }

  // ---- graph building helpers -------------------------------------------------------

  /** Appends one single-output node and returns its value. */
  private node(opType: string, inputs: (Sym | string)[], attributes: Record<string, AttrValue>, dtype: ElemType, shape: readonly Dim[], outName?: string): Sym {
    const index = this.nodes.length;
    const name = outName ?? this.fresh(`v${index}:${opType}`);
    this.nodes.push({
      name: `n${index}:${opType}`,
      opType,
      domain: '',
      inputs: inputs.map((i) => (typeof i === 'string' ? i : i.name)),
      outputs: [name],
      attributes,
    });
    const value: Sym = { name, dtype, shape };
    if (!this.buildingWeight && dtype === 'f32') this.frontier = value;
    return value;
  }

  /** True while nodes that prepare a stored weight are emitted: they are not activations. */
  private buildingWeight = false;

  private fresh(base: string): string {
    let name = base;
    // Generated names use prefixes of their own ('v<i>:', 'const:', '<param>+1'), so only
    // the program's own names can collide with them.
    for (let k = 1; this.reserved.has(name); k++) name = `${base}#${k}`;
    return name;
  }

  /** A shared int64 constant (shapes, axes, slice bounds), deduplicated by value. */
  private constI64(values: number[]): string {
    const name = this.fresh(`const:i64[${values.join(',')}]`);
    if (!this.initializers.has(name)) {
      const data = BigInt64Array.from(values, (v) => BigInt(v));
      this.initializers.set(name, { name, dtype: 'i64', dims: [values.length], bytes: bytesOf(data) });
    }
    return name;
  }

  /** A shared int32 constant [0, 1, ..., n-1] (oneHot's column ids). */
  private constI32Range(n: number): string {
    const name = this.fresh(`const:i32range(${n})`);
    if (!this.initializers.has(name)) {
      const data = Int32Array.from({ length: n }, (_, i) => i);
      this.initializers.set(name, { name, dtype: 'i32', dims: [n], bytes: bytesOf(data) });
    }
    return name;
  }

  /** A shared f32 scalar constant, deduplicated by its f32 value. */
  private constF32(value: number): string {
    const v = Math.fround(value);
    const name = this.fresh(`const:f32(${Object.is(v, -0) ? '-0' : v})`);
    if (!this.initializers.has(name)) {
      this.initializers.set(name, { name, dtype: 'f32', dims: [], bytes: bytesOf(Float32Array.of(v)) });
    }
    return name;
  }

  private requireF32(op: string, ...xs: Sym[]): void {
    for (const x of xs) if (x.dtype !== 'f32') throw new Error(`${op}: expected an f32 value, got ${x.dtype} '${x.name}'`);
  }

  private requireRank(op: string, x: Sym, min: number): void {
    if (x.shape.length < min) throw new Error(`${op}: '${x.name}' has rank ${x.shape.length}, needs at least ${min}`);
  }

  // ---- leaves -------------------------------------------------------------------

  param(name: string): Sym {
    const host = this.program.params.get(name);
    if (host && isStoredParam(host)) return this.storedParam(name, host);
    const seen = this.params.get(name);
    if (seen) return seen;
    if (!host) throw new Error(`program '${this.program.name}' reads unknown param '${name}'`);
    if (host.data.length !== product(host.shape)) {
      throw new Error(`param '${name}': shape [${host.shape}] needs ${product(host.shape)} values, data has ${host.data.length}`);
    }
    const dtype: ElemType = host.data instanceof Float32Array ? 'f32' : 'i32';
    // ONNX has one namespace, and an initializer named like a graph input would become
    // that input's default value: a weight sharing a name with an input or output is renamed.
    const clash = name in this.program.inputs || this.program.outputs.includes(name);
    const value = clash ? this.fresh(`param:${name}`) : name;
    this.initializers.set(value, { name: value, dtype, dims: host.shape.slice(), bytes: bytesOf(host.data) });
    const sym: Sym = { name: value, dtype, shape: host.shape.slice(), param: name };
    this.params.set(name, sym);
    return sym;
  }

  input(name: string): Sym {
    const seen = this.inputs.get(name);
    if (seen) return seen;
    const spec = this.program.inputs[name];
    if (!spec) throw new Error(`program '${this.program.name}' reads undeclared input '${name}'`);
    const sym: Sym = { name, dtype: spec.dtype, shape: new Array<Dim>(spec.rank).fill(null) };
    this.inputs.set(name, sym);
    this.frontier ??= sym;
    return sym;
  }

  /**
   * A weight left in its checkpoint file (StoredParam): an external initializer pointing at
   * the tensor's bytes in its stored dtype, and, for matrices, a view made at run time:
   *
   *   Reshape(W, shape + 0 * min(Shape(frontier)))  ->  Cast to f32  ->  Transpose / Slice
   *
   * The Reshape is a no-op whose shape depends on the value computed last (the layer's
   * input, since architectures read a layer's weights as they build it). That dependency
   * is the point: onnxruntime cannot constant-fold the Cast (which would widen every
   * weight to f32 at load, 2x the checkpoint) nor prepack the matrix (another copy), and
   * its topological order cannot widen all layers' weights at the start of a run: each
   * layer's f32 weights exist only while that layer runs. Vectors (norms, biases) are
   * small: cast once, which onnxruntime folds into a small f32 constant.
   */
  private storedParam(name: string, p: StoredParam): Sym {
    const raw = this.storedInitializer(p);
    const matrix = p.location.shape.length >= 2 || p.layout.kind !== 'asStored';
    const gate = matrix ? this.frontier : undefined;
    const key = `${name}\0${gate?.name ?? ''}`;
    const seen = this.storedViews.get(key);
    if (seen) return seen;
    this.buildingWeight = true;
    try {
      let v: Sym = { name: raw.name, dtype: raw.dtype, shape: p.location.shape };
      if (gate) {
        const gateShape = this.node('Shape', [gate], {}, 'i64', [gate.shape.length]);
        const gateMin = this.node('ReduceMin', [gateShape], { keepdims: { kind: 'int', value: 1 } }, 'i64', [1]);
        const zero = this.node('Mul', [gateMin, this.constI64([0])], {}, 'i64', [1]);
        const shape = this.node('Add', [this.constI64(p.location.shape), zero], {}, 'i64', [p.location.shape.length]);
        v = this.node('Reshape', [v, shape], {}, raw.dtype, p.location.shape);
      }
      if (raw.dtype !== 'f32') v = this.node('Cast', [v], { to: { kind: 'int', value: 1 } }, 'f32', v.shape);
      if (p.layout.kind === 'rowsTransposed') {
        const { start, count } = p.layout;
        v = this.node('Slice', [v, this.constI64([start]), this.constI64([start + count]), this.constI64([0])], {}, 'f32', [count, p.shape[0]]);
        v = this.node('Transpose', [v], { perm: { kind: 'ints', value: [1, 0] } }, 'f32', p.shape);
      } else if (p.layout.kind === 'transpose') {
        v = this.node('Transpose', [v], { perm: { kind: 'ints', value: [1, 0] } }, 'f32', p.shape);
      } else if (p.layout.kind === 'columns') {
        const width = p.shape[1];
        const from = this.constI64([p.layout.index * width]), to = this.constI64([(p.layout.index + 1) * width]);
        v = this.node('Slice', [v, from, to, this.constI64([1])], {}, 'f32', p.shape);
      }
      const sym: Sym = { name: v.name, dtype: 'f32', shape: p.shape, param: name, stored: p.layout.kind === 'asStored' ? raw : undefined };
      this.storedViews.set(key, sym);
      return sym;
    } finally {
      this.buildingWeight = false;
    }
  }

  /** The external initializer of a stored weight, one per tensor of the file (views share it). */
  private storedInitializer(p: StoredParam): { name: string; dtype: ElemType } {
    const { file, offset, dtype, shape } = p.location;
    const value = this.fresh(`stored:${file.slice(file.lastIndexOf('/') + 1)}@${offset}`);
    const elem: ElemType = dtype === 'F32' ? 'f32' : dtype === 'F16' ? 'f16' : 'bf16';
    if (!this.initializers.has(value)) {
      this.initializers.set(value, { name: value, dtype: elem, dims: shape.slice(), bytes: new Uint8Array(0), external: { file, offset, length: p.storedBytes } });
    }
    return { name: value, dtype: elem };
  }

  output(name: string, x: Sym): void {
    if (!this.program.outputs.includes(name)) throw new Error(`program '${this.program.name}' outputs undeclared '${name}'`);
    if (this.outputs.has(name)) throw new Error(`output '${name}' produced twice`);
    // A node that writes the output name keeps the program's name stable whatever produced
    // x (even a weight or an input); ORT removes the Identity when optimising. Engines
    // return f32 only, so i32 values are cast here rather than on the host. An output
    // named like an input or weight gets its own graph name (one ONNX namespace).
    const clash = name in this.program.inputs || this.program.params.has(name);
    const value = clash ? this.fresh(`out:${name}`) : name;
    const out = x.dtype === 'f32'
      ? this.node('Identity', [x], {}, 'f32', x.shape, value)
      : this.node('Cast', [x], { to: { kind: 'int', value: 1 } }, 'f32', x.shape, value);
    this.outputs.set(name, { name, value, dtype: out.dtype, rank: out.shape.length });
  }

  // ---- elementwise --------------------------------------------------------------

  private binary(op: 'Add' | 'Sub' | 'Mul', a: Sym, b: Sym): Sym {
    this.requireF32(op, a, b);
    return this.node(op, [a, b], {}, 'f32', broadcastShapes(op, a, b));
  }

  add(a: Sym, b: Sym): Sym { return this.binary('Add', a, b); }
  sub(a: Sym, b: Sym): Sym { return this.binary('Sub', a, b); }
  mul(a: Sym, b: Sym): Sym { return this.binary('Mul', a, b); }

  scale(a: Sym, s: number): Sym {
    this.requireF32('scale', a);
    return this.node('Mul', [a, this.constF32(s)], {}, 'f32', a.shape);
  }

  neg(a: Sym): Sym {
    this.requireF32('neg', a);
    return this.node('Neg', [a], {}, 'f32', a.shape);
  }

  gelu(a: Sym, approximate: 'tanh' | 'erf'): Sym {
    this.requireF32('gelu', a);
    const mode = approximate === 'tanh' ? 'tanh' : 'none';
    return this.node('Gelu', [a], { approximate: { kind: 'string', value: mode } }, 'f32', a.shape);
  }

  silu(a: Sym): Sym {
    this.requireF32('silu', a);
    const sig = this.node('Sigmoid', [a], {}, 'f32', a.shape);
    return this.node('Mul', [a, sig], {}, 'f32', a.shape);
  }

  relu(a: Sym): Sym {
    this.requireF32('relu', a);
    return this.node('Relu', [a], {}, 'f32', a.shape);
  }

  // ---- normalisation ------------------------------------------------------------

  layerNorm(x: Sym, w: Sym, b: Sym | null, eps: number): Sym {
    this.requireF32('layerNorm', x, w, ...(b ? [b] : []));
    this.requireRank('layerNorm', x, 1);
    // B is an optional input of LayerNormalization, so no zeros tensor is needed.
    // stash_type 1 = accumulate mean and variance in f32.
    const attrs: Record<string, AttrValue> = {
      axis: { kind: 'int', value: -1 },
      epsilon: { kind: 'float', value: eps },
      stash_type: { kind: 'int', value: 1 },
    };
    return this.node('LayerNormalization', b ? [x, w, b] : [x, w], attrs, 'f32', x.shape);
  }

  rmsNorm(x: Sym, w: Sym, eps: number, plusOne: boolean): Sym {
    this.requireF32('rmsNorm', x, w);
    this.requireRank('rmsNorm', x, 1);
    // Standard ops in the exact pattern ORT's SimplifiedLayerNormFusion recognises
    // (Pow -> ReduceMean -> Add -> Sqrt -> Div -> Mul), so it runs as one fused kernel
    // while the unoptimised graph stays plain, portable ONNX.
    const sq = this.node('Pow', [x, this.constF32(2)], {}, 'f32', x.shape);
    const meanShape = [...x.shape.slice(0, -1), 1];
    const ms = this.node('ReduceMean', [sq, this.constI64([-1])], { keepdims: { kind: 'int', value: 1 } }, 'f32', meanShape);
    const msEps = this.node('Add', [ms, this.constF32(eps)], {}, 'f32', meanShape);
    const rms = this.node('Sqrt', [msEps], {}, 'f32', meanShape);
    const normed = this.node('Div', [x, rms], {}, 'f32', x.shape);
    const weight = plusOne ? this.plusOne(w) : w;
    return this.node('Mul', [normed, weight], {}, 'f32', broadcastShapes('rmsNorm', normed, weight));
  }

  /** 1 + w: a new initializer computed on the host when w is a weight, else an Add node. */
  private plusOne(w: Sym): Sym {
    if (!w.param) return this.node('Add', [w, this.constF32(1)], {}, 'f32', w.shape);
    const name = this.fresh(`${w.param}+1`);
    if (!this.initializers.has(name)) {
      const src = this.program.params.get(w.param)!.data;
      const data = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) data[i] = 1 + src[i];
      this.initializers.set(name, { name, dtype: 'f32', dims: w.shape as number[], bytes: bytesOf(data) });
    }
    return { name, dtype: 'f32', shape: w.shape };
  }

  softmax(x: Sym): Sym {
    this.requireF32('softmax', x);
    return this.node('Softmax', [x], { axis: { kind: 'int', value: -1 } }, 'f32', x.shape);
  }

  logSoftmax(x: Sym): Sym {
    this.requireF32('logSoftmax', x);
    return this.node('LogSoftmax', [x], { axis: { kind: 'int', value: -1 } }, 'f32', x.shape);
  }

  exp(a: Sym): Sym {
    this.requireF32('exp', a);
    return this.node('Exp', [a], {}, 'f32', a.shape);
  }

  rsqrt(a: Sym): Sym {
    this.requireF32('rsqrt', a);
    return this.node('Reciprocal', [this.node('Sqrt', [a], {}, 'f32', a.shape)], {}, 'f32', a.shape);
  }

  addScalar(a: Sym, s: number): Sym {
    this.requireF32('addScalar', a);
    return this.node('Add', [a, this.constF32(s)], {}, 'f32', a.shape);
  }

  sumLast(x: Sym): Sym {
    this.requireF32('sumLast', x);
    this.requireRank('sumLast', x, 1);
    return this.node('ReduceSum', [x, this.constI64([-1])], { keepdims: { kind: 'int', value: 1 } }, 'f32', [...x.shape.slice(0, -1), 1]);
  }

  meanLast(x: Sym): Sym {
    this.requireF32('meanLast', x);
    this.requireRank('meanLast', x, 1);
    return this.node('ReduceMean', [x, this.constI64([-1])], { keepdims: { kind: 'int', value: 1 } }, 'f32', [...x.shape.slice(0, -1), 1]);
  }

  sumRows(x: Sym): Sym {
    this.requireF32('sumRows', x);
    this.requireRank('sumRows', x, 1);
    const axes = Array.from({ length: x.shape.length - 1 }, (_, i) => i);
    if (axes.length === 0) return x;
    return this.node('ReduceSum', [x, this.constI64(axes)], { keepdims: { kind: 'int', value: 0 } }, 'f32', [x.shape[x.shape.length - 1]]);
  }

  sumAll(x: Sym): Sym {
    this.requireF32('sumAll', x);
    // ReduceSum without axes reduces everything; keepdims 0 gives a scalar.
    return this.node('ReduceSum', [x], { keepdims: { kind: 'int', value: 0 } }, 'f32', []);
  }

  oneHot(ids: Sym, depth: number): Sym {
    if (ids.dtype !== 'i32') throw new Error(`oneHot: ids '${ids.name}' must be i32, got ${ids.dtype}`);
    if (!Number.isInteger(depth) || depth < 1) throw new Error(`oneHot: depth must be a positive integer, got ${depth}`);
    // Equal(Unsqueeze(ids, -1), Range(0, depth)) broadcasts to [..., depth]; out-of-range
    // ids match nothing (ONNX OneHot would wrap negative ids instead).
    const col = this.node('Unsqueeze', [ids, this.constI64([-1])], {}, 'i32', [...ids.shape, 1]);
    const range = this.constI32Range(depth);
    const eq = this.node('Equal', [col, range], {}, 'bool', [...ids.shape, depth]);
    return this.node('Cast', [eq], { to: { kind: 'int', value: 1 } }, 'f32', [...ids.shape, depth]);
  }

  // ---- linear algebra -----------------------------------------------------------

  linear(x: Sym, w: Sym, b: Sym | null): Sym {
    this.requireF32('linear', x, w, ...(b ? [b] : []));
    if (w.shape.length !== 2) throw new Error(`linear: weight '${w.name}' must be [in, out], has rank ${w.shape.length}`);
    this.requireRank('linear', x, 1);
    const [k, n] = w.shape;
    const kx = x.shape[x.shape.length - 1];
    if (kx !== null && k !== null && kx !== k) throw new Error(`linear: inner dims differ: [${x.shape}] @ [${w.shape}] ('${x.name}', '${w.name}')`);
    if (b && x.shape.length >= 2) return this.gemmWithBias(x, w, b);
    // MatMul of [..., in] by a 2D weight keeps the leading dims (also for a rank-1 x).
    const y = this.node('MatMul', [x, w], {}, 'f32', [...x.shape.slice(0, -1), n]);
    return b ? this.add(y, b) : y;
  }

  /**
   * x [..., in] @ w [in, out] + b [out] as one Gemm on x viewed as [rows, in]: the bias is
   * added inside the GEMM (MLAS starts from C = b, beta 1) instead of in a separate pass
   * over the output. ORT fuses MatMul + Add into Gemm only when it can see rank 2 with
   * static shapes, which our dynamic [B, T, in] values never are. Same sums as MatMul then
   * Add: each output is fl(dot + b).
   */
  private gemmWithBias(x: Sym, w: Sym, b: Sym): Sym {
    const [k, n] = w.shape;
    const lead = x.shape.slice(0, -1);
    const rows: Dim = lead.every((d): d is number => d !== null) ? product(lead) : null;
    // [-1, in]; when `in` is not known at trace time (a weight fed as an input), from x's
    // shape at run time.
    const flat = k !== null ? this.constI64([-1, k])
      : this.node('Concat', [this.constI64([-1]), this.node('Shape', [x], { start: { kind: 'int', value: -1 } }, 'i64', [1])], { axis: { kind: 'int', value: 0 } }, 'i64', [2]);
    const x2 = x.shape.length === 2 ? x : this.node('Reshape', [x, flat], {}, 'f32', [rows, k]);
    const y2 = this.node('Gemm', [x2, w, b], {}, 'f32', [rows, n]);
    if (x.shape.length === 2) return y2;
    // Back to [..., out]: the leading dims of x at run time, then `out`.
    const leadDims = this.node('Shape', [x], { end: { kind: 'int', value: -1 } }, 'i64', [lead.length]);
    const target = this.node('Concat', [leadDims, this.constI64([n ?? -1])], { axis: { kind: 'int', value: 0 } }, 'i64', [lead.length + 1]);
    return this.node('Reshape', [y2, target], {}, 'f32', [...lead, n]);
  }

  matmul(a: Sym, b: Sym): Sym {
    this.requireF32('matmul', a, b);
    return this.node('MatMul', [a, b], {}, 'f32', matmulShape('matmul', a.shape, b.shape));
  }

  matmulTransposeB(a: Sym, b: Sym): Sym {
    this.requireF32('matmulTransposeB', a, b);
    this.requireRank('matmulTransposeB', b, 2);
    // ORT's MatMulTransposeFusion folds this Transpose into the MatMul (FusedMatMul transB).
    const r = b.shape.length;
    const perm = [...Array(r - 2).keys(), r - 1, r - 2];
    const bt = this.transpose(b, perm);
    return this.node('MatMul', [a, bt], {}, 'f32', matmulShape('matmulTransposeB', a.shape, bt.shape));
  }

  causalAttention(q: Sym, k: Sym, v: Sym, bias: Sym, scale: number): Sym {
    this.requireF32('causalAttention', q, k, v, bias);
    this.requireRank('causalAttention', q, 2);
    this.requireRank('causalAttention', bias, 2);
    const axis = q.shape.length - 2;
    // Row blocks r = 0..n-1 over [e_r, e_(r+1)) with e_r = floor(r T / n), computed at run
    // time. Queries i < e_(r+1) see only keys j < e_(r+1) (the bias masks every j > i), so
    // block r multiplies its rows by the key prefix [0, e_(r+1)) instead of all T keys:
    // the all-masked blocks above the diagonal are never computed. That saves score GEMM
    // work and, more, masked entries, whose exp() underflows through denormals and costs
    // ORT's Softmax twice as much as the rest. Same math: exp(-inf) = 0 terms drop out of
    // each row's sum.
    const { edges, biasRows } = this.causalBlocks(bias);
    const end = (r: number) => edges[r + 1] ?? this.constI64([Number.MAX_SAFE_INTEGER]);
    const rows = (x: Sym, from: Sym | string, to: Sym | string) =>
      this.node('Slice', [x, from, to, this.constI64([axis])], {}, 'f32', [...x.shape.slice(0, axis), null, x.shape[axis + 1]]);
    const blocks: Sym[] = [];
    for (let r = 0; r < edges.length; r++) {
      const last = r === edges.length - 1;
      // The last block reads every key: k and v as they are, no prefix copy.
      const kr = last ? k : rows(k, edges[0], end(r));
      const vr = last ? v : rows(v, edges[0], end(r));
      const scores = this.add(this.matmulTransposeB(this.scale(rows(q, edges[r], end(r)), scale), kr), biasRows[r]);
      blocks.push(this.matmul(this.softmax(scores), vr));
    }
    return this.node('Concat', blocks, { axis: { kind: 'int', value: axis } }, 'f32', [...q.shape.slice(0, axis), q.shape[axis], v.shape[v.shape.length - 1]]);
  }

  /**
   * Row blocks of `causalAttention`. More blocks skip more masked work but add slices of
   * q, k, v; on GPT-2 small (T 256) 4 blocks ran ~4% faster per forward than 2, and 8 no
   * faster than 4 (paired CPU time, src/forwardAB.ts of tools/bench).
   */
  static readonly CAUSAL_BLOCKS = 4;
  private readonly causalBlockCache = new Map<string, { edges: Sym[]; biasRows: Sym[] }>();

  /**
   * The block edges e_0..e_(n-1) ([1] i64 each, e_0 = 0) from the bias's T, and the bias
   * rows of each block cut to its key prefix ([..., e_(r+1) - e_r, e_(r+1)], the last two
   * axes of a bias [..., T, T]). Made once per bias value: every layer reads the same
   * bias, so the layers share these nodes.
   */
  private causalBlocks(bias: Sym): { edges: Sym[]; biasRows: Sym[] } {
    const seen = this.causalBlockCache.get(bias.name);
    if (seen) return seen;
    const n = OnnxTracer.CAUSAL_BLOCKS;
    const seqLen = this.node('Shape', [bias], { start: { kind: 'int', value: -1 } }, 'i64', [1]);
    const lead = bias.shape.slice(0, -2);
    const zero: Sym = { name: this.constI64([0]), dtype: 'i64', shape: [1] };
    const edges = [zero];
    for (let r = 1; r < n; r++) {
      const scaled = this.node('Mul', [seqLen, this.constI64([r])], {}, 'i64', [1]);
      edges.push(this.node('Div', [scaled, this.constI64([n])], {}, 'i64', [1]));
    }
    const biasRows = edges.map((from, r) => {
      const to = edges[r + 1];
      if (!to) return this.node('Slice', [bias, from, this.constI64([Number.MAX_SAFE_INTEGER]), this.constI64([-2])], {}, 'f32', [...lead, null, bias.shape.at(-1)!]);
      const starts = this.node('Concat', [from, zero], { axis: { kind: 'int', value: 0 } }, 'i64', [2]);
      const ends = this.node('Concat', [to, to], { axis: { kind: 'int', value: 0 } }, 'i64', [2]);
      return this.node('Slice', [bias, starts, ends, this.constI64([-2, -1])], {}, 'f32', [...lead, null, null]);
    });
    const blocks = { edges, biasRows };
    this.causalBlockCache.set(bias.name, blocks);
    return blocks;
  }

  embedding(table: Sym, ids: Sym): Sym {
    this.requireF32('embedding', table);
    if (ids.dtype !== 'i32') throw new Error(`embedding: ids '${ids.name}' must be i32, got ${ids.dtype}`);
    if (table.shape.length !== 2) throw new Error(`embedding: table '${table.name}' must be [V, D], has rank ${table.shape.length}`);
    const shape = [...ids.shape, table.shape[1]];
    // A table left in its checkpoint: gather the rows in the stored dtype, then widen only them.
    if (table.stored) {
      const rows = this.node('Gather', [table.stored.name, ids], { axis: { kind: 'int', value: 0 } }, table.stored.dtype, shape);
      return table.stored.dtype === 'f32' ? rows : this.node('Cast', [rows], { to: { kind: 'int', value: 1 } }, 'f32', shape);
    }
    return this.node('Gather', [table, ids], { axis: { kind: 'int', value: 0 } }, 'f32', shape);
  }

  // ---- shapes -------------------------------------------------------------------

  reshapeTail(x: Sym, keep: number, tail: number[]): Sym {
    const rank = x.shape.length;
    if (!Number.isInteger(keep) || keep < 0 || keep > rank) throw new Error(`reshapeTail: keep=${keep} out of range for rank ${rank}`);
    if (tail.some((d) => !Number.isInteger(d) || d === 0 || d < -1) || tail.filter((d) => d === -1).length > 1) {
      throw new Error(`reshapeTail: tail [${tail}] must be positive dims with at most one -1`);
    }
    // In ONNX Reshape (allowzero=0) a 0 copies the input dim at the same index: exactly
    // "keep the leading dims" without naming the batch or sequence length.
    const target = [...new Array<number>(keep).fill(0), ...tail];
    const shape: Dim[] = [...x.shape.slice(0, keep), ...tail.map((d): Dim => (d === -1 ? null : d))];
    const replaced = x.shape.slice(keep);
    if (replaced.every((d): d is number => d !== null)) {
      const have = product(replaced);
      const fixed = product(tail.filter((d) => d !== -1));
      const inferred = tail.includes(-1);
      if (inferred ? have % fixed !== 0 : have !== fixed) {
        throw new Error(`reshapeTail: cannot re-cut [${replaced}] into [${tail}]`);
      }
      if (inferred) shape[keep + tail.indexOf(-1)] = have / fixed;
    }
    return this.node('Reshape', [x, this.constI64(target)], {}, x.dtype, shape);
  }

  transpose(x: Sym, perm: number[]): Sym {
    const rank = x.shape.length;
    const sorted = [...perm].sort((p, q) => p - q);
    if (perm.length !== rank || sorted.some((p, i) => p !== i)) throw new Error(`transpose: perm [${perm}] is not a permutation of rank ${rank}`);
    return this.node('Transpose', [x], { perm: { kind: 'ints', value: perm } }, x.dtype, perm.map((p) => x.shape[p]));
  }

  sliceLast(x: Sym, start: number, end: number): Sym {
    this.requireRank('sliceLast', x, 1);
    const last = x.shape[x.shape.length - 1];
    let dim: Dim = null;
    if (last !== null) {
      const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + last : i, 0), last);
      dim = Math.max(clamp(end) - clamp(start), 0);
    }
    return this.node('Slice', [x, this.constI64([start]), this.constI64([end]), this.constI64([-1])], {}, x.dtype, [...x.shape.slice(0, -1), dim]);
  }

  concatLast(xs: Sym[]): Sym {
    if (xs.length === 0) throw new Error('concatLast: needs at least one value');
    if (xs.length === 1) return xs[0];
    const rank = xs[0].shape.length;
    this.requireRank('concatLast', xs[0], 1);
    for (const x of xs) {
      if (x.shape.length !== rank || x.dtype !== xs[0].dtype) throw new Error(`concatLast: '${x.name}' does not match rank ${rank} ${xs[0].dtype}`);
    }
    const lasts = xs.map((x) => x.shape[rank - 1]);
    const last = lasts.every((d): d is number => d !== null) ? lasts.reduce((p, d) => p + d, 0) : null;
    return this.node('Concat', xs, { axis: { kind: 'int', value: -1 } }, xs[0].dtype, [...xs[0].shape.slice(0, -1), last]);
  }

  repeatHeads(x: Sym, n: number): Sym {
    if (x.shape.length !== 4) throw new Error(`repeatHeads: '${x.name}' must be [B, Hkv, T, Dh], has rank ${x.shape.length}`);
    if (!Number.isInteger(n) || n < 1) throw new Error(`repeatHeads: n=${n} must be a positive integer`);
    if (n === 1) return x;
    const [b, h, t, d] = x.shape;
    // [B, Hkv, T, Dh] -> [B, Hkv, 1, T, Dh] -> expand [B, Hkv, n, T, Dh] -> [B, Hkv*n, T, Dh].
    // The target shape is Shape(x) * [1, n, 1, 1] computed at run time: a constant shape
    // cannot say "T" (Reshape's 0 copies the dim at the same index, and index 2 holds n),
    // and allowzero=1 keeps an empty T (or B) exact instead of copying a dim.
    const u = this.node('Unsqueeze', [x, this.constI64([2])], {}, x.dtype, [b, h, 1, t, d]);
    const e = this.node('Expand', [u, this.constI64([1, 1, n, 1, 1])], {}, x.dtype, [b, h, n, t, d]);
    const s = this.node('Shape', [x], {}, 'i64', [4]);
    const target = this.node('Mul', [s, this.constI64([1, n, 1, 1])], {}, 'i64', [4]);
    return this.node('Reshape', [e, target], { allowzero: { kind: 'int', value: 1 } }, x.dtype, [b, h === null ? null : h * n, t, d]);
  }
}

/**
 * The nodes with the output Identity nodes of `output()` folded away where they copy: when
 * the value is made by a node, that node writes the output name directly and its later
 * readers read that name. ORT keeps an Identity whose input has other readers (it cannot
 * rename a value), so each hidden state cost a [B, T, d] copy per call.
 * Identities of weights, inputs, or a value already output under another name stay.
 */
function withoutOutputCopies(nodes: readonly IrNode[], outputs: readonly IrOutput[]): IrNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((v) => producer.set(v, i)));
  const outputValues = new Set(outputs.map((o) => o.value));
  const rename = new Map<string, string>();
  const dropped = new Set<number>();
  for (const o of outputs) {
    const at = producer.get(o.value)!;
    const copy = nodes[at];
    if (copy.opType !== 'Identity') continue;
    const src = copy.inputs[0];
    if (!producer.has(src) || outputValues.has(src) || rename.has(src)) continue;
    rename.set(src, o.value);
    dropped.add(at);
  }
  if (rename.size === 0) return nodes.slice();
  const renamed = (v: string) => rename.get(v) ?? v;
  return nodes
    .filter((_, i) => !dropped.has(i))
    .map((n) => ({ ...n, inputs: n.inputs.map(renamed), outputs: n.outputs.map(renamed) }));
}

/** Numpy broadcasting of known dims; throws on a definite mismatch. */
function broadcastShapes(op: string, a: Sym, b: Sym): Dim[] {
  const rank = Math.max(a.shape.length, b.shape.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.shape.length ? 1 : a.shape[i - (rank - a.shape.length)];
    const db = i < rank - b.shape.length ? 1 : b.shape[i - (rank - b.shape.length)];
    out.push(broadcastDim(op, da, db, () => `[${a.shape}] vs [${b.shape}] ('${a.name}', '${b.name}')`));
  }
  return out;
}

function broadcastDim(op: string, da: Dim, db: Dim, what: () => string): Dim {
  if (da === 1) return db;
  if (db === 1) return da;
  if (da !== null && db !== null && da !== db) throw new Error(`${op}: shapes do not broadcast: ${what()}`);
  return da ?? db;
}

/** Output shape of batched matmul a [..., m, k] @ b [..., k, n]. */
function matmulShape(op: string, a: readonly Dim[], b: readonly Dim[]): Dim[] {
  if (a.length < 2 || b.length < 2) throw new Error(`${op}: operands need rank >= 2, got [${a}] and [${b}]`);
  const ka = a[a.length - 1];
  const kb = b[b.length - 2];
  if (ka !== null && kb !== null && ka !== kb) throw new Error(`${op}: inner dims differ: [${a}] @ [${b}]`);
  const batchA = a.slice(0, -2);
  const batchB = b.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const batch: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - batchA.length ? 1 : batchA[i - (rank - batchA.length)];
    const db = i < rank - batchB.length ? 1 : batchB[i - (rank - batchB.length)];
    batch.push(broadcastDim(op, da, db, () => `[${a}] @ [${b}]`));
  }
  return [...batch, a[a.length - 2], b[b.length - 1]];
}

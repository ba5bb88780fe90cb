/**
 * The engine-neutral op set. Model and lens math is written ONCE as a function of an
 * `Ops<T>` value; each engine supplies its own `T` (a tfjs tensor, or a symbolic value
 * of an ONNX graph being traced) and its own implementation.
 *
 * Rules that keep a model function traceable:
 * - whole-tensor ops only; no reading tensor values, no data-dependent control flow;
 * - every shape-dependent constant (positions, causal mask, rotary tables) arrives as an
 *   `input` built on the host per call (see `RuntimeInputs`), so one traced graph serves
 *   every batch size and sequence length;
 * - reshapes never name the batch or sequence length: `reshapeTail` keeps the leading
 *   dims as they are and only re-cuts the trailing ones.
 * All float tensors are f32; token ids and positions are i32.
 */
export interface Ops<T> {
  /** A weight of the model (already f32, linear weights laid out [in, out]). */
  param(name: string): T;
  /** A per-call input, e.g. 'input_ids' [B, T] i32, 'causal_bias' [T, T] f32. */
  input(name: string): T;
  /** Marks `x` as a named result of the function. */
  output(name: string, x: T): void;

  // elementwise, with numpy broadcasting
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  /** a * s for a host scalar s. */
  scale(a: T, s: number): T;
  neg(a: T): T;
  /** GELU: 'tanh' = GPT-2's gelu_new / gelu_pytorch_tanh; 'erf' = exact. */
  gelu(a: T, approximate: 'tanh' | 'erf'): T;
  silu(a: T): T;
  relu(a: T): T;
  exp(a: T): T;
  /** 1 / sqrt(a). */
  rsqrt(a: T): T;
  /** a + s for a host scalar s. */
  addScalar(a: T, s: number): T;

  // reductions (used by the lens losses and their hand-written gradients)
  /** Sum over the last axis, keeping it: [..., n] -> [..., 1]. */
  sumLast(x: T): T;
  /** Mean over the last axis, keeping it: [..., n] -> [..., 1]. */
  meanLast(x: T): T;
  /** Sum over every axis but the last: [..., d] -> [d]. */
  sumRows(x: T): T;
  /** Sum of every element: -> [] (a scalar). */
  sumAll(x: T): T;
  /** One-hot rows: ids [...] i32 -> [..., depth] f32 (ids outside 0..depth-1 give zero rows). */
  oneHot(ids: T, depth: number): T;

  // normalisation over the last axis
  /** (x - mean) / sqrt(var + eps) * w (+ b); var is the biased variance, as torch. */
  layerNorm(x: T, w: T, b: T | null, eps: number): T;
  /** x / sqrt(mean(x^2) + eps) * w, or * (1 + w) when `plusOne` (Gemma). */
  rmsNorm(x: T, w: T, eps: number, plusOne: boolean): T;
  /** Softmax over the last axis. */
  softmax(x: T): T;
  /** Log-softmax over the last axis. */
  logSoftmax(x: T): T;

  // linear algebra
  /** x [..., in] @ w [in, out] (+ b [out]). */
  linear(x: T, w: T, b: T | null): T;
  /** Batched a [..., m, k] @ b [..., k, n]. */
  matmul(a: T, b: T): T;
  /** Batched a [..., m, k] @ b[..., n, k]^T (scores = q k^T without a transpose op). */
  matmulTransposeB(a: T, b: T): T;
  /**
   * Causal attention, softmax(q kᵀ · scale + bias) v, for q [..., T, Dh], k and v
   * [..., T, Dh] (same leading dims as q) and an additive bias [..., T, T] (broadcast
   * against the scores, e.g. [T, T] or per head [H, T, T]) that is -Infinity wherever
   * key j > query i (it may mask more, e.g. a sliding window): [..., T, Dh].
   * Engines may skip blocks above the diagonal, which that bias masks entirely; the
   * result is the same as the composition of the ops above.
   */
  causalAttention(q: T, k: T, v: T, bias: T, scale: number): T;
  /** Rows of table [V, D] for ids [B, T] (i32): [B, T, D]. */
  embedding(table: T, ids: T): T;

  // shapes
  /**
   * Keeps the first `keep` dims and re-cuts the rest into `tail` (whose product must
   * equal the product of the dims replaced); -1 once in `tail` infers that dim.
   */
  reshapeTail(x: T, keep: number, tail: number[]): T;
  transpose(x: T, perm: number[]): T;
  /** x[..., start:end] on the last axis. */
  sliceLast(x: T, start: number, end: number): T;
  /** Concatenation on the last axis. */
  concatLast(xs: T[]): T;
  /** [B, Hkv, T, Dh] -> [B, Hkv * n, T, Dh], each head repeated n times in a row (GQA). */
  repeatHeads(x: T, n: number): T;
}

/** A dense host tensor: row-major f32 or i32 data and its shape. */
export interface HostArray {
  shape: number[];
  data: Float32Array | Int32Array;
}

/** Inputs built on the host for one call, keyed by the names the function reads. */
export type RuntimeInputs = Record<string, HostArray>;

/**
 * A function over Ops plus what an engine needs to compile it: the weights it reads
 * (by name) and the names and ranks of its inputs and outputs.
 */
export interface TensorProgram {
  /** Stable name for logs and cache keys. */
  name: string;
  params: Map<string, HostArray>;
  /** Input names with their element type and rank (dims may vary per call). */
  inputs: Record<string, { dtype: 'f32' | 'i32'; rank: number }>;
  /** Output names in the order the function produces them. */
  outputs: string[];
  fn<T>(ops: Ops<T>): void;
}

/** A program ready to run on one engine. */
export interface CompiledProgram {
  /**
   * Runs the program. `outputs` selects what to return (default all); engines may skip
   * the work of unrequested outputs. Results are row-major f32 on the host.
   */
  run(inputs: RuntimeInputs, outputs?: string[]): Promise<Record<string, { shape: number[]; data: Float32Array }>>;
  dispose(): Promise<void>;
}

export interface Engine {
  /** 'onnxruntime', 'tfjs-wasm', 'tfjs-node-gpu', ... (logged and exported as a metric). */
  readonly name: string;
  compile(program: TensorProgram): Promise<CompiledProgram>;
  dispose?(): Promise<void>;
}

/**
 * What loading a checkpoint holds in memory, described as a few counts of copies, so the
 * memory check (estimate.ts) follows the load path by editing this one file. Whoever
 * changes what loadModel keeps (e.g. 16-bit weights kept 16-bit, or params mapped from
 * the file) or how an engine takes the weights (copies, serialisation) updates the plan
 * here and re-measures with services/activation/test/measureLoadMemory.ts.
 *
 * With S = the checkpoint's stored tensor bytes, K = the params as kept (each float
 * tensor's elements x keptBytesPerElement of its dtype), H = the LM head [vocab, d] in
 * f32, the estimate (of the growth from the start of the load to its peak) is
 *
 *   kept      = K x (paramsCopies + engineCopies [+ inMemoryModel.keptCopies])
 *             + H x tiedHeadCopies (if the head is tied)
 *   load      = kept + S x checkpointCopies + K x (transientCopies [+ inMemoryModel.transientCopies])
 *             + H x transientHeadCopies
 *   afterLoad = kept + S x checkpointCopies + H x unembeddingCopies
 *   total     = max(load, afterLoad) + overheadBytes
 *
 * (the load's temporaries are garbage by the time the unembedding is made and posted, so
 * the two peaks do not add up). [..] terms apply while K <= inMemoryModel.upToBytes.
 */
import type { SafetensorsDType } from '../safetensors/dtypes.js';

export interface LoadPlan {
  /** Which load path this describes, for messages ('onnx', 'tfjs'). */
  readonly name: string;
  /** Bytes per element of the params the model keeps, by stored float dtype (others: as stored). */
  readonly keptBytesPerElement: Readonly<Partial<Record<SafetensorsDType, number>>>;
  /** How the kept params are described in messages, e.g. 'widened to f32'. */
  readonly keptAs: string;
  /**
   * Copies of the stored bytes held in memory, through the load and after it: when the
   * params are views of the checkpoint's data it stays, and when they are copies it is
   * garbage the GC collects at a time of its choosing (measured: sometimes only after
   * the unembedding was posted).
   */
  readonly checkpointCopies: number;
  /** Copies the model's params hold: 1 when they own their bytes, 0 when they only refer to the file. */
  readonly paramsCopies: number;
  /** Copies of the params the engine keeps for the model's life, at any model size. */
  readonly engineCopies: number;
  /** Copies of the params alive only during the load, at its peak. */
  readonly transientCopies: number;
  /**
   * f32 copies of the largest tensor (the head, H) alive only during the load: a 16-bit
   * tensor is decoded, then transposed, and the decoded array waits for the GC.
   */
  readonly transientHeadCopies: number;
  /** Copies that exist only while K <= upToBytes (the onnx engine's in-memory model); null: none. */
  readonly inMemoryModel: {
    readonly upToBytes: number;
    /** Kept for the model's life (onnxruntime's own initializers). */
    readonly keptCopies: number;
    /** Alive during the load only (the serialised ModelProto). */
    readonly transientCopies: number;
  } | null;
  /** f32 copies of the LM head alive after the load, on top of what is kept (the unembedding being posted). */
  readonly unembeddingCopies: number;
  /** Kept f32 copies of the LM head when it is tied to the embedding. */
  readonly tiedHeadCopies: number;
  /** Fixed bytes: engine runtime, thread pools and arenas, the warm-up's activations, JS heap growth. */
  readonly overheadBytes: number;
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/**
 * The load path of commit 4a89ba8 on the onnx engine (onnxruntime-node 1.30, CPU),
 * measured with services/activation/test/measureLoadMemory.ts: peak RSS growth from the
 * start of the load, to the end of the warm-up and the posted unembedding (README,
 * "Memory check before loading", has the table):
 * - SafetensorsFile.read holds every file's whole data buffer (S). F32 params are views
 *   of it, so it stays; for 16-bit it is garbage after loadModel, collected late.
 * - Every float tensor is kept as f32 (K = 4 bytes/param): F32 views or transposed
 *   copies, 16-bit decoded then transposed. The decoded arrays wait for the GC: measured
 *   ~1 H (the largest, the head) at the peak, at 0.9, 2.2 and 3.8 GB of f32 weights.
 * - Up to 1.5 GiB of f32 weights (OnnxEngineOptions.externalDataThresholdBytes) the model
 *   goes to onnxruntime as one in-memory ModelProto (transient) and onnxruntime keeps its
 *   own copy of the initializers. Above it the weights are written to a temp file that
 *   onnxruntime maps; its session then measured ~0.1 K of resident memory (engineCopies).
 * - The unembedding: transposed once for its hash, once to post to the service's thread,
 *   which keeps the clone (~3 H after the load). A tied head is also kept transposed.
 * - overheadBytes: small-lm (11 MiB of F16) grew its peak RSS by 121-137 MiB, 49 MiB
 *   more than the terms above (onnxruntime's runtime, the traced graph, the JS heap);
 *   for the llamas the terms alone already cover the measured peaks (74-96% of the
 *   estimate with the overhead, GC timing moving the 16-bit peaks by ~10%). 256 MiB
 *   keeps a margin for hosts with more threads and arenas.
 */
export const ONNX_LOAD_PLAN: LoadPlan = Object.freeze({
  name: 'onnx',
  keptBytesPerElement: Object.freeze({ F32: 4, F16: 4, BF16: 4 }),
  keptAs: 'widened to f32',
  checkpointCopies: 1,
  paramsCopies: 1,
  engineCopies: 0.1,
  transientCopies: 0,
  transientHeadCopies: 1,
  inMemoryModel: Object.freeze({ upToBytes: 1.5 * GiB, keptCopies: 1, transientCopies: 1 }),
  unembeddingCopies: 3,
  tiedHeadCopies: 1,
  overheadBytes: 256 * MiB,
});

/**
 * The tfjs engine: the params are uploaded once as tensors (one engine copy; on the GPU
 * in device memory, which this overestimates), nothing is serialised. Not measured here
 * (no GPU); the onnx numbers otherwise.
 */
export const TFJS_LOAD_PLAN: LoadPlan = Object.freeze({
  ...ONNX_LOAD_PLAN,
  name: 'tfjs',
  engineCopies: 1,
  inMemoryModel: null,
});

/**
 * The plan for an engine choice. 'auto' is onnx unless tfjs-node-gpu is installed
 * (libs/engine select.ts); both plans are close, and 'auto' takes the onnx one.
 */
export function loadPlanFor(engine: 'auto' | 'onnx' | 'tfjs'): LoadPlan {
  return engine === 'tfjs' ? TFJS_LOAD_PLAN : ONNX_LOAD_PLAN;
}

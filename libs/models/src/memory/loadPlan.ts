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
import { isInstalled } from '@tuned-lens/engine';
import type { SafetensorsDType } from '@tuned-lens/formats';

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
 * The onnx load path since the weights stay in the checkpoint files (commit 6493398,
 * libs/engine storedParam.ts):
 * - The checkpoint is opened headers-only; the params are StoredParams (no bytes held):
 *   paramsCopies 0, keptBytesPerElement as stored (only the head's f32 terms use f32).
 * - onnxruntime maps the safetensors files as ONNX external data: after the warm-up forward
 *   every page is resident and counts in RSS once per live session; the model runner keeps
 *   one session per model (runner.ts), so checkpointCopies 1, engineCopies 0, no in-memory
 *   ModelProto.
 * - During a forward each layer's matrices are widened to f32 (16-bit checkpoints) while
 *   that layer runs: transientCopies 0.15 of K covers two layers' f32 widening of a 22- to
 *   32-layer llama (TinyLlama-1.1B: 0.35 GB, Llama-2-7B shape: 1.6 GB) with margin.
 * - The LM head is widened for the logits during the warm-up (1 H), and the unembedding is
 *   read as stored for its hash and posted to the service's thread (2 H after the load);
 *   a tied head is the embedding's bytes read transposed, not kept.
 * - overheadBytes as before (runtime, arenas, the warm-up's activations, JS heap).
 * Measured with tools/bench `npm run bench:scale` (README, "Real-size models").
 */
export const ONNX_LOAD_PLAN: LoadPlan = Object.freeze({
  name: 'onnx',
  keptBytesPerElement: Object.freeze({ F32: 4, F16: 2, BF16: 2 }),
  keptAs: 'kept in the checkpoint files (mapped, not copied)',
  checkpointCopies: 1,
  paramsCopies: 0,
  engineCopies: 0,
  transientCopies: 0.15,
  transientHeadCopies: 1,
  inMemoryModel: null,
  unembeddingCopies: 2,
  tiedHeadCopies: 0,
  overheadBytes: 256 * MiB,
});

/**
 * The tfjs engine on a native backend (tfjs-node-gpu, tfjs-node): every param is read
 * from disk and uploaded once as an f32 tensor (one engine copy; on the GPU in device
 * memory, which this overestimates), nothing is serialised or mapped. Not measured here
 * (neither package installs offline).
 */
export const TFJS_LOAD_PLAN: LoadPlan = Object.freeze({
  ...ONNX_LOAD_PLAN,
  name: 'tfjs',
  keptBytesPerElement: Object.freeze({ F32: 4, F16: 4, BF16: 4 }),
  keptAs: 'widened to f32',
  checkpointCopies: 0,
  engineCopies: 1,
  transientCopies: 0.1,
  tiedHeadCopies: 1,
});

/**
 * tfjs on WebAssembly (or plain JS): what runs when neither tfjs-node package is
 * installed (a plain `npm ci`). Measured with services/activation/test/measureLoadMemory.ts
 * (commit 765f3b5): peak growth of small-lm 299 MiB, of the 2- and 8-layer BF16 llamas
 * (0.9 and 2.2 GB of f32) 2,055 and 4,404 MiB: about two f32 copies of the params (the
 * wasm heap's and the arrays uploaded from) plus ~300 MiB for the wasm runtime; 79-89%
 * of this estimate.
 */
export const TFJS_WASM_LOAD_PLAN: LoadPlan = Object.freeze({
  ...TFJS_LOAD_PLAN,
  name: 'tfjs-wasm',
  engineCopies: 2,
  overheadBytes: 320 * MiB,
});

/**
 * The plan for an engine choice, resolved as libs/engine select.ts does: 'auto' is tfjs
 * when tfjs-node-gpu is installed, else onnx; tfjs runs natively (tfjs-node-gpu or
 * tfjs-node) or else on WebAssembly, whose copies differ. `installed` is for tests.
 */
export function loadPlanFor(engine: 'auto' | 'onnx' | 'tfjs', installed: (pkg: string) => boolean = isInstalled): LoadPlan {
  const gpu = installed('@tensorflow/tfjs-node-gpu');
  const kind = engine === 'auto' ? (gpu ? 'tfjs' : 'onnx') : engine;
  if (kind === 'onnx') return ONNX_LOAD_PLAN;
  return gpu || installed('@tensorflow/tfjs-node') ? TFJS_LOAD_PLAN : TFJS_WASM_LOAD_PLAN;
}

/**
 * The memory a checkpoint needs to load, from its safetensors headers only (no weight
 * byte is read: a 30 GB checkpoint is sized in milliseconds), following a LoadPlan.
 */
import { isFloatDType } from '@tuned-lens/tensor';
import { dtypeSize, isSupportedDType, openCheckpoint, type SafetensorsDType } from '@tuned-lens/formats';
import type { LoadPlan } from './loadPlan.js';

/** A stored tensor as the header describes it. */
export interface StoredTensor {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Stored bytes (numel x element size). */
  readonly bytes: number;
}

/** One term of the estimate, for messages: e.g. { what: 'params widened to f32', bytes }. */
export interface EstimateTerm {
  readonly what: string;
  readonly bytes: number;
}

export interface LoadMemoryEstimate {
  readonly plan: LoadPlan;
  /** Elements of the float tensors (the parameters, buffers included). */
  readonly parameters: number;
  /** Bytes of every stored tensor (S). */
  readonly storedBytes: number;
  /** Stored bytes per dtype, largest first. */
  readonly storedByDtype: ReadonlyArray<readonly [SafetensorsDType, number]>;
  /** Bytes of the params as the model keeps them (K). */
  readonly keptBytes: number;
  /** Elements of the LM head [vocab, d] (the largest 2-D float tensor). */
  readonly lmHeadElements: number;
  /** Whether the head looks tied to the embedding (no second tensor of its shape). */
  readonly tiedHead: boolean;
  /** The two peaks of the plan (see loadPlan.ts), without the overhead. */
  readonly phases: { readonly load: number; readonly afterLoad: number };
  /** The terms of each peak; each list sums to its phase. */
  readonly breakdown: { readonly load: readonly EstimateTerm[]; readonly afterLoad: readonly EstimateTerm[] };
  /** max(load, afterLoad) + the plan's overhead. */
  readonly totalBytes: number;
}

/**
 * Estimates the load of the checkpoint at `path` (a model folder, a `.safetensors` file
 * or an index `.json`). Reads and validates the headers (CheckpointError as a load
 * would throw it), never the data.
 */
export function estimateLoadMemory(path: string, plan: LoadPlan): LoadMemoryEstimate {
  // maxResidentBytes 0: the reader parses each header and leaves the data on disk.
  const checkpoint = openCheckpoint(path, { maxResidentBytes: 0 });
  const tensors = checkpoint.names().map((name): StoredTensor => {
    const { dtype, shape } = checkpoint.info(name);
    return { dtype, shape, bytes: shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype) };
  });
  return estimateFromTensors(tensors, plan);
}

/** The estimate for tensors described by their headers (what estimateLoadMemory reads). */
export function estimateFromTensors(tensors: Iterable<StoredTensor>, plan: LoadPlan): LoadMemoryEstimate {
  let parameters = 0;
  let storedBytes = 0;
  let keptBytes = 0;
  const byDtype = new Map<SafetensorsDType, number>();
  const floats2d: StoredTensor[] = [];
  for (const t of tensors) {
    storedBytes += t.bytes;
    byDtype.set(t.dtype, (byDtype.get(t.dtype) ?? 0) + t.bytes);
    // Only float tensors become params (ParamReader decodes with getF32); integer or bool
    // buffers (position ids, old attention masks) are read with the file and dropped.
    if (!isSupportedDType(t.dtype) || !isFloatDType(t.dtype)) continue;
    const numel = t.shape.reduce((a, b) => a * b, 1);
    parameters += numel;
    keptBytes += numel * (plan.keptBytesPerElement[t.dtype] ?? t.bytes / Math.max(numel, 1));
    if (t.shape.length === 2) floats2d.push(t);
  }
  // The LM head (or the embedding it is tied to) is the largest matrix of a language
  // model: vocab x d beats every d x 4d block unless vocab < 4d, where the error is small.
  let head: StoredTensor | undefined;
  for (const t of floats2d) if (!head || t.bytes > head.bytes) head = t;
  const lmHeadElements = head ? head.shape[0] * head.shape[1] : 0;
  const sameShape = head ? floats2d.filter((t) => t.shape[0] === head.shape[0] && t.shape[1] === head.shape[1]).length : 0;
  const tiedHead = sameShape === 1;

  const inMemory = plan.inMemoryModel && keptBytes <= plan.inMemoryModel.upToBytes ? plan.inMemoryModel : null;
  const headBytes = lmHeadElements * 4;
  const kept: EstimateTerm[] = [
    { what: `params ${plan.keptAs}`, bytes: keptBytes * plan.paramsCopies },
    { what: 'engine copy', bytes: keptBytes * (plan.engineCopies + (inMemory?.keptCopies ?? 0)) },
    { what: 'tied LM head', bytes: tiedHead ? headBytes * plan.tiedHeadCopies : 0 },
  ];
  const load: EstimateTerm[] = [
    { what: 'checkpoint data', bytes: storedBytes * plan.checkpointCopies },
    ...kept,
    { what: 'serialised model', bytes: keptBytes * (inMemory?.transientCopies ?? 0) },
    { what: 'temporaries', bytes: keptBytes * plan.transientCopies + headBytes * plan.transientHeadCopies },
  ];
  const afterLoad: EstimateTerm[] = [
    { what: 'checkpoint data', bytes: storedBytes * plan.checkpointCopies },
    ...kept,
    { what: 'unembedding copies', bytes: headBytes * plan.unembeddingCopies },
  ];
  const sum = (terms: readonly EstimateTerm[]) => terms.reduce((n, t) => n + t.bytes, 0);
  const phases = { load: sum(load), afterLoad: sum(afterLoad) };
  const storedByDtype = [...byDtype].sort((a, b) => b[1] - a[1]);
  return {
    plan, parameters, storedBytes, storedByDtype, keptBytes, lmHeadElements, tiedHead, phases,
    breakdown: { load, afterLoad },
    totalBytes: Math.max(phases.load, phases.afterLoad) + plan.overheadBytes,
  };
}

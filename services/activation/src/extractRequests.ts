/**
 * The requests of an Extract stream, checked: the config (first request) and each token
 * batch, with errors (INVALID_ARGUMENT / RESOURCE_EXHAUSTED) that name the batch and
 * what is wrong with it.
 */
import { activationV1 } from '@tuned-lens/proto';
import { invalidArgument, resourceExhausted, MAX_CHUNK_BYTES } from '@tuned-lens/grpc-kit';
import { decodeTokenIds, numel, type FloatDType } from '@tuned-lens/tensor';
import { dtypeFromProto } from '@tuned-lens/wire';
import type { ActivationLimits } from './limits';

export interface StreamConfig {
  /** Hidden-state indices to send, sorted, without duplicates. */
  layers: number[];
  /** Wire dtype of hidden states and logits. */
  dtype: FloatDType;
  convention: 'hf' | 'residual';
  logits: boolean;
  /** Payload bytes per chunk frame (<= MAX_CHUNK_BYTES). */
  maxChunkBytes: number;
}

/** One token batch as the model takes it. */
export interface TokenBatch {
  /** The client's uint64 id as a decimal string (any value round-trips), echoed on every frame. */
  batchId: string;
  /** [b, t] row-major. */
  ids: Int32Array;
  b: number;
  t: number;
}

export function readConfig(cfg: activationV1.ExtractConfig, numLayers: number): StreamConfig {
  for (const l of cfg.layers) {
    if (l < 0 || l > numLayers) throw invalidArgument(`layer ${l} is out of range: this model has hidden states 0..${numLayers}`);
  }
  let dtype: FloatDType;
  try {
    const d = dtypeFromProto(cfg.dtype, 'F32');
    if (d === 'I32' || d === 'I64') throw new Error(`hidden states are floats; ${d} is not a hidden-state dtype`);
    dtype = d;
  } catch (err) {
    throw invalidArgument((err as Error).message);
  }
  if (cfg.maxChunkBytes < 0 || (cfg.maxChunkBytes > 0 && cfg.maxChunkBytes < 1024)) throw invalidArgument(`max_chunk_bytes must be 0 (default) or at least 1024, got ${cfg.maxChunkBytes}`);
  return {
    layers: cfg.layers.length ? [...new Set(cfg.layers)].sort((a, b) => a - b) : Array.from({ length: numLayers + 1 }, (_, i) => i),
    dtype,
    convention: cfg.convention === activationV1.HiddenStateConvention.HIDDEN_STATE_CONVENTION_RESIDUAL ? 'residual' : 'hf',
    logits: cfg.includeLogits,
    maxChunkBytes: Math.min(cfg.maxChunkBytes || MAX_CHUNK_BYTES, MAX_CHUNK_BYTES),
  };
}

/** Token ids of one batch as [batch, seq] with checks that name what is wrong. */
export function readBatch(batch: activationV1.TokenBatch, limits: ActivationLimits): TokenBatch {
  const t = batch.inputIds;
  if (!t) throw invalidArgument(`batch ${batch.batchId}: input_ids is missing`);
  if (t.shape.length !== 2) throw invalidArgument(`batch ${batch.batchId}: input_ids must be [batch, seq], got shape [${t.shape.join(', ')}]`);
  const [b, s] = t.shape;
  if (b < 1 || s < 1) throw invalidArgument(`batch ${batch.batchId}: input_ids.shape [${b}, ${s}]: batch and seq must both be at least 1`);
  if (b * s > limits.maxTokensPerBatch) throw resourceExhausted(`batch ${batch.batchId}: ${b * s} tokens, the limit is ${limits.maxTokensPerBatch} per batch; send smaller batches`);
  let dtype;
  try {
    dtype = dtypeFromProto(t.dtype);
  } catch (err) {
    throw invalidArgument(`batch ${batch.batchId}: ${(err as Error).message}`);
  }
  if (dtype !== 'I32' && dtype !== 'I64') throw invalidArgument(`batch ${batch.batchId}: input_ids must be I32 or I64, got ${dtype}`);
  try {
    return { batchId: batch.batchId, ids: decodeTokenIds(t.data, dtype, { expected: numel([b, s]) }), b, t: s };
  } catch (err) {
    throw invalidArgument(`batch ${batch.batchId}: ${(err as Error).message}`);
  }
}

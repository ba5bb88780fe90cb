/**
 * Checking a checkpoint against what a config needs, before any compute: every tensor
 * present (all missing ones reported at once) with the expected shape, in messages that
 * say which config field implies the shape, e.g.
 * `tiny-gpt2/model.safetensors: transformer.h.0.attn.c_attn.weight has shape [64, 190] but config (n_embd 64) needs [64, 192]`.
 */
import { shapesEqual, shapeToString } from '@tuned-lens/tensor';
import { CheckpointError, type Checkpoint, type TensorInfo } from '@tuned-lens/formats';
import { MODEL_PREFIXES, resolveTensorName } from './names.js';

/** A tensor a config needs. */
export interface TensorSpec {
  /** Canonical HF name (with the model prefix); variants are resolved. */
  name: string;
  /** Expected shape, e.g. [nEmbd, 3 * nEmbd] for gpt2's c_attn.weight. */
  shape: readonly number[];
  /** The config fields the shape comes from, for the message (e.g. "n_embd 64"). */
  because?: string;
}

/** A tensor found with the expected shape. */
export interface FoundTensor extends TensorInfo {
  /** The canonical name asked for. */
  name: string;
  /** The name the checkpoint stores it under (pass this to getF32 / getRaw). */
  stored: string;
}

export interface ExpectOptions {
  /** Prefixes to try when the exact name is absent (default {@link MODEL_PREFIXES}). */
  prefixes?: readonly string[];
}

/**
 * Finds `name` (or its prefix variant) and checks its shape. Throws CheckpointError
 * `missing_tensor` or `shape_mismatch`.
 */
export function expectTensor(
  checkpoint: Checkpoint,
  name: string,
  shape: readonly number[],
  because?: string,
  opts: ExpectOptions = {},
): FoundTensor {
  return expectTensors(checkpoint, [{ name, shape, because }], opts)[0];
}

/**
 * Resolves every name (prefix variants included) and returns the stored names in the
 * same order. Throws one CheckpointError `missing_tensor` listing ALL missing names.
 */
export function expectPresent(checkpoint: Checkpoint, names: readonly string[], opts: ExpectOptions = {}): string[] {
  const prefixes = opts.prefixes ?? MODEL_PREFIXES;
  const stored = names.map((n) => resolveTensorName(checkpoint, n, prefixes));
  const missing = names.filter((_, i) => stored[i] === undefined);
  if (missing.length > 0) throw missingError(checkpoint, missing);
  return stored as string[];
}

/**
 * {@link expectTensor} for many tensors, reporting every missing tensor (or else every
 * shape mismatch) in one error, so a wrong config or checkpoint is diagnosed in one go.
 */
export function expectTensors(checkpoint: Checkpoint, specs: readonly TensorSpec[], opts: ExpectOptions = {}): FoundTensor[] {
  const stored = expectPresent(checkpoint, specs.map((s) => s.name), opts);
  const found: FoundTensor[] = [];
  const mismatches: { file: string; reason: string }[] = [];
  specs.forEach((spec, i) => {
    const info = checkpoint.info(stored[i]);
    if (!shapesEqual(info.shape, spec.shape)) {
      const config = spec.because ? `config (${spec.because})` : 'the config';
      mismatches.push({
        file: checkpoint.fileOf(stored[i]),
        reason: `${stored[i]} has shape ${shapeToString(info.shape)} but ${config} needs ${shapeToString(spec.shape)}`,
      });
    }
    found.push({ name: spec.name, stored: stored[i], ...info });
  });
  if (mismatches.length === 1) throw new CheckpointError('shape_mismatch', mismatches[0].file, mismatches[0].reason);
  if (mismatches.length > 1) {
    const oneFile = mismatches.every((m) => m.file === mismatches[0].file);
    const shown = mismatches.slice(0, 10).map((m) => m.reason);
    if (mismatches.length > 10) shown.push(`and ${mismatches.length - 10} more`);
    throw new CheckpointError('shape_mismatch', oneFile ? mismatches[0].file : checkpoint.path, `${mismatches.length} tensors have the wrong shape: ${shown.join('; ')}`);
  }
  return found;
}

export interface UnembeddingNames {
  /** Canonical LM head name(s), e.g. 'lm_head.weight' or 'embed_out.weight'. */
  head: string | readonly string[];
  /** Canonical token embedding name, e.g. 'transformer.wte.weight'. */
  embedding: string;
  /** `tie_word_embeddings` of the config. */
  tied: boolean;
}

/**
 * The stored name of the unembedding matrix [vocab, d]. With tied embeddings it is the
 * token embedding, as in `transformers` (which ties the head to it even when a copy of
 * `lm_head.weight` is stored); otherwise the head, which must then exist.
 */
export function resolveUnembedding(checkpoint: Checkpoint, names: UnembeddingNames, opts: ExpectOptions = {}): string {
  const prefixes = opts.prefixes ?? MODEL_PREFIXES;
  if (names.tied) return expectPresent(checkpoint, [names.embedding], opts)[0];
  const heads = typeof names.head === 'string' ? [names.head] : names.head;
  for (const h of heads) {
    const stored = resolveTensorName(checkpoint, h, prefixes);
    if (stored !== undefined) return stored;
  }
  throw new CheckpointError(
    'missing_tensor',
    checkpoint.path,
    `LM head ${heads.map((h) => JSON.stringify(h)).join(' / ')} not found and the config has tie_word_embeddings false, so the embedding cannot stand in for it`,
  );
}

function missingError(checkpoint: Checkpoint, missing: readonly string[]): CheckpointError {
  const shown = missing.slice(0, 10).map((n) => JSON.stringify(n));
  if (missing.length > 10) shown.push(`and ${missing.length - 10} more`);
  const sample = checkpoint.names().slice(0, 3).map((n) => JSON.stringify(n)).join(', ');
  return new CheckpointError(
    'missing_tensor',
    checkpoint.path,
    `missing ${missing.length} tensor${missing.length > 1 ? 's' : ''}: ${shown.join(', ')} (the checkpoint has ${checkpoint.size} tensors${sample ? `, e.g. ${sample}` : ''})`,
  );
}

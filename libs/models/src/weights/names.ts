/**
 * Tensor names across Hugging Face naming variants. A `*ForCausalLM` checkpoint stores
 * the base model under a prefix (`transformer.` for gpt2, `gpt_neox.` for GPT-NeoX,
 * `model.` for llama-style models), but checkpoints saved from the base class, and
 * some old ones (the original gpt2 upload), store the same tensors without it. Callers
 * ask for the canonical (prefixed) name and get whichever the checkpoint holds.
 */
import type { Checkpoint } from '@tuned-lens/formats';

/** Base-model prefixes of the supported families. */
export const MODEL_PREFIXES: readonly string[] = ['transformer.', 'gpt_neox.', 'model.'];

/** The subset of {@link Checkpoint} that name resolution needs. */
export type NameSource = Pick<Checkpoint, 'has'>;

/**
 * The name under which `checkpoint` stores `name`: `name` itself, else `name` without
 * its model prefix, else `name` with one of `prefixes` added; undefined if none exists.
 */
export function resolveTensorName(checkpoint: NameSource, name: string, prefixes: readonly string[] = MODEL_PREFIXES): string | undefined {
  if (checkpoint.has(name)) return name;
  for (const p of prefixes) {
    if (name.startsWith(p) && checkpoint.has(name.slice(p.length))) return name.slice(p.length);
  }
  for (const p of prefixes) {
    if (!name.startsWith(p) && checkpoint.has(p + name)) return p + name;
  }
  return undefined;
}

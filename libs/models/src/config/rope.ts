/** `rope_scaling` parsing: the supported types, and a clear refusal of the others. */
import type { ConfigFields } from './fields.js';
import type { RopeScaling } from './types.js';

/**
 * `rope_scaling` types accepted. Others (dynamic, yarn, longrope, ...) change the
 * position encoding in ways the architectures do not implement, so they are refused
 * instead of silently producing wrong activations.
 */
export const SUPPORTED_ROPE_SCALING_TYPES: readonly string[] = ['linear', 'llama3'];

/** Parses `rope_scaling` (absent, null and type "default" mean no scaling). */
export function parseRopeScaling(f: ConfigFields): RopeScaling | null {
  const v = f.get('rope_scaling');
  if (v === undefined) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw f.wrongType('rope_scaling', 'an object or null', v);
  const o = v as Record<string, unknown>;
  // Newer configs say "rope_type", older ones "type".
  const type = o.rope_type ?? o.type;
  if (typeof type !== 'string') throw f.invalid('rope_scaling', 'rope_scaling needs a string "rope_type" (or "type")');
  if (type === 'default') return null;

  const num = (key: string): number => {
    const x = o[key];
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) {
      throw f.invalid('rope_scaling', `rope_scaling.${key} must be a finite number > 0 for type "${type}", got ${JSON.stringify(x) ?? 'nothing'}`);
    }
    return x;
  };
  if (type === 'linear') return { type: 'linear', factor: num('factor') };
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: num('factor'),
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
    };
  }
  throw f.unsupported('rope_scaling', `rope_scaling type "${type}" is not supported (supported: ${SUPPORTED_ROPE_SCALING_TYPES.join(', ')}, or none)`);
}

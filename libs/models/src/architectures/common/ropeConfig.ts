/** `rope_scaling` parsing: the supported types, and a clear refusal of the others. */
import type { ConfigFields } from './configFields';
import type { RopeScaling } from './configTypes';

/**
 * `rope_scaling` types accepted. Others (dynamic, yarn, longrope, ...) change the
 * position encoding in ways the architectures do not implement, so they are refused
 * instead of silently producing wrong activations. (phi3 reads its own longrope, see
 * phi3/config.ts: only that family implements it.)
 */
export const SUPPORTED_ROPE_SCALING_TYPES: readonly string[] = ['linear', 'llama3'];

/** The rope settings object of a config and the field it was read from. */
export interface RopeParameters {
  field: 'rope_scaling' | 'rope_parameters';
  params: Readonly<Record<string, unknown>>;
}

/**
 * transformers 4 wrote `rope_theta` at the top level and the scaling in `rope_scaling`;
 * transformers 5 writes both into `rope_parameters` ({rope_theta, rope_type, ...}). As
 * transformers does, a non-null `rope_scaling` wins over `rope_parameters`. Per-layer-type
 * dicts ({full_attention: {...}, sliding_attention: {...}}, Gemma 3 and later) are refused.
 */
export function ropeParametersOf(f: ConfigFields): RopeParameters | undefined {
  const field = f.firstPresent('rope_scaling', 'rope_parameters') as RopeParameters['field'] | undefined;
  if (!field) return undefined;
  const v = f.get(field);
  if (typeof v !== 'object' || Array.isArray(v)) throw f.wrongType(field, 'an object or null', v);
  const params = v as Record<string, unknown>;
  const nested = ['full_attention', 'sliding_attention'].filter((k) => typeof params[k] === 'object' && params[k] !== null);
  if (nested.length > 0) throw f.unsupported(field, `${field} per layer type (${nested.join(', ')}) is not supported`);
  return { field, params };
}

/**
 * The rotary base: `rope_parameters.rope_theta` when given (transformers 5), else the
 * top-level `rope_theta` (transformers 4), else `fallback`.
 */
export function ropeTheta(f: ConfigFields, fallback = 10000): number {
  const rp = ropeParametersOf(f);
  const inside = rp?.params.rope_theta;
  if (inside === undefined || inside === null) return f.optPositive('rope_theta', fallback);
  if (typeof inside !== 'number' || !Number.isFinite(inside) || inside <= 0) {
    throw f.invalid(rp!.field, `${rp!.field}.rope_theta must be a finite number > 0, got ${JSON.stringify(inside)}`);
  }
  return inside;
}

/**
 * The rope type as written ("rope_type", or the older "type"). Absent in rope_parameters
 * means "default" (transformers 5 fills it in); rope_scaling must say it.
 */
export function ropeType(f: ConfigFields, rp: RopeParameters): string {
  const type = rp.params.rope_type ?? rp.params.type ?? (rp.field === 'rope_parameters' ? 'default' : undefined);
  if (typeof type !== 'string') throw f.invalid(rp.field, `${rp.field} needs a string "rope_type" (or "type")`);
  return type;
}

/** A number > 0 of the rope settings, named `field.key` in the error. */
export function ropeNumber(f: ConfigFields, rp: RopeParameters, key: string, type: string): number {
  const x = rp.params[key];
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) {
    throw f.invalid(rp.field, `${rp.field}.${key} must be a finite number > 0 for type "${type}", got ${JSON.stringify(x) ?? 'nothing'}`);
  }
  return x;
}

/** Parses `rope_scaling` / `rope_parameters` (absent, null and type "default" mean no scaling). */
export function parseRopeScaling(f: ConfigFields): RopeScaling | null {
  const rp = ropeParametersOf(f);
  if (!rp) return null;
  const type = ropeType(f, rp);
  if (type === 'default') return null;
  const num = (key: string) => ropeNumber(f, rp, key, type);
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
  throw f.unsupported(rp.field, `${rp.field} type "${type}" is not supported (supported: ${SUPPORTED_ROPE_SCALING_TYPES.join(', ')}, or none)`);
}

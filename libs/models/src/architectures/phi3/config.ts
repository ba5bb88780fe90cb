/**
 * HF `Phi3Config` (Phi-3, Phi-3.5, Phi-4-mini) -> {@link Phi3Config} -> {@link Phi3ArchConfig}:
 * the Llama math with fused qkv_proj and gate_up_proj weights, rotary on the first
 * int(head_dim * partial_rotary_factor) features, an optional sliding window on every
 * layer, and LongRoPE scaling.
 */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig, LongRopeScaling, RopeConfig } from '../common/configTypes';
import { readBaseConfig } from '../common/readConfig';
import { ropeNumber, ropeParametersOf, type RopeParameters } from '../common/ropeConfig';
import { llamaFields, llamaRope } from '../common/llama';
import { archConfigBase, UnsupportedModelError } from '../common/archConfig';
import type { ArchConfig } from '../common/types';

export interface Phi3Config extends BaseModelConfig {
  modelType: 'phi3';
  /** rotaryDim = int(headDim * partialRotaryFactor); scaling null or longrope. */
  rope: RopeConfig;
  /** `partial_rotary_factor` (in rope_parameters or at the top level; default 1). */
  partialRotaryFactor: number;
  /** Every layer attends within this many tokens (`sliding_window`, default null = no window). */
  slidingWindow: number | null;
}

/** The Phi-3 fields the forward pass reads beyond the shared ArchConfig. */
export interface Phi3ArchConfig extends ArchConfig {
  /** null: plain rope at rotaryBase on the first rotaryDim features of each head. */
  longrope: LongRopeScaling | null;
}

/** transformers reads these rope types of a Phi-3 config as longrope. */
const LONGROPE_ALIASES: readonly string[] = ['longrope', 'su', 'yarn'];

const FIELDS = llamaFields(4096, { normEps: ['rms_norm_eps', 1e-5] });

export function readConfig(f: ConfigFields): Phi3Config {
  const rp = ropeParametersOf(f);
  // transformers: the rope dict's own partial_rotary_factor first, then the top-level field.
  const inDict = rp?.params.partial_rotary_factor;
  const [field, name] = inDict === undefined || inDict === null ? ['partial_rotary_factor', 'partial_rotary_factor'] : [rp!.field, `${rp!.field}.partial_rotary_factor`];
  const partialRotaryFactor = field === 'partial_rotary_factor' ? f.optPositive(field, 1) : inDict;
  if (typeof partialRotaryFactor !== 'number' || !Number.isFinite(partialRotaryFactor) || partialRotaryFactor <= 0 || partialRotaryFactor > 1) {
    throw f.invalid(field, `${name} must be a number in (0, 1], got ${JSON.stringify(partialRotaryFactor)}`);
  }
  // transformers: int(head_dim * partial_rotary_factor); rotate-half needs it even.
  const rotaryDimOf = (headDim: number) => {
    const rd = Math.floor(headDim * partialRotaryFactor);
    if (rd === 0 || rd % 2 !== 0) throw f.invalid(field, `head_dim ${headDim} x ${name} ${partialRotaryFactor} gives ${rd} rotary dims, which must be even and > 0`);
    return rd;
  };
  const base = readBaseConfig(f, 'phi3', FIELDS);
  const rope = llamaRope(f, base.headDim, () => (rp ? parseLongRope(f, rp, rotaryDimOf(base.headDim)) : null));
  rope.rotaryDim = rotaryDimOf(base.headDim);
  return {
    ...base,
    rope,
    partialRotaryFactor,
    slidingWindow: f.has('sliding_window') ? f.int('sliding_window') : null,
  };
}

/**
 * The rope scaling of a Phi-3 config: none ("default") or LongRoPE, resolved as
 * transformers 5 does (modeling_rope_utils `_compute_longrope_parameters`): the TOP-LEVEL
 * original_max_position_embeddings (default 4096) wins over the one in the rope dict,
 * factor = rope `factor` or max_position_embeddings / original, and attention_factor
 * defaults to sqrt(1 + ln(factor) / ln(original)) (1 when factor <= 1).
 */
function parseLongRope(f: ConfigFields, rp: RopeParameters, rotaryDim: number): LongRopeScaling | null {
  const written = rp.params.rope_type ?? rp.params.type ?? 'default';
  if (written === 'default') return null;
  if (typeof written !== 'string' || !LONGROPE_ALIASES.includes(written)) {
    throw f.unsupported(rp.field, `${rp.field} type ${JSON.stringify(written)} is not supported for phi3 (supported: longrope, also written su or yarn, which transformers reads as longrope; or none)`);
  }
  const factors = (key: string): number[] => {
    const v = rp.params[key];
    const n = rotaryDim / 2;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
      throw f.invalid(rp.field, `${rp.field}.${key} must be a list of ${n} numbers > 0 for longrope, got ${JSON.stringify(v) ?? 'nothing'}`);
    }
    if (v.length !== n) throw f.invalid(rp.field, `${rp.field}.${key} has ${v.length} entries but the rotary dims (${rotaryDim}) need ${n}`);
    return v as number[];
  };
  const shortFactor = factors('short_factor');
  const longFactor = factors('long_factor');
  const original = f.optInt('original_max_position_embeddings', 4096);
  const has = (key: string) => rp.params[key] !== undefined && rp.params[key] !== null;
  const factor = has('factor') ? ropeNumber(f, rp, 'factor', 'longrope') : f.optInt('max_position_embeddings', 4096) / original;
  const attentionFactor = has('attention_factor')
    ? ropeNumber(f, rp, 'attention_factor', 'longrope')
    : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  return { type: 'longrope', shortFactor, longFactor, originalMaxPositionEmbeddings: original, attentionFactor };
}

export function archConfig(c: Phi3Config, file: string): Phi3ArchConfig {
  const base = archConfigBase(c, file);
  const s = c.rope.scaling;
  // readConfig only produces longrope (or none).
  if (s && s.type !== 'longrope') throw new UnsupportedModelError(`${file}: rope scaling ${s.type} is not supported for phi3`);
  return { ...base, slidingWindow: c.slidingWindow ?? undefined, longrope: s };
}

/** HF `GPTNeoXConfig` (Pythia and friends) -> {@link GptNeoxConfig} -> what the GPT-NeoX forward reads. */
import type { ConfigFields } from '../common/configFields';
import type { BaseModelConfig, RopeConfig } from '../common/configTypes';
import { readBaseConfig, type FieldTable, type FlagField } from '../common/readConfig';
import { parseRopeScaling } from '../common/ropeConfig';
import { archConfigBase, UnsupportedModelError } from '../common/archConfig';
import type { ArchConfig } from '../common/types';

/** GPT-NeoX (Pythia): partial rotary, fused QKV, optionally parallel residual. */
export interface GptNeoxConfig extends BaseModelConfig {
  modelType: 'gpt_neox';
  rope: RopeConfig;
  /** Fraction of each head that is rotated (`rotary_pct`). */
  rotaryPct: number;
  /** x + attn(ln1(x)) + mlp(ln2(x)) instead of the sequential form (`use_parallel_residual`, default true). */
  useParallelResidual: boolean;
}

const attentionBias: FlagField = ['attention_bias', true];
const FIELDS: FieldTable = {
  numLayers: 'num_hidden_layers', dModel: 'hidden_size', numHeads: 'num_attention_heads',
  contextLength: 'max_position_embeddings', intermediateSize: 'intermediate_size',
  normType: 'layernorm', normEps: ['layer_norm_eps', 1e-5], activation: ['hidden_act', 'gelu'],
  tieWordEmbeddings: false, biases: [attentionBias, attentionBias, true],
};

export function readConfig(f: ConfigFields): GptNeoxConfig {
  const base = readBaseConfig(f, 'gpt_neox', FIELDS);
  // Newer transformers also spell these partial_rotary_factor / rope_theta.
  const pctField = f.firstPresent('rotary_pct', 'partial_rotary_factor') ?? 'rotary_pct';
  const rotaryPct = f.optPositive(pctField, 0.25);
  if (rotaryPct > 1) throw f.invalid(pctField, `field "${pctField}" must be in (0, 1], got ${rotaryPct}`);
  const thetaField = f.firstPresent('rotary_emb_base', 'rope_theta') ?? 'rotary_emb_base';
  return {
    ...base,
    // transformers: rotary_ndims = int(head_size * rotary_pct).
    rope: { theta: f.optPositive(thetaField, 10000), rotaryDim: Math.floor(base.headDim * rotaryPct), scaling: parseRopeScaling(f) },
    rotaryPct,
    useParallelResidual: f.optBool('use_parallel_residual', true),
  };
}

export function archConfig(c: GptNeoxConfig, file: string): ArchConfig {
  const base = archConfigBase(c, file);
  if (c.rope.scaling) throw new UnsupportedModelError(`${file}: rope_scaling is not supported for gpt_neox`);
  return { ...base, parallelResidual: c.useParallelResidual };
}

/**
 * Reading the fields every family shares from a config.json through the family's field
 * table (transformers.js's normalised-config table, plus the defaults): each family's
 * config.ts says where its config keeps each common field and the default `transformers`
 * uses for that model type, so a field left out means the same thing here as in Python.
 * Structural sizes (layers, widths, heads, vocabulary) are required: a config saved by
 * `save_pretrained` always has them, and guessing them would load the wrong model.
 */
import type { ConfigFields } from './configFields';
import type { BaseModelConfig, NormType } from './configTypes';
import type { ModelType } from '../registry';

/** A default that depends on the width (e.g. 4 * hidden_size for an MLP left unset). */
type PerWidth = (dModel: number) => number;
/** A number: its field (required), [field, default] (optional), or the value itself (no field). */
export type NumberField = string | readonly [string, number | PerWidth] | number | PerWidth;
/** A flag: [field, default], or the value itself (no field). */
export type FlagField = readonly [string, boolean] | boolean;
/** A string: [field, default], or { fixed } (no field). */
export type StringField = readonly [string, string] | { readonly fixed: string };

/** Where a family's config.json keeps the common fields of {@link BaseModelConfig}. */
export interface FieldTable {
  numLayers: string;
  /** Several names: the first present, else the last (BLOOM's legacy n_embed before hidden_size). */
  dModel: string | readonly string[];
  numHeads: string;
  /** The key/value heads field of grouped-query attention (default numHeads). Absent: numKvHeads = numHeads. */
  numKvHeads?: string;
  /**
   * Absent: dModel / numHeads, which must divide exactly. Present: `field` when the config
   * has it, else `fallback` (gemma 256, qwen3 128), else dModel / numHeads.
   */
  headDim?: { field: string; fallback?: number };
  contextLength: NumberField;
  intermediateSize: NumberField;
  normType: NormType;
  normEps: NumberField;
  activation: StringField;
  /** The default of `tie_word_embeddings`. */
  tieWordEmbeddings: boolean;
  /** Biases of the q/k/v projections, of the attention output and of the MLP. */
  biases: readonly [qkv: FlagField, attnOut: FlagField, mlp: FlagField];
}

/** dModel / numHeads, which must divide exactly (the fields are named for the message). */
export function splitHeads(f: ConfigFields, dField: string, dModel: number, hField: string, numHeads: number): number {
  if (dModel % numHeads !== 0) {
    throw f.invalid(hField, `${dField} ${dModel} is not divisible by ${hField} ${numHeads}`);
  }
  return dModel / numHeads;
}

function readNumber(field: NumberField, dModel: number, read: (name: string) => number, readOpt: (name: string, fallback: number) => number): number {
  if (typeof field === 'string') return read(field);
  if (typeof field === 'number') return field;
  if (typeof field === 'function') return field(dModel);
  const [name, fallback] = field;
  return readOpt(name, typeof fallback === 'function' ? fallback(dModel) : fallback);
}

const readFlag = (f: ConfigFields, field: FlagField): boolean => (typeof field === 'boolean' ? field : f.optBool(field[0], field[1]));

/** The common fields of `modelType`'s config.json, as `t` says where they are. Throws ConfigError. */
export function readBaseConfig<M extends ModelType>(f: ConfigFields, modelType: M, t: FieldTable): BaseModelConfig & { modelType: M } {
  const dField = typeof t.dModel === 'string' ? t.dModel : (t.dModel.find((n) => f.has(n)) ?? t.dModel[t.dModel.length - 1]);
  const dModel = f.int(dField);
  const numHeads = f.int(t.numHeads);
  const split = () => splitHeads(f, dField, dModel, t.numHeads, numHeads);
  // Without a head_dim field the heads split the width, checked before the key/value heads.
  let headDim = t.headDim ? 0 : split();
  let numKvHeads = numHeads;
  if (t.numKvHeads) {
    numKvHeads = f.optInt(t.numKvHeads, numHeads);
    if (numHeads % numKvHeads !== 0) {
      throw f.invalid(t.numKvHeads, `${t.numHeads} ${numHeads} is not a multiple of ${t.numKvHeads} ${numKvHeads}`);
    }
  }
  if (t.headDim) headDim = f.has(t.headDim.field) ? f.int(t.headDim.field) : (t.headDim.fallback ?? split());
  return {
    modelType,
    numLayers: f.int(t.numLayers),
    dModel,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: f.int('vocab_size'),
    contextLength: readNumber(t.contextLength, dModel, (n) => f.int(n), (n, d) => f.optInt(n, d)),
    intermediateSize: readNumber(t.intermediateSize, dModel, (n) => f.int(n), (n, d) => f.optInt(n, d)),
    normType: t.normType,
    normEps: readNumber(t.normEps, dModel, (n) => f.positive(n), (n, d) => f.optPositive(n, d)),
    activation: 'fixed' in t.activation ? t.activation.fixed : f.optString(t.activation[0], t.activation[1]),
    tieWordEmbeddings: f.optBool('tie_word_embeddings', t.tieWordEmbeddings),
    qkvBias: readFlag(f, t.biases[0]),
    attnOutBias: readFlag(f, t.biases[1]),
    mlpBias: readFlag(f, t.biases[2]),
    bosTokenId: f.tokenIds('bos_token_id') as number | null,
    eosTokenId: f.tokenIds('eos_token_id'),
    torchDtype: f.optString('torch_dtype', '') || null,
    raw: f.raw,
  };
}

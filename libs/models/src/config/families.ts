/**
 * Per-family readers of config.json, each with the defaults `transformers` uses for
 * that model type (so a field left out means the same thing here as in Python).
 * Structural sizes (layers, widths, heads, vocabulary) are required: a config saved by
 * `save_pretrained` always has them, and guessing them would load the wrong model.
 */
import type { ConfigFields } from './fields.js';
import { parseRopeScaling, ropeTheta } from './rope.js';
import type { BaseModelConfig, GemmaConfig, Gpt2Config, GptNeoxConfig, LlamaConfig, ModelType, RopeScaling } from './types.js';

export type Common = Omit<BaseModelConfig, 'modelType' | 'raw' | 'bosTokenId' | 'eosTokenId' | 'torchDtype'>;

export function base<T extends ModelType>(f: ConfigFields, modelType: T, c: Common): BaseModelConfig & { modelType: T } {
  return {
    modelType,
    ...c,
    bosTokenId: f.tokenIds('bos_token_id') as number | null,
    eosTokenId: f.tokenIds('eos_token_id'),
    torchDtype: f.optString('torch_dtype', '') || null,
    raw: f.raw,
  };
}

/** dModel / numHeads, which must divide exactly (the fields are named for the message). */
export function splitHeads(f: ConfigFields, dField: string, dModel: number, hField: string, numHeads: number): number {
  if (dModel % numHeads !== 0) {
    throw f.invalid(hField, `${dField} ${dModel} is not divisible by ${hField} ${numHeads}`);
  }
  return dModel / numHeads;
}

/** HF `GPT2Config`. */
export function parseGpt2(f: ConfigFields): Gpt2Config {
  const dModel = f.int('n_embd');
  const numHeads = f.int('n_head');
  const headDim = splitHeads(f, 'n_embd', dModel, 'n_head', numHeads);
  return {
    ...base(f, 'gpt2', {
      numLayers: f.int('n_layer'),
      dModel,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      vocabSize: f.int('vocab_size'),
      contextLength: f.int('n_positions'),
      // `n_inner: null` means 4 * n_embd.
      intermediateSize: f.optInt('n_inner', 4 * dModel),
      normType: 'layernorm',
      normEps: f.optPositive('layer_norm_epsilon', 1e-5),
      activation: f.optString('activation_function', 'gelu_new'),
      tieWordEmbeddings: f.optBool('tie_word_embeddings', true),
      qkvBias: true,
      attnOutBias: true,
      mlpBias: true,
    }),
    scaleAttnWeights: f.optBool('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: f.optBool('scale_attn_by_inverse_layer_idx', false),
  };
}

/** HF `GPTNeoXConfig` (Pythia and friends). */
export function parseGptNeox(f: ConfigFields): GptNeoxConfig {
  const dModel = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const headDim = splitHeads(f, 'hidden_size', dModel, 'num_attention_heads', numHeads);
  // Newer transformers also spell these partial_rotary_factor / rope_theta.
  const pctField = f.firstPresent('rotary_pct', 'partial_rotary_factor') ?? 'rotary_pct';
  const rotaryPct = f.optPositive(pctField, 0.25);
  if (rotaryPct > 1) throw f.invalid(pctField, `field "${pctField}" must be in (0, 1], got ${rotaryPct}`);
  const thetaField = f.firstPresent('rotary_emb_base', 'rope_theta') ?? 'rotary_emb_base';
  const bias = f.optBool('attention_bias', true);
  return {
    ...base(f, 'gpt_neox', {
      numLayers: f.int('num_hidden_layers'),
      dModel,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      vocabSize: f.int('vocab_size'),
      contextLength: f.int('max_position_embeddings'),
      intermediateSize: f.int('intermediate_size'),
      normType: 'layernorm',
      normEps: f.optPositive('layer_norm_eps', 1e-5),
      activation: f.optString('hidden_act', 'gelu'),
      tieWordEmbeddings: f.optBool('tie_word_embeddings', false),
      qkvBias: bias,
      attnOutBias: bias,
      mlpBias: true,
    }),
    // transformers: rotary_ndims = int(head_size * rotary_pct).
    rope: { theta: f.optPositive(thetaField, 10000), rotaryDim: Math.floor(headDim * rotaryPct), scaling: parseRopeScaling(f) },
    rotaryPct,
    useParallelResidual: f.optBool('use_parallel_residual', true),
  };
}

interface LlamaDefaults {
  contextLength: number;
  activation: string;
  tie: boolean;
  /** rms_norm_eps */
  eps: number;
}

/** The families whose config.json has the Llama field names (hidden_size, rms_norm_eps, ...). */
export type LlamaLikeType = LlamaConfig['modelType'] | 'gemma' | 'qwen3' | 'gemma2' | 'phi3';

const LLAMA_DEFAULTS: Record<LlamaLikeType, LlamaDefaults> = {
  llama: { contextLength: 2048, activation: 'silu', tie: false, eps: 1e-6 },
  mistral: { contextLength: 4096 * 32, activation: 'silu', tie: false, eps: 1e-6 },
  qwen2: { contextLength: 32768, activation: 'silu', tie: false, eps: 1e-6 },
  gemma: { contextLength: 8192, activation: 'gelu_pytorch_tanh', tie: true, eps: 1e-6 },
  qwen3: { contextLength: 32768, activation: 'silu', tie: false, eps: 1e-6 },
  gemma2: { contextLength: 8192, activation: 'gelu_pytorch_tanh', tie: true, eps: 1e-6 },
  phi3: { contextLength: 4096, activation: 'silu', tie: false, eps: 1e-5 },
};

/**
 * The fields the Llama-like families share. `headDimDefault` is the family's head_dim when
 * config.json has none (gemma 256, qwen3 128; else hidden / heads); `scaling` reads the
 * rope scaling (default: the types every family shares, see rope.ts).
 */
export function llamaCommon(
  f: ConfigFields,
  modelType: LlamaLikeType,
  headDimDefault?: number,
  scaling: (f: ConfigFields, headDim: number) => RopeScaling | null = parseRopeScaling,
) {
  const d = LLAMA_DEFAULTS[modelType];
  const dModel = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const numKvHeads = f.optInt('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw f.invalid('num_key_value_heads', `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  // head_dim is explicit in gemma and newer mistral configs; otherwise hidden / heads.
  const headDim = f.has('head_dim')
    ? f.int('head_dim')
    : (headDimDefault ?? splitHeads(f, 'hidden_size', dModel, 'num_attention_heads', numHeads));
  const common: Common = {
    numLayers: f.int('num_hidden_layers'),
    dModel,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: f.int('vocab_size'),
    contextLength: f.optInt('max_position_embeddings', d.contextLength),
    intermediateSize: f.int('intermediate_size'),
    normType: 'rmsnorm',
    normEps: f.optPositive('rms_norm_eps', d.eps),
    activation: f.optString('hidden_act', d.activation),
    tieWordEmbeddings: f.optBool('tie_word_embeddings', d.tie),
    qkvBias: false,
    attnOutBias: false,
    mlpBias: false,
  };
  const rope = { theta: ropeTheta(f), rotaryDim: headDim, scaling: scaling(f, headDim) };
  return { common, rope };
}

/** HF `LlamaConfig`, `MistralConfig`, `Qwen2Config`. */
export function parseLlama(f: ConfigFields, modelType: LlamaConfig['modelType']): LlamaConfig {
  const { common, rope } = llamaCommon(f, modelType);
  let slidingWindow: number | null = null;
  if (modelType === 'llama') {
    // attention_bias covers q, k, v and o; mlp_bias the three MLP projections.
    common.qkvBias = common.attnOutBias = f.optBool('attention_bias', false);
    common.mlpBias = f.optBool('mlp_bias', false);
  } else if (modelType === 'mistral') {
    // Mistral 7B v0.1 attends within 4096 tokens; later configs set null (full attention).
    slidingWindow = f.has('sliding_window') ? f.int('sliding_window') : f.raw.sliding_window === null ? null : 4096;
  } else {
    // Qwen2 always has q/k/v biases (and none on o_proj); the config has no field for it.
    common.qkvBias = true;
    if (f.optBool('use_sliding_window', false)) {
      // Qwen2 windows only the layers from max_window_layers on; no implementation here.
      throw f.unsupported('use_sliding_window', 'qwen2 with use_sliding_window true is not supported');
    }
  }
  return { ...base(f, modelType, common), rope, slidingWindow };
}

/** HF `GemmaConfig` (Gemma 1). */
export function parseGemma(f: ConfigFields): GemmaConfig {
  const { common, rope } = llamaCommon(f, 'gemma', 256);
  // transformers' Gemma uses hidden_activation, and gelu_pytorch_tanh when it is unset,
  // whatever hidden_act says (early configs said "gelu" by mistake).
  common.activation = f.optString('hidden_activation', 'gelu_pytorch_tanh');
  common.qkvBias = common.attnOutBias = f.optBool('attention_bias', false);
  return { ...base(f, 'gemma', common), rope };
}

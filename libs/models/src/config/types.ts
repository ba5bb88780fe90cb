/**
 * The normalised model config: the same field names for every architecture, plus the
 * per-family details an implementation needs. Built from a Hugging Face `config.json`
 * by {@link parseModelConfig}; HF defaults are applied where `transformers` applies
 * them, so a config means the same thing here as there.
 */

/** `model_type` values with a config parser here. */
export type ModelType = 'gpt2' | 'gpt_neox' | 'llama' | 'mistral' | 'qwen2' | 'gemma' | 'phi' | 'opt' | 'gpt_neo' | 'gptj' | 'bloom' | 'qwen3' | 'gemma2' | 'phi3';

/** Which normalisation the blocks use: LayerNorm (weight and bias) or RMSNorm (weight only). */
export type NormType = 'layernorm' | 'rmsnorm';

/**
 * RoPE frequency scaling (`rope_scaling`, or `rope_parameters` in transformers 5). Only
 * the types listed in SUPPORTED_ROPE_SCALING_TYPES are accepted; others are refused at
 * parse time, except `longrope`, which only phi3's parser reads.
 * - `linear`: positions divided by `factor`;
 * - `llama3`: Llama 3.1 frequency-dependent scaling;
 * - `longrope`: see {@link LongRopeScaling}.
 */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  | LongRopeScaling;

/**
 * LongRoPE (Phi-3 128k, Phi-3.5, Phi-4-mini), resolved as transformers resolves it: the
 * inverse frequency k is 1 / (factor_k * theta^(2k / rotaryDim)) with `shortFactor` while
 * the sequence is at most `originalMaxPositionEmbeddings` long and `longFactor` beyond,
 * and cos/sin are multiplied by `attentionFactor` either way.
 */
export interface LongRopeScaling {
  type: 'longrope';
  /** rotaryDim / 2 factors each. */
  shortFactor: number[];
  longFactor: number[];
  originalMaxPositionEmbeddings: number;
  /** `attention_factor`, or sqrt(1 + ln(factor) / ln(original)) (1 when factor <= 1). */
  attentionFactor: number;
}

/** Rotary position embedding settings. */
export interface RopeConfig {
  /** Base of the inverse frequencies (`rope_theta` / `rotary_emb_base`). */
  theta: number;
  /**
   * Dimensions per head that are rotated (the first `rotaryDim` of each head):
   * `headDim` for llama-style models, `int(headDim * rotary_pct)` for GPT-NeoX.
   */
  rotaryDim: number;
  scaling: RopeScaling | null;
}

/** Fields every architecture has, under one set of names. */
export interface BaseModelConfig {
  modelType: ModelType;
  /** Transformer blocks (`n_layer`, `num_hidden_layers`). */
  numLayers: number;
  /** Residual stream width (`n_embd`, `hidden_size`). */
  dModel: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads (= numHeads without grouped-query attention). numHeads % numKvHeads === 0. */
  numKvHeads: number;
  /** Width of one head; `dModel / numHeads` unless the config says otherwise (gemma, some mistral). */
  headDim: number;
  vocabSize: number;
  /** Longest sequence the position embeddings cover (`n_positions`, `max_position_embeddings`). */
  contextLength: number;
  /** MLP hidden width (`n_inner` or 4 * dModel for gpt2, `intermediate_size` otherwise). */
  intermediateSize: number;
  normType: NormType;
  /** Epsilon of every norm of the model. */
  normEps: number;
  /** MLP activation as named by `transformers` (`gelu_new`, `gelu`, `silu`, `gelu_pytorch_tanh`, ...). */
  activation: string;
  /** Whether the LM head reuses the token embedding matrix (`lm_head.weight` may then be absent). */
  tieWordEmbeddings: boolean;
  /** Bias on the query/key/value projections. */
  qkvBias: boolean;
  /** Bias on the attention output projection. */
  attnOutBias: boolean;
  /** Bias on the MLP projections. */
  mlpBias: boolean;
  bosTokenId: number | null;
  /** Some configs list several end-of-sequence ids (Llama 3). */
  eosTokenId: number | number[] | null;
  /** `torch_dtype` as written (e.g. 'float16'), or null. */
  torchDtype: string | null;
  /** The config.json object as read, for fields not normalised here. */
  raw: Readonly<Record<string, unknown>>;
}

/** GPT-2: learned positions, pre-LayerNorm blocks, Conv1D weights stored [in, out]. */
export interface Gpt2Config extends BaseModelConfig {
  modelType: 'gpt2';
  /** Divide attention scores by sqrt(headDim) (`scale_attn_weights`, default true). */
  scaleAttnWeights: boolean;
  /** Also divide by (layer index + 1) (`scale_attn_by_inverse_layer_idx`, default false). */
  scaleAttnByInverseLayerIdx: boolean;
}

/** GPT-NeoX (Pythia): partial rotary, fused QKV, optionally parallel residual. */
export interface GptNeoxConfig extends BaseModelConfig {
  modelType: 'gpt_neox';
  rope: RopeConfig;
  /** Fraction of each head that is rotated (`rotary_pct`). */
  rotaryPct: number;
  /** x + attn(ln1(x)) + mlp(ln2(x)) instead of the sequential form (`use_parallel_residual`, default true). */
  useParallelResidual: boolean;
}

/** Llama, Mistral and Qwen2: RMSNorm, rotary over full heads, gated MLP, optional GQA. */
export interface LlamaConfig extends BaseModelConfig {
  modelType: 'llama' | 'mistral' | 'qwen2';
  rope: RopeConfig;
  /**
   * Sliding attention window in tokens, or null for full causal attention. Mistral's
   * `sliding_window`; Qwen2's only when `use_sliding_window` is true.
   */
  slidingWindow: number | null;
}

/**
 * Gemma: llama-like, but embeddings scaled by sqrt(dModel), RMSNorm weights applied as
 * (1 + w), head_dim independent of dModel, tied embeddings by default.
 */
export interface GemmaConfig extends BaseModelConfig {
  modelType: 'gemma';
  rope: RopeConfig;
}

/** A normalised model config; switch on `modelType` for the family fields. */
export type ModelConfig = Gpt2Config | GptNeoxConfig | LlamaConfig | GemmaConfig | PhiConfig | OptConfig | GptNeoConfig | GptjConfig | BloomConfig
  | Qwen3Config | Gemma2Config | Phi3Config;

export type { PhiConfig } from './phi.js';
export type { OptConfig } from './opt.js';
export type { GptNeoConfig, GptNeoAttentionKind } from './gptNeo.js';
export type { GptjConfig } from './gptj.js';
export type { BloomConfig } from './bloom.js';
export type { Qwen3Config } from './qwen3.js';
export type { Gemma2Config } from './gemma2.js';
export type { Phi3Config } from './phi3.js';
export type { LayerType } from './layerTypes.js';
import type { PhiConfig } from './phi.js';
import type { OptConfig } from './opt.js';
import type { GptNeoConfig } from './gptNeo.js';
import type { GptjConfig } from './gptj.js';
import type { BloomConfig } from './bloom.js';
import type { Qwen3Config } from './qwen3.js';
import type { Gemma2Config } from './gemma2.js';
import type { Phi3Config } from './phi3.js';

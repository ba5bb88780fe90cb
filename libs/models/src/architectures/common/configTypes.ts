/**
 * The normalised model config every family shares: the same field names for every
 * architecture. Each family's config.ts extends {@link BaseModelConfig} with its own
 * details and reads it from a Hugging Face `config.json`, applying HF defaults where
 * `transformers` applies them, so a config means the same thing here as there. The
 * union of the families' configs is `ModelConfig` (registry.ts).
 */
import type { ModelType } from '../registry';

/** Which normalisation the blocks use: LayerNorm (weight and bias) or RMSNorm (weight only). */
export type NormType = 'layernorm' | 'rmsnorm';

/**
 * RoPE frequency scaling (`rope_scaling`, or `rope_parameters` in transformers 5). Only
 * the types listed in SUPPORTED_ROPE_SCALING_TYPES are accepted; others are refused at
 * parse time, except `longrope`, which only phi3's reader (phi3/config.ts) reads.
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

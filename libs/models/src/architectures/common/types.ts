/**
 * What every architecture folder provides, behind the registry keyed by `model_type`
 * (registry.ts). Architectures are written against the engine-neutral `Ops` (libs/engine),
 * so the same code runs eagerly on tfjs or traced into an ONNX graph.
 */
import type { HostArray, Ops, RuntimeInputs, StoredLocation } from '@tuned-lens/engine';
import type { ConfigFields } from './configFields';
import type { BaseModelConfig } from './configTypes';
import type { Decoder } from './decoder';

/** The subset of a checkpoint reader an architecture needs. */
export interface WeightSource {
  has(name: string): boolean;
  /** Shape as stored. */
  shapeOf(name: string): number[];
  /** Values as f32 (converted exactly from F16/BF16). */
  f32(name: string): Float32Array;
  /** For messages: e.g. "tiny-gpt2/model.safetensors". */
  describe(): string;
  /**
   * Where the tensor's bytes are on disk, when the weights can be used in place (an engine
   * that reads checkpoint files maps them; see StoredParam). Absent: params are f32 copies.
   */
  location?(name: string): StoredLocation | undefined;
}

export type NormKind = 'layer_norm' | 'rms_norm' | 'rms_norm_plus_one';

/** The model's final norm and LM head: what turns a hidden state into logits. */
export interface UnembeddingSpec {
  norm: NormKind;
  eps: number;
  /** Param names (see blocks.ts: `ln_f.w`, `ln_f.b`, `lm_head`, `lm_head.b`) of the norm weight / bias and LM head. */
  normWeight: string;
  normBias: string | null;
  /** LM head as [dModel, vocab] (the [in, out] layout of `Ops.linear`). */
  lmHead: string;
  lmHeadBias: string | null;
  /**
   * Gemma 2's final soft-capping: the model's logits are cap * tanh(z / cap) of the head's
   * output z. Absent for every other family. (The GetUnembedding wire and libs/lens do not
   * carry or apply it yet: they see z.)
   */
  logitSoftcap?: number;
}

/** Sizes every architecture reports in the same terms (those of the parsed config). */
export type ModelDims = Pick<BaseModelConfig, 'numLayers' | 'dModel' | 'numHeads' | 'numKvHeads' | 'headDim' | 'vocabSize' | 'contextLength'> & {
  modelType: string;
};

export interface ForwardOptions {
  /** Also compute the logits (vocab x d per token: by far the biggest product). */
  logits: boolean;
}

/**
 * One model family: its config.json reader, the conversion to what its forward reads,
 * its checkpoint's weights, and the forward pass. `P` is the parsed config (one member of
 * ModelConfig), `C` what the forward reads.
 */
export interface Architecture<C extends ArchConfig = ArchConfig, P extends BaseModelConfig = BaseModelConfig> {
  /**
   * config.json -> the family's config with the defaults `transformers` uses for
   * `modelType` (several model types may share a family). Throws ConfigError naming the field.
   */
  readConfig(f: ConfigFields, modelType: string): P;
  /**
   * The parsed config -> what the forward pass reads. Throws UnsupportedModelError for
   * what the family does not implement; `file` labels the message.
   */
  archConfig(config: P, file: string): C;
  /**
   * Reads and checks every tensor (the family's weights.ts), returning params under our
   * own names (blocks.ts) with linear weights laid out [in, out]. Shape mismatches throw
   * naming the tensor and the config.
   */
  loadParams(weights: WeightSource, config: C): Map<string, HostArray>;
  /** Per-call inputs for a [batch, seq] call besides 'input_ids' (positions, masks, rotary tables). */
  runtimeInputs(config: C, batch: number, seq: number): RuntimeInputs;
  /**
   * The forward pass as pieces (embedding, block i, optionally final norm and head) that
   * read input 'input_ids' [B, T] i32 and the runtime inputs; decoder.ts `decoderForward`
   * runs them and emits the hidden-state contract (hidden_states.0..L, L after the final
   * norm, residual.L, logits when asked).
   */
  decoder<T>(ops: Ops<T>, config: C): Decoder<T>;
  /** The final norm and LM head, which end the forward pass unless the decoder has its own. */
  unembedding(config: C): UnembeddingSpec;
}

/**
 * The config fields the architectures read, normalised across families (filled from
 * the parsed HF config.json by each family's `archConfig`, archConfig.ts for the shared part).
 */
export interface ArchConfig extends ModelDims {
  intermediateSize: number;
  normEps: number;
  /** MLP activation: 'gelu_tanh' (gelu_new / gelu_pytorch_tanh), 'gelu' (erf), 'silu', 'relu'. */
  activation: 'gelu_tanh' | 'gelu' | 'silu' | 'relu';
  tieWordEmbeddings: boolean;
  /** Features of each head that are rotated (all for Llama; rotary_pct of them for GPT-NeoX). */
  rotaryDim: number;
  /** Rotary base (rope_theta / rotary_emb_base). */
  rotaryBase: number;
  /** GPT-NeoX: attention and MLP read the same input and are added together. */
  parallelResidual: boolean;
  /** Biases on the q/k/v projections and on the attention output `o` (per family: fixed, or a config field). */
  qkvBias: boolean;
  outputBias: boolean;
  /** MLP biases (Llama's mlp_bias). */
  mlpBias: boolean;
  /**
   * Sliding-window attention span: of every layer (Mistral, Phi-3: inside causal_bias), or
   * of the sliding_attention layers (layerTypes.ts: Qwen3, Gemma 2, GPT-Neo's local layers).
   */
  slidingWindow?: number;
}

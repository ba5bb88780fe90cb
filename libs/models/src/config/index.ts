/** Hugging Face `config.json` -> a normalised {@link ModelConfig}. */
export { ConfigError, type ConfigErrorKind } from './errors.js';
export type {
  ModelType,
  NormType,
  RopeScaling,
  RopeConfig,
  BaseModelConfig,
  Gpt2Config,
  GptNeoxConfig,
  LlamaConfig,
  GemmaConfig,
  PhiConfig,
  OptConfig,
  GptNeoConfig,
  GptNeoAttentionKind,
  GptjConfig,
  BloomConfig,
  Qwen3Config,
  Gemma2Config,
  Phi3Config,
  LayerType,
  LongRopeScaling,
  ModelConfig,
} from './types.js';
export { ConfigFields } from './fields.js';
export { SUPPORTED_ROPE_SCALING_TYPES, parseRopeScaling, ropeTheta } from './rope.js';
export { SUPPORTED_MODEL_TYPES, CONFIG_PARSERS, type ParseConfigOptions, parseModelConfig, loadModelConfig } from './parse.js';

/**
 * Hugging Face `config.json` -> a normalised {@link ModelConfig}, read by the family the
 * `model_type` names (architectures/registry.ts; each family's reader is its config.ts).
 */
export { ConfigError, type ConfigErrorKind } from './errors.js';
export type { NormType, RopeScaling, RopeConfig, BaseModelConfig, LongRopeScaling } from '../architectures/common/configTypes';
export type { ModelType, ModelConfig } from '../architectures/registry';
export type { Gpt2Config } from '../architectures/gpt2/config';
export type { GptNeoxConfig } from '../architectures/gpt_neox/config';
export type { LlamaConfig } from '../architectures/llama/config';
export type { GemmaConfig } from '../architectures/gemma/config';
export type { PhiConfig } from '../architectures/phi/config';
export type { OptConfig } from '../architectures/opt/config';
export type { GptNeoConfig, GptNeoAttentionKind } from '../architectures/gpt_neo/config';
export type { GptjConfig } from '../architectures/gptj/config';
export type { BloomConfig } from '../architectures/bloom/config';
export type { Qwen3Config } from '../architectures/qwen3/config';
export type { Gemma2Config } from '../architectures/gemma2/config';
export type { Phi3Config } from '../architectures/phi3/config';
export type { LayerType } from '../architectures/common/layerTypes';
export { ConfigFields } from '../architectures/common/configFields';
export { SUPPORTED_ROPE_SCALING_TYPES, parseRopeScaling, ropeTheta } from '../architectures/common/ropeConfig';
export { SUPPORTED_MODEL_TYPES, type ParseConfigOptions, parseModelConfig, loadModelConfig } from './parse.js';

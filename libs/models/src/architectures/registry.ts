/**
 * The model families by HF `model_type`, as transformers.js's registry: config.json
 * parsing (config/parse.ts) and the forward pass (model/load.ts) both look a model up
 * here. Adding a family = a folder named after its model_type (config.ts: the config.json
 * reader and its ArchConfig; weights.ts: checkpoint names -> our params; index.ts: the
 * decoder, runtime inputs, unembedding and the Architecture) and its line here (with the
 * import). config/index.ts re-exports the family's config type for the public API.
 */
import type { Architecture, ArchConfig } from './common/types';
import { gpt2 } from './gpt2';
import { gptNeox } from './gpt_neox';
import { llama } from './llama';
import { gemma } from './gemma';
import { phi } from './phi';
import { opt } from './opt';
import { gptNeo } from './gpt_neo';
import { gptj } from './gptj';
import { bloom } from './bloom';
import { qwen3 } from './qwen3';
import { gemma2 } from './gemma2';
import { phi3 } from './phi3';

/** model_type -> family, in the order messages list them. */
const FAMILIES = {
  gpt2,
  gpt_neox: gptNeox,
  llama,
  mistral: llama,
  qwen2: llama,
  gemma,
  phi,
  opt,
  gpt_neo: gptNeo,
  gptj,
  bloom,
  qwen3,
  gemma2,
  phi3,
};

/** `model_type` values with a family here. */
export type ModelType = keyof typeof FAMILIES;

/** A normalised model config (one family's `readConfig` result); switch on `modelType` for the family fields. */
export type ModelConfig = ReturnType<(typeof FAMILIES)[ModelType]['readConfig']>;

// Method parameters are checked bivariantly, so families with a wider config (an ArchConfig
// extension) sit in the same map.
export const architectures: ReadonlyMap<string, Architecture<ArchConfig>> = new Map(Object.entries(FAMILIES));

export const supportedModelTypes = (): string[] => [...architectures.keys()].sort();

export function architectureFor(modelType: string): Architecture<ArchConfig> {
  const arch = architectures.get(modelType);
  if (!arch) throw new Error(`model_type "${modelType}" is not supported; supported: ${supportedModelTypes().join(', ')}`);
  return arch;
}

/**
 * From the parsed HF config to the fields its family's forward reads, refusing what the
 * family does not implement (UnsupportedModelError, the message starting with `file`).
 */
export function archConfigFrom(c: ModelConfig, file = 'config.json'): ArchConfig {
  return architectureFor(c.modelType).archConfig(c, file);
}

/**
 * Architectures by HF `model_type`. Adding a family = a folder with an `Architecture`
 * and one line here.
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

// Method parameters are checked bivariantly, so families with a wider config (an ArchConfig
// extension filled in by archConfigFrom) sit in the same list.
const all: Architecture<ArchConfig>[] = [gpt2, gptNeox, llama, gemma, phi, opt, gptNeo, gptj, bloom, qwen3, gemma2, phi3];

export const architectures: ReadonlyMap<string, Architecture<ArchConfig>> = new Map(
  all.flatMap((a) => a.modelTypes.map((t) => [t, a] as const)),
);

export const supportedModelTypes = (): string[] => [...architectures.keys()].sort();

export function architectureFor(modelType: string): Architecture<ArchConfig> {
  const arch = architectures.get(modelType);
  if (!arch) throw new Error(`model_type "${modelType}" is not supported; supported: ${supportedModelTypes().join(', ')}`);
  return arch;
}

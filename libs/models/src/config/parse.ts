/** Loading `config.json` into a {@link ModelConfig}. */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from './errors.js';
import { ConfigFields, describe } from '../architectures/common/configFields';
import { architectures, type ModelConfig } from '../architectures/registry';

/**
 * Model types accepted by default: every family of the registry. Narrow it per call with
 * `supportedModelTypes`.
 */
export const SUPPORTED_MODEL_TYPES: readonly string[] = [...architectures.keys()];

export interface ParseConfigOptions {
  /** Model types to accept (default {@link SUPPORTED_MODEL_TYPES}). */
  supportedModelTypes?: readonly string[];
  /** Label for error messages (default 'config.json'; {@link loadModelConfig} sets `folder/config.json`). */
  file?: string;
}

/** Normalises a parsed config.json object. Throws {@link ConfigError}. */
export function parseModelConfig(json: unknown, opts: ParseConfigOptions = {}): ModelConfig {
  const file = opts.file ?? 'config.json';
  const supported = opts.supportedModelTypes ?? SUPPORTED_MODEL_TYPES;
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ConfigError('invalid', file, undefined, `must be a JSON object, got ${describe(json)}`);
  }
  const raw = json as Record<string, unknown>;
  const type = raw.model_type;
  if (type === undefined || type === null) {
    throw new ConfigError('invalid', file, 'model_type', `no "model_type" field (supported: ${supported.join(', ')})`);
  }
  if (typeof type !== 'string') {
    throw new ConfigError('invalid', file, 'model_type', `field "model_type" must be a string, got ${describe(type)}`);
  }
  if (!supported.includes(type)) {
    throw new ConfigError('unsupported', file, 'model_type', `model_type "${type}" is not supported (supported: ${supported.join(', ')})`);
  }
  const family = architectures.get(type);
  if (!family) {
    throw new ConfigError('unsupported', file, 'model_type', `model_type "${type}" has no config parser (parsers exist for: ${[...architectures.keys()].join(', ')})`);
  }
  return family.readConfig(new ConfigFields(raw, file), type) as ModelConfig;
}

/**
 * Reads and normalises `config.json` from a model folder (or a config file path).
 * Throws {@link ConfigError}: `not_found` when missing, `invalid` for bad JSON or fields,
 * `unsupported` for an unknown model type.
 */
export function loadModelConfig(path: string, opts: Omit<ParseConfigOptions, 'file'> = {}): ModelConfig {
  let file = path;
  try {
    if (statSync(path).isDirectory()) file = join(path, 'config.json');
  } catch {
    // Reported below as a missing config.
  }
  const label = `${basename(dirname(file))}/${basename(file)}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError('not_found', label, undefined, `missing (looked for ${file})`, { cause: e });
    throw new ConfigError('invalid', label, undefined, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError('invalid', label, undefined, `not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return parseModelConfig(json, { ...opts, file: label });
}

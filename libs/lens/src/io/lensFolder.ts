/**
 * Lens folders: `config.json` + `params.pt` (the original's pair) + `params.safetensors`
 * (ours, same keys). Translator i is nn.Linear(d, d): `{i}.weight` [d, d] in out x in
 * layout (h' = h + h W^T + b) and `{i}.bias` [d], for i in 0..L-1.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { syncDir, tempPathFor, type StateDictMetadata, type TorchReadLimits } from '@tuned-lens/formats';
import { readLensConfig, writeLensConfig, type LensConfig } from './config.js';
import { LensIOError, withFile } from './errors.js';
import { PARAMS_PT, PARAMS_SAFETENSORS, openLensParams, writeLensParams, type LensDType, type LensParamsFile, type LensTensorInfo, type LensTensorInput } from './params.js';

/** The config file name of a lens folder. */
export const CONFIG_JSON = 'config.json';

/** One layer's affine translator. */
export interface Translator {
  /** [d, d] row-major, nn.Linear layout (out x in). */
  weight: Float32Array;
  /** [d], or null when the config says `bias: false`. */
  bias: Float32Array | null;
}

/** A lens read from a folder. */
export interface LensFolder {
  config: LensConfig;
  /** translators[i] is for layer i, i in 0..L-1. */
  translators: Translator[];
  /** Ignored config keys and other oddities worth logging. */
  warnings: string[];
  /** The params file read (params.safetensors if present, else params.pt). */
  paramsFile: string;
  /** The dtype the weights were stored in. */
  dtype: LensDType;
}

/** A lens to write. */
export interface LensToWrite {
  config: LensConfig;
  translators: readonly Translator[];
}

export interface WriteLensFolderOptions {
  /** Storage dtype of both params files (default 'F32'). */
  dtype?: LensDType;
}

/**
 * Reads a lens folder: config.json, then params.safetensors if present, else params.pt.
 * Every layer must have exactly `{i}.weight` [d, d] (and `{i}.bias` [d] when the config
 * has bias), no other tensors.
 * @throws LensIOError naming the file and, for content problems, the tensors at fault
 */
export function readLensFolder(dir: string, limits: TorchReadLimits = {}): LensFolder {
  const { config, warnings, paramsFile, params } = openLensFolder(dir, limits);
  try {
    const tensors = params.readAll();
    const translators = Array.from({ length: config.numHiddenLayers }, (_, i) => ({
      weight: tensors.get(`${i}.weight`)!.data,
      bias: config.bias ? tensors.get(`${i}.bias`)!.data : null,
    }));
    return { config, translators, warnings, paramsFile, dtype: params.tensors.get('0.weight')!.dtype };
  } finally {
    params.close();
  }
}

/**
 * Checks a lens folder as {@link readLensFolder} would read it (config, the params file's
 * header or archive directory, every tensor's name, dtype, shape and extent inside the
 * file) without decoding any weight: what a listing of lenses can afford per folder. A
 * truncated params file fails here, not at its first use.
 * @throws LensIOError as readLensFolder
 */
export function checkLensFolder(dir: string, limits: TorchReadLimits = {}): { config: LensConfig; warnings: string[] } {
  const { config, warnings, params } = openLensFolder(dir, limits);
  params.close();
  return { config, warnings };
}

/** The config and the opened params file of a lens folder, checked against each other (no tensor decoded). */
function openLensFolder(dir: string, limits: TorchReadLimits): { config: LensConfig; warnings: string[]; paramsFile: string; params: LensParamsFile } {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    throw withFile(dir, e);
  }
  if (!isDir) throw new LensIOError('invalid', dir, 'is not a folder (a lens folder holds config.json and params.pt / params.safetensors)');

  const { config, warnings } = readLensConfig(join(dir, CONFIG_JSON));
  const st = join(dir, PARAMS_SAFETENSORS);
  const pt = join(dir, PARAMS_PT);
  const hasSt = existsSync(st);
  const hasPt = existsSync(pt);
  if (!hasSt && !hasPt) throw new LensIOError('not_found', dir, `no ${PARAMS_SAFETENSORS} or ${PARAMS_PT} in the lens folder`);
  const paramsFile = hasSt ? st : pt;
  if (hasSt && hasPt && statSync(pt).mtimeMs > statSync(st).mtimeMs + 1000) {
    // Reading the safetensors copy when someone replaced params.pt would silently use stale weights.
    warnings.push(`${PARAMS_PT} is newer than ${PARAMS_SAFETENSORS}; reading ${PARAMS_SAFETENSORS} (delete it if it is stale)`);
  }
  const params = openLensParams(paramsFile, limits);
  try {
    // Names and shapes first: a wrong config fails before any tensor data is decoded.
    checkAgainstConfig(params.tensors, config, paramsFile);
  } catch (e) {
    params.close();
    throw e;
  }
  return { config, warnings, paramsFile, params };
}

/**
 * Writes config.json, params.pt and params.safetensors. A new folder appears all at once
 * (written as a hidden sibling, then renamed); in an existing folder each file is
 * replaced atomically, params first and config.json last.
 * @returns the files written
 */
export function writeLensFolder(dir: string, lens: LensToWrite, opts: WriteLensFolderOptions = {}): string[] {
  const tensors = stateDictOf(lens, dir);
  const write = (target: string): void => {
    writeLensParams(target, tensors, { format: 'both', dtype: opts.dtype ?? 'F32', stateDictMetadata: moduleListMetadata(lens.config.numHiddenLayers) });
    writeLensConfig(join(target, CONFIG_JSON), lens.config);
  };
  if (existsSync(dir)) {
    write(dir);
  } else {
    const parent = dirname(dir);
    const tmp = tempPathFor(dir);
    try {
      mkdirSync(parent, { recursive: true });
      write(tmp);
      renameSync(tmp, dir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw withFile(dir, e, 'cannot write: ');
    }
    syncDir(parent);
  }
  return [join(dir, PARAMS_PT), join(dir, PARAMS_SAFETENSORS), join(dir, CONFIG_JSON)];
}

/**
 * torch's `_metadata` of `nn.ModuleList([nn.Linear] * L).state_dict()`: version 1 for the
 * list ('') and each child ('0' ... 'L-1'). Written so our params.pt pickles exactly as
 * the original's `layer_translators.state_dict()` does.
 */
export function moduleListMetadata(layers: number): StateDictMetadata {
  return [['', { version: 1 }], ...Array.from({ length: layers }, (_, i) => [String(i), { version: 1 }] as const)];
}

/** Checks the translators against the config; returns the state dict in torch's order. */
function stateDictOf(lens: LensToWrite, dir: string): Map<string, LensTensorInput> {
  const { config, translators } = lens;
  const fail = (reason: string): never => {
    throw new LensIOError('invalid', dir, reason);
  };
  const d = config.dModel;
  if (translators.length !== config.numHiddenLayers) fail(`config has num_hidden_layers ${config.numHiddenLayers} but ${translators.length} translators were given`);
  const out = new Map<string, LensTensorInput>();
  translators.forEach((t, i) => {
    if (!(t.weight instanceof Float32Array) || t.weight.length !== d * d) fail(`translator ${i}: weight must be a Float32Array of d_model^2 = ${d * d} values, got ${t.weight?.length}`);
    out.set(`${i}.weight`, { shape: [d, d], data: t.weight });
    if (config.bias) {
      if (!(t.bias instanceof Float32Array) || t.bias.length !== d) fail(`translator ${i}: bias must be a Float32Array of d_model = ${d} values (config has bias: true), got ${t.bias === null ? 'null' : t.bias?.length}`);
      out.set(`${i}.bias`, { shape: [d], data: t.bias as Float32Array });
    } else if (t.bias !== null) {
      fail(`translator ${i} has a bias but the config says bias: false`);
    }
  });
  return out;
}

/** Every layer's tensors, nothing else, with the shapes the config implies. */
function checkAgainstConfig(tensors: ReadonlyMap<string, LensTensorInfo>, config: LensConfig, file: string): void {
  const d = config.dModel;
  const L = config.numHiddenLayers;
  const expected = new Map<string, number[]>();
  for (let i = 0; i < L; i++) {
    expected.set(`${i}.weight`, [d, d]);
    if (config.bias) expected.set(`${i}.bias`, [d]);
  }
  const missing = [...expected.keys()].filter((k) => !tensors.has(k));
  const extra = [...tensors.keys()].filter((k) => !expected.has(k));
  if (missing.length > 0 || extra.length > 0) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing ${list(missing)}`);
    if (extra.length > 0) parts.push(`unexpected ${list(extra)}`);
    const hint = !config.bias && extra.some((k) => k.endsWith('.bias'))
      ? ' (config.json says bias: false but the file has biases)'
      : extra.some((k) => /^\d+\.weight$/.test(k)) ? ` (config.json says num_hidden_layers ${L}: translators 0..${L - 1})` : '';
    throw new LensIOError('invalid', file, `tensors do not match the config: ${parts.join('; ')}${hint}`);
  }
  for (const [name, shape] of expected) {
    const t = tensors.get(name)!;
    if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
      throw new LensIOError('invalid', file, `tensor ${JSON.stringify(name)} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] (d_model ${d} in config.json)`);
    }
  }
}

function list(names: string[]): string {
  const shown = names.slice(0, 8).map((n) => JSON.stringify(n)).join(', ');
  return names.length > 8 ? `${shown} and ${names.length - 8} more` : shown;
}

/**
 * A lens folder's `config.json`, in the original package's layout (TunedLensConfig):
 *
 *   {"base_model_name_or_path": str, "d_model": int, "num_hidden_layers": int,
 *    "bias": true, "base_model_revision": null, "unembed_hash": str | null,
 *    "lens_type": "linear_tuned_lens"}
 *
 * plus our own key `"tuned_lens_ts": {"version": 1, "unembed_sha256": hex | null}`. The
 * original ignores unknown keys with a warning, so it still loads our files; we do the
 * same for its future keys. Missing optional fields take the original's defaults;
 * missing required ones, wrong types and another lens_type are errors naming the field.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '@tuned-lens/formats';
import { LensIOError, asLensIO, withFile } from './errors.js';

/** The only lens type there is (the original's default and only implementation). */
export const LINEAR_TUNED_LENS = 'linear_tuned_lens';
/** Our extension key in config.json. */
export const TUNED_LENS_TS_KEY = 'tuned_lens_ts';
/** Version of our extension block this code writes. */
export const TUNED_LENS_TS_CONFIG_VERSION = 1;

/** A lens config, camel-cased; see the file comment for the JSON names. */
export interface LensConfig {
  /** The base model the lens was trained for (HF id or path). */
  baseModelNameOrPath: string;
  /** Hidden size d. */
  dModel: number;
  /** L: the number of translators (one per block, layers 0..L-1). */
  numHiddenLayers: number;
  /** Whether translators have a bias (the original always writes true). */
  bias: boolean;
  baseModelRevision: string | null;
  /**
   * The original's hash: sha256 of NumPy's abbreviated printout of W_U. Kept as an
   * opaque string; compare {@link unembedSha256} instead.
   */
  unembedHash: string | null;
  lensType: typeof LINEAR_TUNED_LENS;
  /** Ours: sha256 (lowercase hex) over the exact bytes of W_U, or null if unknown. */
  unembedSha256: string | null;
}

/** A parsed config and what was ignored in it. */
export interface ParsedLensConfig {
  config: LensConfig;
  /** One line per ignored key or oddity (the original logs these as warnings). */
  warnings: string[];
}

/** Keys of the original's TunedLensConfig, in its field (and JSON) order. */
const ORIGINAL_KEYS = ['base_model_name_or_path', 'd_model', 'num_hidden_layers', 'bias', 'base_model_revision', 'unembed_hash', 'lens_type'] as const;

/** Config keys of tuned-lens v0.0.x lenses, which used another parameter layout. */
const LEGACY_KEYS = ['include_input', 'sublayers', 'rank', 'identity_init', 'orthogonal', 'include_final', 'layer_norm', 'mlp_hidden_sizes', 'reuse_unembedding', 'extra_layers'];

/**
 * A config with the original's defaults for the optional fields.
 * @throws LensIOError `invalid` when a field is out of range
 */
export function makeLensConfig(
  fields: Pick<LensConfig, 'baseModelNameOrPath' | 'dModel' | 'numHiddenLayers'> & Partial<LensConfig>,
): LensConfig {
  const config: LensConfig = {
    bias: true,
    baseModelRevision: null,
    unembedHash: null,
    lensType: LINEAR_TUNED_LENS,
    unembedSha256: null,
    ...fields,
  };
  return parseLensConfig(lensConfigToObject(config), '').config;
}

/**
 * Validates a parsed config.json. `source` names the file in errors.
 * @throws LensIOError `invalid` (a field missing or of the wrong type, naming it) or
 *   `unsupported` (another lens_type)
 */
export function parseLensConfig(json: unknown, source = 'config.json'): ParsedLensConfig {
  const fail = (reason: string, kind: 'invalid' | 'unsupported' = 'invalid'): never => {
    throw new LensIOError(kind, source, reason);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(`must be a JSON object, got ${describe(json)}`);
  const obj = json as Record<string, unknown>;
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(obj, k);
  const warnings: string[] = [];

  const missing = ORIGINAL_KEYS.slice(0, 3).filter((k) => !has(k));
  if (missing.length > 0) {
    const legacy = LEGACY_KEYS.filter(has);
    if (legacy.length > 0) {
      fail(`this is a tuned-lens v0.0.x config (keys ${legacy.join(', ')}), an older lens layout that is not supported; use a lens migrated to the current format`, 'unsupported');
    }
    fail(`missing required field${missing.length > 1 ? 's' : ''} ${missing.map((k) => JSON.stringify(k)).join(', ')}`);
  }

  const name = obj.base_model_name_or_path;
  if (typeof name !== 'string' || name === '') fail(`"base_model_name_or_path" must be a non-empty string, got ${describe(name)}`);
  const dModel = positiveInt(obj.d_model, 'd_model', fail);
  const layers = positiveInt(obj.num_hidden_layers, 'num_hidden_layers', fail);
  const bias = has('bias') ? obj.bias : true;
  if (typeof bias !== 'boolean') fail(`"bias" must be true or false, got ${describe(bias)}`);
  const revision = nullableString(obj, 'base_model_revision', fail);
  const unembedHash = nullableString(obj, 'unembed_hash', fail);
  const lensType = has('lens_type') ? obj.lens_type : LINEAR_TUNED_LENS;
  if (typeof lensType !== 'string') fail(`"lens_type" must be a string, got ${describe(lensType)}`);
  if (lensType !== LINEAR_TUNED_LENS) fail(`"lens_type" is ${JSON.stringify(lensType)}; only "${LINEAR_TUNED_LENS}" lenses are supported`, 'unsupported');

  let unembedSha256: string | null = null;
  if (has(TUNED_LENS_TS_KEY)) unembedSha256 = parseOurBlock(obj[TUNED_LENS_TS_KEY], fail, warnings);

  for (const key of Object.keys(obj)) {
    if (!(ORIGINAL_KEYS as readonly string[]).includes(key) && key !== TUNED_LENS_TS_KEY) warnings.push(`Ignoring config key '${key}'`);
  }
  return {
    config: {
      baseModelNameOrPath: name as string,
      dModel,
      numHiddenLayers: layers,
      bias: bias as boolean,
      baseModelRevision: revision,
      unembedHash,
      lensType: LINEAR_TUNED_LENS,
      unembedSha256,
    },
    warnings,
  };
}

/** Reads and validates `path` (a config.json). */
export function readLensConfig(path: string): ParsedLensConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw withFile(path, e, (e as NodeJS.ErrnoException).code === 'ENOENT' ? '' : 'cannot read: ');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LensIOError('corrupt', path, `not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return parseLensConfig(json, path);
}

/** The JSON object of a config: the original's keys in its order, then ours. */
export function lensConfigToObject(config: LensConfig): Record<string, unknown> {
  return {
    base_model_name_or_path: config.baseModelNameOrPath,
    d_model: config.dModel,
    num_hidden_layers: config.numHiddenLayers,
    bias: config.bias,
    base_model_revision: config.baseModelRevision,
    unembed_hash: config.unembedHash,
    lens_type: config.lensType,
    [TUNED_LENS_TS_KEY]: { version: TUNED_LENS_TS_CONFIG_VERSION, unembed_sha256: config.unembedSha256 },
  };
}

/**
 * config.json text as Python's `json.dump(config.to_dict(), f)` writes it: one line,
 * ", " and ": " separators, non-ASCII escaped, no trailing newline.
 */
export function lensConfigToJson(config: LensConfig): string {
  return pythonJson(lensConfigToObject(config));
}

/** Validates `config` and writes it to `path` atomically. */
export function writeLensConfig(path: string, config: LensConfig): void {
  const text = lensConfigToJson(config);
  parseLensConfig(JSON.parse(text), path); // refuse to write what we would refuse to read
  asLensIO(path, () => writeFileAtomic(path, (sink) => sink.write(Buffer.from(text, 'utf8'))));
}

/** `json.dumps` with default settings for plain JSON values (ensure_ascii, ", ", ": "). */
function pythonJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // Python escapes everything outside printable ASCII (DEL too) as lowercase \uXXXX.
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  return `{${Object.entries(value).map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(', ')}}`;
}

function parseOurBlock(block: unknown, fail: (reason: string) => never, warnings: string[]): string | null {
  const key = TUNED_LENS_TS_KEY;
  if (block === null || typeof block !== 'object' || Array.isArray(block)) return fail(`"${key}" must be an object, got ${describe(block)}`);
  const b = block as Record<string, unknown>;
  const version = b.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) fail(`"${key}.version" must be a positive integer, got ${describe(version)}`);
  if ((version as number) > TUNED_LENS_TS_CONFIG_VERSION) {
    warnings.push(`"${key}" has version ${version}, newer than ${TUNED_LENS_TS_CONFIG_VERSION}: reading only the fields this version knows`);
  }
  const sha = b.unembed_sha256 ?? null;
  if (sha !== null && (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha))) {
    fail(`"${key}.unembed_sha256" must be 64 lowercase hex digits or null, got ${describe(sha)}`);
  }
  for (const k of Object.keys(b)) if (k !== 'version' && k !== 'unembed_sha256') warnings.push(`Ignoring config key '${key}.${k}'`);
  return sha as string | null;
}

function positiveInt(v: unknown, field: string, fail: (reason: string) => never): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) fail(`"${field}" must be a positive integer, got ${describe(v)}`);
  return v as number;
}

function nullableString(obj: Record<string, unknown>, field: string, fail: (reason: string) => never): string | null {
  const v = Object.prototype.hasOwnProperty.call(obj, field) ? obj[field] : null;
  if (v !== null && typeof v !== 'string') fail(`"${field}" must be a string or null, got ${describe(v)}`);
  return v as string | null;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

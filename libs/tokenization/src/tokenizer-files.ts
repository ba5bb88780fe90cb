/**
 * Reading a Hugging Face tokenizer folder from disk: `tokenizer.json` (required) and the
 * optional `tokenizer_config.json` and `special_tokens_map.json`, as parsed JSON.
 * Shape checks beyond "is JSON" belong to {@link LoadedTokenizer.fromJson}.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { TokenizerError } from './errors';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const SPECIAL_TOKENS_MAP_FILE = 'special_tokens_map.json';

/** Parsed files of one tokenizer folder; optional files are `undefined` when absent. */
export interface TokenizerFiles {
  /** The folder, e.g. `/models/gpt2`. */
  dir: string;
  tokenizerPath: string;
  tokenizerJson: unknown;
  /** sha256 (hex) of tokenizer.json's bytes, so two services can check they load the same tokenizer. */
  tokenizerSha256: string;
  configPath: string;
  config: unknown;
  specialTokensMapPath: string;
  specialTokensMap: unknown;
}

/**
 * @param path a tokenizer folder, or the path of a `tokenizer.json` inside one (its
 *             siblings are then read from the same folder).
 * @throws TokenizerError `not_found` for a missing folder / tokenizer.json, `invalid` for
 *         unreadable or non-JSON files (the parser's message is included).
 */
export async function readTokenizerFiles(path: string): Promise<TokenizerFiles> {
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch (e) {
    throw fsError(e, path, 'tokenizer folder');
  }
  const dir = isFile ? dirname(path) : path;
  const tokenizerPath = isFile ? path : join(dir, TOKENIZER_FILE);
  const configPath = join(dir, TOKENIZER_CONFIG_FILE);
  const specialTokensMapPath = join(dir, SPECIAL_TOKENS_MAP_FILE);
  const [tokenizer, config, specialTokensMap] = await Promise.all([
    readJson(tokenizerPath, true),
    readJson(configPath, false),
    readJson(specialTokensMapPath, false),
  ]);
  return {
    dir,
    tokenizerPath,
    tokenizerJson: tokenizer?.json,
    tokenizerSha256: tokenizer?.sha256 ?? '',
    configPath,
    config: config?.json,
    specialTokensMapPath,
    specialTokensMap: specialTokensMap?.json,
  };
}

/** Parsed JSON of `path` and the hash of its bytes; `undefined` when an optional file does not exist. */
async function readJson(path: string, required: boolean): Promise<{ json: unknown; sha256: string } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(e, path, basename(path));
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  try {
    return { json: JSON.parse(bytes.toString('utf8')), sha256 };
  } catch (e) {
    throw new TokenizerError('invalid', `not valid JSON (${(e as Error).message})`, path, { cause: e });
  }
}

function fsError(e: unknown, path: string, what: string): TokenizerError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new TokenizerError('not_found', `${what} not found`, path, { cause: e });
  }
  return new TokenizerError('invalid', `cannot read ${what} (${code ?? (e as Error).message})`, path, { cause: e });
}

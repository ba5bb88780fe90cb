/** Loading a tokenizer folder from disk into a {@link LoadedTokenizer}. */
import { basename } from 'node:path';
import { LoadedTokenizer } from './loaded-tokenizer';
import { readTokenizerFiles } from './tokenizer-files';

export interface LoadTokenizerOptions {
  /** Display name; default the folder name. */
  name?: string;
}

/**
 * Loads a Hugging Face tokenizer folder (`tokenizer.json`, optional
 * `tokenizer_config.json` and `special_tokens_map.json`).
 *
 * @param path the folder, or the path of its tokenizer.json.
 * @throws TokenizerError (`not_found` / `invalid`) naming the file at fault.
 */
export async function loadTokenizer(path: string, options: LoadTokenizerOptions = {}): Promise<LoadedTokenizer> {
  const files = await readTokenizerFiles(path);
  return LoadedTokenizer.fromJson({
    tokenizerJson: files.tokenizerJson,
    config: files.config,
    specialTokensMap: files.specialTokensMap,
    name: options.name ?? basename(files.dir),
    tokenizerSha256: files.tokenizerSha256,
    paths: { tokenizer: files.tokenizerPath, config: files.configPath, specialTokensMap: files.specialTokensMapPath },
  });
}

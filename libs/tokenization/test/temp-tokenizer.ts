/**
 * Test helper: temporary tokenizer folders built from the fixture tokenizer, with
 * selected files replaced or edited, so error and special-token cases use real files.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { smallLmDir } from '@tuned-lens/fixtures';

export const fixtureTokenizerJson = (): Record<string, unknown> =>
  JSON.parse(readFileSync(join(smallLmDir, 'tokenizer.json'), 'utf8'));
export const fixtureConfig = (): Record<string, unknown> =>
  JSON.parse(readFileSync(join(smallLmDir, 'tokenizer_config.json'), 'utf8'));

/** File name -> contents (objects are JSON-serialised, strings written as they are). */
export type FolderFiles = Record<string, string | object>;

/** Creates a temp folder with `files`; `cleanup` removes it. */
export function tempFolder(files: FolderFiles): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tl-tok-'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The fixture tokenizer turned Llama-style: a `<s>` BOS (id 4096) that the
 * post-processor puts in front of every encoding when special tokens are added.
 */
export function llamaStyleFiles(): FolderFiles {
  const json = fixtureTokenizerJson();
  (json.added_tokens as object[]).push({
    id: 4096, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  json.post_processor = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [4096], tokens: ['<s>'] } },
  };
  const config = { ...fixtureConfig(), bos_token: { __type: 'AddedToken', content: '<s>', special: true }, add_bos_token: true };
  return { 'tokenizer.json': json, 'tokenizer_config.json': config };
}

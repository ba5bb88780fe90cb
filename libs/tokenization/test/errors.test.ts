// Error cases: every message names the file at fault, errors are typed.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { smallLmDir } from '@tuned-lens/fixtures';
import {
  decodeUtf8Strict, firstInvalidUtf8Offset, InvalidUtf8Error, loadTokenizer, TokenIdError, TokenizerError,
} from '@tuned-lens/tokenization';
import { fixtureConfig, fixtureTokenizerJson, tempFolder, type FolderFiles } from './temp-tokenizer';

const folders: (() => void)[] = [];
after(() => folders.forEach((c) => c()));
function folder(files: FolderFiles): string {
  const f = tempFolder(files);
  folders.push(f.cleanup);
  return f.dir;
}

/** Asserts `fn` rejects with a TokenizerError of `kind` whose message contains every `parts`. */
async function rejectsWith(fn: () => Promise<unknown>, kind: 'not_found' | 'invalid', file: string, ...parts: string[]) {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof TokenizerError, `expected TokenizerError, got ${String(e)}`);
    assert.equal(e.kind, kind);
    assert.equal(e.file, file);
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    for (const p of parts) assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
    return true;
  });
}

describe('loading errors', () => {
  test('missing folder: not_found', async () => {
    const dir = join(folder({}), 'nope');
    await rejectsWith(() => loadTokenizer(dir), 'not_found', dir, 'tokenizer folder not found');
  });

  test('folder without tokenizer.json: not_found naming the file', async () => {
    const dir = folder({ 'tokenizer_config.json': fixtureConfig() });
    await rejectsWith(() => loadTokenizer(dir), 'not_found', join(dir, 'tokenizer.json'), 'tokenizer.json not found');
  });

  test('tokenizer.json that is not JSON: invalid, with the parser message', async () => {
    const dir = folder({ 'tokenizer.json': '{"model": {' });
    let parserMessage = '';
    try { JSON.parse('{"model": {'); } catch (e) { parserMessage = (e as Error).message; }
    await rejectsWith(() => loadTokenizer(dir), 'invalid', join(dir, 'tokenizer.json'), `not valid JSON (${parserMessage})`);
  });

  test('JSON that is not a tokenizer (no model): invalid', async () => {
    const dir = folder({ 'tokenizer.json': { version: '1.0', vocab: {} } });
    await rejectsWith(() => loadTokenizer(dir), 'invalid', join(dir, 'tokenizer.json'), 'not a tokenizer', '"model"');
  });

  test('JSON array instead of an object: invalid', async () => {
    const dir = folder({ 'tokenizer.json': [1, 2] });
    await rejectsWith(() => loadTokenizer(dir), 'invalid', join(dir, 'tokenizer.json'), 'not a tokenizer', 'an array');
  });

  test('unsupported model type: invalid, naming the type', async () => {
    const json = fixtureTokenizerJson();
    json.model = { type: 'WordLevel', vocab: { a: 0 }, unk_token: 'a' };
    const dir = folder({ 'tokenizer.json': json });
    await rejectsWith(() => loadTokenizer(dir), 'invalid', join(dir, 'tokenizer.json'), 'unsupported model type "WordLevel"', 'BPE');
  });

  test('a pipeline part the runtime does not know: invalid', async () => {
    const json = fixtureTokenizerJson();
    json.pre_tokenizer = { type: 'NoSuchPreTokenizer' };
    const dir = folder({ 'tokenizer.json': json });
    await rejectsWith(() => loadTokenizer(dir), 'invalid', join(dir, 'tokenizer.json'), 'cannot build the tokenizer');
  });

  test('malformed tokenizer_config.json: invalid, naming that file', async () => {
    const dir = folder({ 'tokenizer.json': fixtureTokenizerJson(), 'tokenizer_config.json': 'nope' });
    await rejectsWith(() => loadTokenizer(dir), 'invalid', join(dir, 'tokenizer_config.json'), 'not valid JSON');
  });

  test('special_tokens_map.json that is not an object: invalid', async () => {
    const dir = folder({ 'tokenizer.json': fixtureTokenizerJson(), 'special_tokens_map.json': '"x"' });
    await rejectsWith(() => loadTokenizer(dir), 'invalid', join(dir, 'special_tokens_map.json'), 'expected a JSON object');
  });

  test('unusable model_max_length: invalid', async () => {
    const dir = folder({ 'tokenizer.json': fixtureTokenizerJson(), 'tokenizer_config.json': { model_max_length: -3 } });
    await rejectsWith(() => loadTokenizer(dir), 'invalid', join(dir, 'tokenizer_config.json'), 'model_max_length', '-3');
  });
});

const tok = await loadTokenizer(smallLmDir);
describe('decode rejects ids outside the vocabulary', () => {
  const cases: { ids: number[]; id: number; position: number; text: string }[] = [
    { ids: [72, 4096], id: 4096, position: 1, text: 'out of range for vocab size 4096' },
    { ids: [-1], id: -1, position: 0, text: 'out of range for vocab size 4096' },
    { ids: [72, 596, 1.5], id: 1.5, position: 2, text: 'not an integer' },
    { ids: [Number.NaN], id: Number.NaN, position: 0, text: 'not an integer' },
  ];
  for (const c of cases) {
    test(`id ${c.id} at ${c.position}`, () => {
      assert.throws(() => tok.decode(c.ids), (e: unknown) => {
        assert.ok(e instanceof TokenIdError && e instanceof RangeError);
        assert.equal(e.position, c.position);
        assert.equal(e.vocabSize, 4096);
        assert.ok(e.message.includes(`token id ${c.id} at position ${c.position}`), e.message);
        assert.ok(e.message.includes(c.text), e.message);
        return true;
      });
    });
  }
});

describe('decodeUtf8Strict', () => {
  test('valid UTF-8 decodes', () => {
    assert.equal(decodeUtf8Strict(Buffer.from('naïve 日本 😀')), 'naïve 日本 😀');
    assert.equal(decodeUtf8Strict(new Uint8Array(0)), '');
  });
  const bad: { name: string; bytes: number[]; offset: number }[] = [
    { name: 'byte 0xff', bytes: [0x61, 0xff, 0x62], offset: 1 },
    { name: 'stray continuation byte', bytes: [0x61, 0x62, 0x80], offset: 2 },
    { name: 'overlong encoding of "/"', bytes: [0xc0, 0xaf], offset: 0 },
    { name: 'UTF-16 surrogate', bytes: [0x61, 0xed, 0xa0, 0x80], offset: 1 },
    { name: 'sequence cut off at the end', bytes: [0x61, 0xe6, 0x97], offset: 1 },
    { name: 'above U+10FFFF', bytes: [0xf4, 0x90, 0x80, 0x80], offset: 0 },
  ];
  for (const c of bad) {
    test(`rejects ${c.name} with its offset`, () => {
      assert.throws(() => decodeUtf8Strict(Uint8Array.from(c.bytes), 'request.text'), (e: unknown) => {
        assert.ok(e instanceof InvalidUtf8Error);
        assert.equal(e.byteOffset, c.offset);
        assert.equal(e.message, `request.text is not valid UTF-8: bad byte sequence at offset ${c.offset} of ${c.bytes.length}`);
        return true;
      });
    });
  }
  test('the offset finder agrees with TextDecoder on random bytes', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true });
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let n = 0; n < 3000; n++) {
      const bytes = Uint8Array.from({ length: 1 + (n % 9) }, () => (n % 3 === 0 ? rand() : 0x80 | (rand() & 0x7f)));
      let ok = true;
      try { fatal.decode(bytes); } catch { ok = false; }
      assert.equal(firstInvalidUtf8Offset(bytes) === -1, ok, `bytes ${Array.from(bytes)}`);
    }
  });
});

// Hand-written cases: byte-level facts checkable without the tokenizer, special-token
// handling, decode options, Llama-style BOS, config parsing.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { smallLmDir } from '@tuned-lens/fixtures';
import { loadTokenizer, LoadedTokenizer } from '@tuned-lens/tokenization';
import { fixtureConfig, fixtureTokenizerJson, llamaStyleFiles, tempFolder } from './temp-tokenizer';

const tok = await loadTokenizer(smallLmDir);
const ids = (text: string, addSpecialTokens = false) => Array.from(tok.encode(text, { addSpecialTokens }));
const utf8 = (s: string) => Array.from(Buffer.from(s, 'utf8'));

describe('encode (byte-level BPE, GPT-2 pre-tokenisation)', () => {
  // Ids 0..255 of this vocabulary are the raw bytes, and scripts absent from the English
  // training corpus never merge, so their ids are exactly their UTF-8 bytes.
  const cases: { name: string; text: string; expected: number[] }[] = [
    { name: 'empty text', text: '', expected: [] },
    { name: 'CJK falls back to bytes', text: '日本語', expected: utf8('日本語') },
    { name: 'emoji falls back to bytes', text: '😀', expected: utf8('😀') },
    { name: 'the EOS text becomes the special id', text: '<|endoftext|>', expected: [4095] },
    { name: 'EOS inside text splits it', text: 'a<|endoftext|>b', expected: [97, 4095, 98] },
    { name: 'two EOS in a row', text: '<|endoftext|><|endoftext|>', expected: [4095, 4095] },
    { name: 'known merges (regression)', text: 'Hello world', expected: [72, 596, 111, 1114] },
    { name: 'a newline is byte 10 (Ċ)', text: '\n', expected: [10] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(ids(c.text), c.expected);
      assert.equal(tok.decode(c.expected), c.text);
    });
  }

  test('a lone space before a word stays its own token (GPT-2 regex \\s+(?!\\S))', () => {
    const pieces = tok.encode('  two', { addSpecialTokens: false });
    assert.deepEqual(Array.from(pieces, (i) => tok.idToToken(i)), ['Ġ', 'Ġtwo']);
  });

  test('GPT-2 style: adding special tokens adds nothing', () => {
    assert.deepEqual(ids('Hello world', true), ids('Hello world', false));
  });

  test('addSpecialTokens defaults to true (as in transformers)', () => {
    assert.deepEqual(Array.from(tok.encode('Hello')), ids('Hello', true));
  });
});

describe('decode', () => {
  test('empty id list gives the empty string', () => {
    assert.equal(tok.decode([]), '');
    assert.equal(tok.decode(new Int32Array(0)), '');
  });
  test('skipSpecialTokens drops <|endoftext|>', () => {
    assert.equal(tok.decode([97, 4095, 98]), 'a<|endoftext|>b');
    assert.equal(tok.decode([97, 4095, 98], { skipSpecialTokens: true }), 'ab');
  });
  test('clean-up of tokenization spaces follows the config (false here) unless asked', () => {
    const x = ids('x ,y .');
    assert.equal(tok.decode(x), 'x ,y .');
    assert.equal(tok.decode(x, { cleanUpTokenizationSpaces: true }), 'x,y.');
  });
  test('accepts plain arrays and Int32Array', () => {
    assert.equal(tok.decode(Int32Array.from([72, 596, 111, 1114])), 'Hello world');
  });
});

describe('Llama-style tokenizer (TemplateProcessing BOS)', () => {
  const folder = tempFolder(llamaStyleFiles());
  after(folder.cleanup);

  test('BOS is added only when special tokens are requested', async () => {
    const llama = await loadTokenizer(folder.dir);
    assert.equal(llama.bosToken, '<s>');
    assert.equal(llama.bosTokenId, 4096);
    assert.equal(llama.vocabSize, 4097);
    assert.deepEqual(Array.from(llama.encode('Hello world')), [4096, 72, 596, 111, 1114]);
    assert.deepEqual(Array.from(llama.encode('Hello world', { addSpecialTokens: false })), [72, 596, 111, 1114]);
    assert.equal(llama.decode([4096, 72, 596, 111, 1114], { skipSpecialTokens: true }), 'Hello world');
  });
});

describe('config parsing', () => {
  test("HF's 1e30 model_max_length sentinel means no limit", () => {
    const t = LoadedTokenizer.fromJson({ tokenizerJson: fixtureTokenizerJson(), config: { ...fixtureConfig(), model_max_length: 1e30 } });
    assert.equal(t.modelMaxLength, undefined);
  });
  test('no config at all: no limit, no special tokens', () => {
    const t = LoadedTokenizer.fromJson({ tokenizerJson: fixtureTokenizerJson() });
    assert.equal(t.modelMaxLength, undefined);
    assert.equal(t.eosToken, undefined);
    assert.equal(t.eosTokenId, undefined);
    assert.equal(t.name, 'tokenizer');
  });
  test('special_tokens_map.json overrides tokenizer_config.json (as in transformers)', () => {
    const t = LoadedTokenizer.fromJson({
      tokenizerJson: fixtureTokenizerJson(),
      config: { eos_token: 'Hello' },
      specialTokensMap: { eos_token: { content: '<|endoftext|>', __type: 'AddedToken' } },
    });
    assert.equal(t.eosToken, '<|endoftext|>');
    assert.equal(t.eosTokenId, 4095);
  });
  test('name defaults to the folder name and can be overridden', async () => {
    assert.equal((await loadTokenizer(join(smallLmDir, 'tokenizer.json'))).name, 'small-lm');
    assert.equal((await loadTokenizer(smallLmDir, { name: 'x' })).name, 'x');
  });
});

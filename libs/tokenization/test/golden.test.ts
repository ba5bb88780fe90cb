// The fixture's golden encodings (exact ids of 20 validation documents, no special
// tokens added) must be reproduced id for id, and decode back to the same text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { smallLmDir } from '@tuned-lens/fixtures';
import { loadTokenizer } from '@tuned-lens/tokenization';

/** Shape of golden_encodings.json: `[{ text, ids }]`. */
type Golden = { text: string; ids: number[] }[];
const goldens: Golden = JSON.parse(readFileSync(join(smallLmDir, 'golden_encodings.json'), 'utf8'));
const tokenizer = await loadTokenizer(smallLmDir);

test('the golden file holds 20 documents', () => {
  assert.equal(goldens.length, 20);
});

goldens.forEach(({ text, ids }, i) => {
  test(`golden ${i}: encode matches exactly (${ids.length} tokens) and decodes back`, () => {
    const got = tokenizer.encode(text, { addSpecialTokens: false });
    assert.ok(got instanceof Int32Array);
    assert.deepEqual(Array.from(got), ids);
    assert.equal(tokenizer.decode(got), text);
  });
});

test('encodeBatch gives the same ids as encode, in order', () => {
  const batch = tokenizer.encodeBatch(goldens.slice(0, 5).map((g) => g.text), { addSpecialTokens: false });
  assert.deepEqual(batch.map((ids) => Array.from(ids)), goldens.slice(0, 5).map((g) => g.ids));
});

test('metadata of the fixture tokenizer', () => {
  assert.equal(tokenizer.name, 'small-lm');
  assert.equal(tokenizer.vocabSize, 4096);
  assert.equal(tokenizer.eosToken, '<|endoftext|>');
  assert.equal(tokenizer.eosTokenId, 4095);
  assert.equal(tokenizer.bosToken, '<|endoftext|>');
  assert.equal(tokenizer.bosTokenId, 4095);
  assert.equal(tokenizer.modelMaxLength, 256);
  assert.match(tokenizer.tokenizerSha256 ?? '', /^[0-9a-f]{64}$/);
});

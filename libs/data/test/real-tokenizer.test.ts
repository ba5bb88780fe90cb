// The pipeline with the real fixture tokenizer over the real validation corpus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { smallLmDir, valCorpus } from '@tuned-lens/fixtures';
import { LoadedTokenizer, loadTokenizer } from '@tuned-lens/tokenization';
import { collectChunks, readCorpus } from '@tuned-lens/data';

const tokenizer = await loadTokenizer(smallLmDir);
const EOS = 4095;
const docs: string[] = readFileSync(valCorpus, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l).text);

test('val.jsonl, maxSeqLen 256: fixed 256-token chunks whose counts add up, in well under a few seconds', async () => {
  const t0 = performance.now();
  const { chunks, summary } = await collectChunks(readCorpus(valCorpus), tokenizer, { maxSeqLen: 256 });
  const ms = performance.now() - t0;
  console.log(`val.jsonl: ${summary.documents} docs, ${summary.totalTokens} tokens, ${summary.chunks} chunks in ${ms.toFixed(0)} ms`);
  assert.ok(ms < 5000, `chunking took ${ms} ms`);

  assert.equal(summary.documents, 1035);
  assert.equal(summary.groups, 1); // 1035 < 2048 documents per group
  assert.equal(summary.chunkSize, 256);
  assert.ok(chunks.every((c) => c.ids.length === 256));
  assert.equal(chunks.length, summary.chunks);
  assert.equal(summary.chunks * 256 + summary.droppedTailTokens, summary.totalTokens);
  assert.ok(summary.droppedTailTokens > 0 && summary.droppedTailTokens <= 256);

  // The chunks are the encoding of the joined text, in order, minus the dropped tail.
  const joined = '<|endoftext|>' + docs.join('<|endoftext|>');
  const whole = tokenizer.encode(joined, { addSpecialTokens: true });
  assert.equal(summary.totalTokens, whole.length);
  assert.equal(summary.totalBytes, Buffer.byteLength(joined, 'utf8'));
  const concatenated = new Int32Array(summary.chunks * 256);
  chunks.forEach((c, i) => concatenated.set(c.ids, i * 256));
  assert.deepEqual(concatenated, whole.subarray(0, concatenated.length));

  // One EOS per document: first token, and between documents.
  assert.equal(chunks[0].ids[0], EOS);
  assert.equal(whole.filter((id) => id === EOS).length, docs.length);
  assert.equal(summary.natsToBpb, summary.totalTokens / summary.totalBytes / Math.LN2);
  assert.ok(summary.natsToBpb > 0.2 / Math.LN2 && summary.natsToBpb < 0.8 / Math.LN2);
});

test('the default maxSeqLen (2048) is capped by model_max_length (256)', async () => {
  const { summary } = await collectChunks(docs.slice(0, 50), tokenizer);
  assert.equal(summary.chunkSize, 256);
});

test('groups of 100 documents: each group drops its own tail, totals are sums over groups', async () => {
  const { chunks, summary } = await collectChunks(readCorpus(valCorpus), tokenizer, { maxSeqLen: 256, docsPerGroup: 100 });
  assert.equal(summary.groups, 11);
  let tokens = 0;
  let bytes = 0;
  let dropped = 0;
  for (let g = 0; g < 11; g++) {
    const text = '<|endoftext|>' + docs.slice(g * 100, (g + 1) * 100).join('<|endoftext|>');
    const ids = tokenizer.encode(text);
    tokens += ids.length;
    bytes += Buffer.byteLength(text);
    dropped += ids.length - Math.floor((ids.length - 1) / 256) * 256; // the last row, full or not
    const mine = chunks.filter((c) => c.group === g);
    assert.equal(mine.length, Math.ceil(ids.length / 256) - 1, `group ${g}`);
    assert.equal(mine[0].ids[0], EOS); // every group string starts with EOS
  }
  assert.deepEqual([summary.totalTokens, summary.totalBytes, summary.droppedTailTokens], [tokens, bytes, dropped]);
  assert.equal(summary.chunks * 256 + summary.droppedTailTokens, summary.totalTokens);
});

test('a Llama-style tokenizer puts its BOS only at the very start', async () => {
  const json = JSON.parse(readFileSync(join(smallLmDir, 'tokenizer.json'), 'utf8'));
  json.added_tokens.push({ id: 4096, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  json.post_processor = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [4096], tokens: ['<s>'] } },
  };
  const config = JSON.parse(readFileSync(join(smallLmDir, 'tokenizer_config.json'), 'utf8'));
  const llama = LoadedTokenizer.fromJson({ tokenizerJson: json, config: { ...config, bos_token: '<s>' } });
  const { chunks } = await collectChunks(docs.slice(0, 40), llama, { maxSeqLen: 256 });
  assert.deepEqual(Array.from(chunks[0].ids.subarray(0, 2)), [4096, EOS]);
  assert.equal(chunks.flatMap((c) => Array.from(c.ids)).filter((id) => id === 4096).length, 1);
});

test('a .jsonl.zst corpus chunks exactly like the plain file', { skip: existsSync('/usr/bin/zstd') ? false : 'zstd CLI not found at /usr/bin/zstd' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tl-zst-'));
  try {
    const zst = join(dir, 'val.jsonl.zst');
    assert.equal(spawnSync('/usr/bin/zstd', ['-q', '-f', valCorpus, '-o', zst]).status, 0);
    const plain = await collectChunks(readCorpus(valCorpus), tokenizer, { maxSeqLen: 256 });
    const compressed = await collectChunks(readCorpus(zst), tokenizer, { maxSeqLen: 256 });
    assert.deepEqual(compressed, plain);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

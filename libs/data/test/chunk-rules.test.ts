// The exact rules of the original chunk_and_tokenize, shown with a fake tokenizer whose
// ids are the characters of the text it was given.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chunkAndTokenize, ChunkingError, collectChunks, natsToBpb, planChunking, planGroupRows, spreadTotal, type ChunkEvent,
} from '@tuned-lens/data';
import { codes, FakeTokenizer, text } from './fake-tokenizer';

describe('joining documents', () => {
  test('one EOS at the very start and one between documents, none after the last; one encode per group, with special tokens', async () => {
    const tok = new FakeTokenizer({ eosToken: '|' });
    await collectChunks(['ab', 'cd', 'e'], tok, { maxSeqLen: 2 });
    assert.deepEqual(tok.calls, [{ text: '|ab|cd|e', addSpecialTokens: true }]);
  });

  test('without an EOS token the separator is the literal "<|endoftext|>" (also for an empty one)', async () => {
    for (const eos of [undefined, '']) {
      const tok = new FakeTokenizer({ eosToken: eos });
      const { summary } = await collectChunks(['ab', 'c'], tok, { maxSeqLen: 2 });
      assert.equal(tok.calls[0].text, '<|endoftext|>ab<|endoftext|>c');
      assert.equal(summary.eosText, '<|endoftext|>');
    }
  });

  test('one string per group of docsPerGroup documents, each with its own leading EOS', async () => {
    const tok = new FakeTokenizer({ eosToken: '|' });
    await collectChunks(['a', 'b', 'c', 'd', 'e'], tok, { maxSeqLen: 1, docsPerGroup: 2 });
    assert.deepEqual(tok.calls.map((c) => c.text), ['|a|b', '|c|d', '|e']);
  });
});

describe('chunks', () => {
  test('consecutive fixed-length chunks; the short last one is dropped', async () => {
    const { chunks, summary } = await collectChunks(['ab', 'cd', 'e'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 3 });
    // '|ab|cd|e' = 8 tokens -> rows '|ab', '|cd', '|e' -> the last is dropped.
    assert.deepEqual(chunks.map((c) => text(c.ids)), ['|ab', '|cd']);
    assert.ok(chunks.every((c) => c.ids instanceof Int32Array && c.ids.length === 3));
    assert.deepEqual(chunks.map((c) => c.index), [0, 1]);
    assert.equal(summary.chunks, 2);
    assert.equal(summary.droppedTailTokens, 2);
  });

  test('the tail is dropped per group (docsPerGroup 2), and a chunk never spans two groups', async () => {
    const { chunks, summary } = await collectChunks(['aaaa', 'bbbb', 'cccccc', 'd'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 4, docsPerGroup: 2 });
    // group 0: '|aaaa|bbbb' (10) -> '|aaa' 'a|bb' | 'bb' dropped
    // group 1: '|cccccc|d'  (9)  -> '|ccc' 'ccc|' | 'd'  dropped
    assert.deepEqual(chunks.map((c) => [c.group, c.indexInGroup, text(c.ids)]), [
      [0, 0, '|aaa'], [0, 1, 'a|bb'], [1, 0, '|ccc'], [1, 1, 'ccc|'],
    ]);
    assert.equal(summary.groups, 2);
    assert.equal(summary.droppedTailTokens, 2 + 1);
    assert.equal(summary.chunks * 4 + summary.droppedTailTokens, summary.totalTokens);
  });

  test('the last row is dropped even when it is full (the original does v[:-1])', async () => {
    const { chunks, summary } = await collectChunks(['abc', 'defg'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 3 });
    // '|abc|defg' = 9 tokens = 3 full rows; the third ('efg') is still dropped.
    assert.deepEqual(chunks.map((c) => text(c.ids)), ['|ab', 'c|d']);
    assert.equal(summary.droppedTailTokens, 3);
  });

  test('returnFinalBatch keeps each group\'s short last row', async () => {
    const { chunks, summary } = await collectChunks(['aaaa', 'bbbb', 'cc'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 4, docsPerGroup: 2, returnFinalBatch: true });
    assert.deepEqual(chunks.map((c) => text(c.ids)), ['|aaa', 'a|bb', 'bb', '|cc']);
    assert.equal(summary.droppedTailTokens, 0);
  });

  test('a Llama-style BOS appears only at the start of each group\'s string', async () => {
    const BOS = 7;
    const { chunks } = await collectChunks(['aaaa', 'bbbb', 'cccc'], new FakeTokenizer({ eosToken: '|', bosId: BOS }), { maxSeqLen: 4, docsPerGroup: 2 });
    // group 0: [BOS]'|aaaa|bbbb' (11) -> [BOS]'|aa' 'aa|b' | 'bbb' dropped;  group 1: [BOS]'|cccc' (6) -> [BOS]'|cc' | 'cc'
    assert.deepEqual(chunks.map((c) => Array.from(c.ids)), [[BOS, ...codes('|aa')], codes('aa|b'), [BOS, ...codes('|cc')]]);
  });

  test('each chunk has its own buffer', async () => {
    const { chunks } = await collectChunks(['abcdefgh'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 4 });
    assert.equal(chunks[0].ids.byteOffset, 0);
    assert.equal(chunks[0].ids.buffer.byteLength, 4 * 4);
  });
});

describe('totals', () => {
  test('tokens and UTF-8 bytes are counted before the drop, per group string', async () => {
    const docs = ['héllo', '日本', 'x'];
    const { summary } = await collectChunks(docs, new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 4, docsPerGroup: 2 });
    const groups = ['|héllo|日本', '|x'];
    assert.equal(summary.totalTokens, groups[0].length + groups[1].length); // all ids, dropped rows included
    assert.equal(summary.totalBytes, Buffer.byteLength(groups[0]) + Buffer.byteLength(groups[1]));
    assert.equal(summary.totalBytes, 14 + 2); // 'é' is 2 bytes, each CJK character 3
    assert.equal(summary.documents, 3);
  });

  test('natsToBpb = (totalTokens / totalBytes) / ln 2', async () => {
    const { summary } = await collectChunks(['héllo wörld', 'abc'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 4 });
    assert.equal(summary.natsToBpb, summary.totalTokens / summary.totalBytes / Math.log(2));
    assert.equal(natsToBpb(1, 1), 1 / Math.LN2);
    assert.ok(Math.abs(natsToBpb(29, 100) - 0.4183818) < 1e-6);
  });

  test('per-chunk length/bytes spread the group totals like the original (remainder on the last row)', async () => {
    const { chunks } = await collectChunks(['aaaaaaaaaa'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 3 });
    // 11 tokens/bytes -> rows 3,3,3,2 -> 3 kept rows: divmod(11, 3) = (3, 2) -> 3, 3, 5
    assert.deepEqual(chunks.map((c) => c.length), [3, 3, 5]);
    assert.deepEqual(chunks.map((c) => c.bytes), [3, 3, 5]);
    assert.deepEqual(spreadTotal(10, 4), [2, 2, 2, 4]);
  });

  test('running totals grow with each group; the summary repeats the last ones', async () => {
    const events: ChunkEvent[] = [];
    for await (const e of chunkAndTokenize(['aaaa', 'bbbb', 'cccc', 'dddd'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 4, docsPerGroup: 2 })) events.push(e);
    const last = events.at(-1)!;
    assert.equal(last.type, 'summary');
    const chunks = events.filter((e) => e.type === 'chunk');
    assert.deepEqual(chunks.map((c) => [c.totals.documents, c.totals.chunks, c.totals.totalTokens]), [[2, 1, 10], [2, 2, 10], [4, 3, 20], [4, 4, 20]]);
    if (last.type === 'summary') {
      assert.deepEqual({ ...chunks.at(-1)!.totals }, { documents: last.documents, groups: last.groups, chunks: last.chunks, totalTokens: last.totalTokens, totalBytes: last.totalBytes, droppedTailTokens: last.droppedTailTokens });
    }
  });

  test('a group too short for a chunk still counts in the totals', async () => {
    const { chunks, summary } = await collectChunks(['aaaaaaa', 'b'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 4, docsPerGroup: 1 });
    assert.deepEqual(chunks.map((c) => text(c.ids)), ['|aaa']);
    assert.equal(summary.totalTokens, 8 + 2);
    assert.equal(summary.droppedTailTokens, 4 + 2);
  });
});

describe('chunk size', () => {
  const cases: { modelMaxLength: number | undefined; maxSeqLen: number | undefined; chunkSize: number }[] = [
    { modelMaxLength: 3, maxSeqLen: 2048, chunkSize: 3 },
    { modelMaxLength: 3, maxSeqLen: 2, chunkSize: 2 },
    { modelMaxLength: undefined, maxSeqLen: 5, chunkSize: 5 },
    { modelMaxLength: undefined, maxSeqLen: undefined, chunkSize: 2048 },
    { modelMaxLength: 1024, maxSeqLen: undefined, chunkSize: 1024 },
  ];
  for (const c of cases) {
    test(`min(modelMaxLength ${c.modelMaxLength}, maxSeqLen ${c.maxSeqLen}) = ${c.chunkSize}`, async () => {
      const tok = new FakeTokenizer({ eosToken: '|', modelMaxLength: c.modelMaxLength });
      assert.equal(planChunking(tok, { maxSeqLen: c.maxSeqLen }).chunkSize, c.chunkSize);
      const { chunks, summary } = await collectChunks(['x'.repeat(3 * c.chunkSize)], tok, { maxSeqLen: c.maxSeqLen });
      assert.equal(summary.chunkSize, c.chunkSize);
      assert.ok(chunks.every((ch) => ch.ids.length === c.chunkSize));
    });
  }
});

describe('errors', () => {
  const isChunkingError = (kind: string, ...parts: string[]) => (e: unknown) => {
    assert.ok(e instanceof ChunkingError, String(e));
    assert.equal(e.kind, kind);
    for (const p of parts) assert.ok(e.message.includes(p), `${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
    return true;
  };

  test('no complete chunk: says how many tokens were found and how many one chunk needs', async () => {
    await assert.rejects(
      collectChunks(['ab', 'cd'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 100 }),
      isChunkingError('no_chunks', 'gave 6 tokens', 'one chunk needs 100 tokens', 'at least 101', 'returnFinalBatch'),
    );
  });

  test('exactly one chunk of tokens is not enough (that row is the dropped last one)', async () => {
    await assert.rejects(collectChunks(['abc'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 4 }), isChunkingError('no_chunks', 'gave 4 tokens'));
    const { chunks } = await collectChunks(['abcd'], new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 4 });
    assert.equal(chunks.length, 1);
  });

  test('no documents at all', async () => {
    await assert.rejects(collectChunks([], new FakeTokenizer({ eosToken: '|' })), isChunkingError('no_chunks', 'no documents'));
  });

  test('invalid options are refused before reading', async () => {
    for (const options of [{ maxSeqLen: 0 }, { maxSeqLen: 2.5 }, { docsPerGroup: 0 }, { docsPerGroup: Number.NaN }]) {
      await assert.rejects(collectChunks(['abc'], new FakeTokenizer({ eosToken: '|' }), options), isChunkingError('invalid_options', 'must be a positive integer'));
    }
  });

  test('a document that is not a string is refused with its index', async () => {
    const docs = ['ok', 42 as unknown as string];
    await assert.rejects(collectChunks(docs, new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 2 }), /document 1 is not a string \(got number\)/);
  });
});

describe('document sources', () => {
  test('an async iterable gives the same output as an array', async () => {
    const docs = ['one doc', 'another one', 'third'];
    async function* stream() { for (const d of docs) { await Promise.resolve(); yield d; } }
    const a = await collectChunks(docs, new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 3, docsPerGroup: 2 });
    const b = await collectChunks(stream(), new FakeTokenizer({ eosToken: '|' }), { maxSeqLen: 3, docsPerGroup: 2 });
    assert.deepEqual(b, a);
  });

  test('planGroupRows: one (empty) row for an empty encoding, dropped', () => {
    assert.deepEqual(planGroupRows(0, 4, false), { kept: [], droppedTokens: 0 });
    assert.deepEqual(planGroupRows(0, 4, true), { kept: [[0, 0]], droppedTokens: 0 });
  });
});

// The tokenizer worker pool on its own: answers equal the tokenizer's on this thread, a
// crash fails only the task on that worker, a cancelled task frees its worker at once.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { smallLmDir } from '@tuned-lens/fixtures';
import { createLogger, status } from '@tuned-lens/grpc-kit';
import { LoadedTokenizer } from '@tuned-lens/tokenization';
import { tokenizerV1 } from '@tuned-lens/proto';
import { TokenizerPool } from '../src/tokenizerPool';
import { readTokenizerSource } from '../src/tokenizerHolder';
import { encodeResponse } from '../src/tasks';

const quiet = createLogger('test', { level: 'error', write: () => {} });
const golden = JSON.parse(readFileSync(join(smallLmDir, 'golden_encodings.json'), 'utf8')) as Array<{ text: string; ids: number[] }>;
const texts = golden.map((g) => g.text);
let source: string;
let tokenizer: LoadedTokenizer;

before(async () => {
  const s = await readTokenizerSource(smallLmDir);
  source = JSON.stringify(s);
  tokenizer = LoadedTokenizer.fromJson(s);
});

const code = (c: number, re?: RegExp) => (e: { code?: number; message?: string }) => {
  assert.equal(e.code, c, `expected code ${c}, got ${e.code}: ${e.message}`);
  if (re) assert.match(e.message ?? '', re);
  return true;
};
const withIds = (text: string) => tokenizer.encode(text, { addSpecialTokens: true });

test('concurrent tasks each get their own answer, the one the tokenizer gives on this thread', async () => {
  const pool = await TokenizerPool.start({ source, threads: 2, log: quiet });
  try {
    const ids = await Promise.all(texts.map((text) => pool.run({ kind: 'encodeIds', text })));
    ids.forEach((a, i) => assert.deepEqual(a, withIds(texts[i]), `text ${i}`));

    const task = { texts: texts.slice(0, 5), addSpecialTokens: false, returnTokens: true };
    const bytes = await pool.run({ kind: 'encode', ...task });
    assert.deepEqual(tokenizerV1.EncodeResponse.decode(bytes), encodeResponse(tokenizer, task));

    const decoded = await Promise.all(golden.map((g) => pool.run({ kind: 'decode', sequences: [Int32Array.from(g.ids)], skipSpecialTokens: false })));
    decoded.forEach((d, i) => assert.deepEqual(d, [texts[i]], `sequence ${i}`));
    await assert.rejects(
      pool.run({ kind: 'decode', sequences: [Int32Array.of(1), Int32Array.of(2, 4096)], skipSpecialTokens: false }),
      code(status.INVALID_ARGUMENT, /^sequences\[1\]: .*4096/),
    );
  } finally {
    await pool.close();
  }
});

test('a worker that crashes fails only its own task, with INTERNAL, and is replaced', async () => {
  const pool = await TokenizerPool.start({ source, threads: 1, log: quiet, workerUrl: new URL('./crashingWorker.mjs', import.meta.url) });
  try {
    const crash = pool.run({ kind: 'encodeIds', text: '<crash>' });
    const queued = pool.run({ kind: 'encodeIds', text: texts[0] });
    await assert.rejects(crash, code(status.INTERNAL, /the tokenizer worker running this call crashed \(simulated crash\); it is being replaced/));
    assert.deepEqual(await queued, withIds(texts[0]), 'the task queued behind it runs on the replacement');
    assert.deepEqual(await pool.run({ kind: 'encodeIds', text: texts[1] }), withIds(texts[1]));
  } finally {
    await pool.close();
  }
});

test('a cancelled running task stops its worker at once; a cancelled queued one leaves the queue', async (t) => {
  const big = texts.join('\n').repeat(60);
  const t0 = performance.now();
  withIds(big);
  const directMs = performance.now() - t0;

  const pool = await TokenizerPool.start({ source, threads: 1, log: quiet });
  try {
    const runningCall = new AbortController();
    const queuedCall = new AbortController();
    const running = pool.run({ kind: 'encodeIds', text: big }, runningCall.signal);
    const queued = pool.run({ kind: 'encodeIds', text: big }, queuedCall.signal);
    const last = pool.run({ kind: 'encodeIds', text: texts[0] });
    await sleep(200);
    const cancelledAt = performance.now();
    queuedCall.abort();
    runningCall.abort();
    await assert.rejects(running, code(status.CANCELLED));
    await assert.rejects(queued, code(status.CANCELLED));
    assert.deepEqual(await last, withIds(texts[0]));
    const waited = performance.now() - cancelledAt;
    t.diagnostic(`the last task ran ${waited.toFixed(0)} ms after the cancels (a new worker started); the cancelled encode takes ${directMs.toFixed(0)} ms`);
    assert.ok(waited < directMs, `the last task waited ${waited.toFixed(0)} ms, as long as the cancelled encode (${directMs.toFixed(0)} ms)`);
    await assert.rejects(pool.run({ kind: 'encodeIds', text: 'x' }, AbortSignal.abort()), code(status.CANCELLED));
  } finally {
    await pool.close();
  }
});

test('close fails waiting tasks with UNAVAILABLE', async () => {
  const pool = await TokenizerPool.start({ source, threads: 1, log: quiet });
  const pending = assert.rejects(pool.run({ kind: 'encodeIds', text: texts.join('\n') }), code(status.UNAVAILABLE, /shutting down/));
  await pool.close();
  await pending;
  await assert.rejects(pool.run({ kind: 'encodeIds', text: 'x' }), code(status.UNAVAILABLE));
});

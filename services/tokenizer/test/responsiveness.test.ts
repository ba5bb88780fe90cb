// The service answers grpc.health.v1 while it tokenizes (issue 13, item 2): Kubernetes
// probes allow 5 s x 2, so tokenization must not hold the event loop. Real gRPC on
// loopback, the server in this process (its tokenizer workers are threads).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { smallLmDir, trainCorpus, valCorpus } from '@tuned-lens/fixtures';
import { TokenizerClient } from '@tuned-lens/clients';
import { Client, type ServiceError } from '@grpc/grpc-js';
import { checkHealth, createClient, createLogger, deadlineIn, Metadata, status } from '@tuned-lens/grpc-kit';
import { serviceNames, tokenizerV1 } from '@tuned-lens/proto';
import { collectChunks, readCorpus } from '@tuned-lens/data';
import { loadTokenizer } from '@tuned-lens/tokenization';
import { Registry } from '@tuned-lens/metrics';
import { startTokenizerServer, defaultTokenizerLimits, type TokenizerServer } from '../src/index';

/** Longest a probe may wait here: well inside the 5 s x 2 a readiness probe allows. */
const HEALTH_BUDGET_MS = 1000;

const quiet = createLogger('test', { level: 'error', write: () => {} });
const data = mkdtempSync(join(tmpdir(), 'tok-health-'));
mkdirSync(join(data, 'corpus'));
// Three of the default 2048-document groups of the training corpus (~3.6 M characters).
const trainLines = readFileSync(trainCorpus, 'utf8').split('\n').slice(0, 3 * 2048);
writeFileSync(join(data, 'corpus', 'train-part.jsonl'), trainLines.join('\n') + '\n');

/** The validation corpus's texts repeated to exactly the service's per-request limit. */
function bigText(): string {
  const texts = readFileSync(valCorpus, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);
  const all = texts.join('\n');
  const limit = defaultTokenizerLimits.maxCharsPerRequest;
  return all.repeat(Math.ceil(limit / all.length)).slice(0, limit);
}

const text = bigText();
let direct: { ids: Int32Array; seconds: number } | undefined;
/** `text` encoded on this thread (once; about 13 s), and how long that took. */
async function directEncode(): Promise<{ ids: Int32Array; seconds: number }> {
  if (!direct) {
    const tokenizer = await loadTokenizer(smallLmDir);
    const t0 = performance.now();
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    direct = { ids, seconds: (performance.now() - t0) / 1000 };
  }
  return direct;
}

let server: TokenizerServer;
let client: TokenizerClient;

before(async () => {
  server = await startTokenizerServer({
    tokenizerDir: smallLmDir, dataRoots: [join(data, 'corpus')], logger: quiet, registry: new Registry(),
  });
  await server.ready;
  client = new TokenizerClient(server.address, { timeoutMs: 300_000 });
});
after(async () => {
  client.close();
  await server.shutdown(1000);
});

/**
 * Checks health one call after another (a fresh connection each, as a probe makes) from
 * another thread until `work` settles, so a blocked event loop here shows as latency.
 */
interface Probes {
  latencies: number[];
  startedAt: number[];
  answers: string[];
}

async function probeDuring(work: Promise<unknown>): Promise<Probes> {
  const prober = new Worker(new URL('./healthProbe.mjs', import.meta.url), {
    workerData: { address: server.address, service: serviceNames.tokenizer, intervalMs: 50 },
  });
  const results = new Promise<Probes>((resolve, reject) => {
    prober.once('message', resolve);
    prober.once('error', reject);
  });
  await work.catch(() => {});
  prober.postMessage('stop');
  return results;
}

/**
 * Encode over gRPC answered with the response's wire bytes: decoding 2.5 M ids on this
 * thread, the server's, would block it the way a real client in its own process does not.
 */
function encodeWire(raw: Client, text: string): Promise<Buffer> {
  const m = tokenizerV1.TokenizerServiceService.encode;
  const req: tokenizerV1.EncodeRequest = { inputs: [{ kind: { $case: 'text', text } }], addSpecialTokens: false, returnTokens: false };
  return new Promise((resolve, reject) => {
    raw.makeUnaryRequest(m.path, m.requestSerialize, (bytes: Buffer) => bytes, req, new Metadata(), deadlineIn(300_000),
      (err: ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!)));
  });
}

function summary({ latencies, startedAt }: Probes): string {
  const worst = latencies.indexOf(Math.max(...latencies));
  const median = [...latencies].sort((a, b) => a - b)[latencies.length >> 1];
  return `${latencies.length} health checks, max ${latencies[worst].toFixed(0)} ms (the one sent at ${(startedAt[worst] / 1000).toFixed(1)} s), median ${median.toFixed(0)} ms`;
}

test('health answers within 1 s during three concurrent 8 Mi-character Encode calls, which equal a direct encode', async (t) => {
  const { ids: expected, seconds: directSeconds } = await directEncode();
  t.diagnostic(`direct encode of ${text.length} characters on this thread: ${directSeconds.toFixed(1)} s, ${expected.length} ids`);

  const raw = createClient(Client, server.address);
  const started = performance.now();
  const seconds: number[] = [];
  const calls = [0, 1, 2].map(async (i) => {
    const bytes = await encodeWire(raw, text);
    seconds[i] = (performance.now() - started) / 1000;
    return bytes;
  });
  const all = Promise.all(calls);
  const probes = await probeDuring(all);
  const { latencies, answers } = probes;
  const responses = await all;
  raw.close();
  t.diagnostic(`Encode calls done after ${seconds.map((s) => s.toFixed(1)).join(', ')} s; ${summary(probes)}`);

  const expectedBytes = tokenizerV1.EncodeResponse.encode({ encodings: [{ ids: Array.from(expected), tokens: [] }] }).finish();
  responses.forEach((bytes, i) => {
    assert.ok(bytes.equals(expectedBytes), `call ${i}: the response differs from the direct encode's`);
  });
  assert.equal(tokenizerV1.EncodeResponse.decode(responses[0]).encodings[0].ids.length, expected.length);
  assert.ok(Math.max(...latencies) < HEALTH_BUDGET_MS, summary(probes));
  assert.ok(latencies.length >= 5, `only ${latencies.length} health checks completed during the calls`);
  assert.deepEqual(new Set(answers), new Set(['SERVING']));
});

test('health answers within 1 s during ChunkAndTokenize over a corpus, which equals the library pipeline', async (t) => {
  const rows: Int32Array[] = [];
  let result: tokenizerV1.ChunkSummary | undefined;
  const stream = (async () => {
    for await (const ev of client.chunkAndTokenize({ corpusPath: 'train-part.jsonl', maxSeqLen: 256 })) {
      if (ev.kind === 'chunks') {
        for (let r = 0; r < ev.batch.nChunks; r++) rows.push(ev.batch.inputIds.slice(r * 256, (r + 1) * 256));
      }
      if (ev.kind === 'summary') result = ev.summary;
    }
  })();
  const started = performance.now();
  const probes = await probeDuring(stream);
  const { latencies, answers } = probes;
  await stream;
  t.diagnostic(`ChunkAndTokenize took ${((performance.now() - started) / 1000).toFixed(1)} s; ${summary(probes)}`);

  const expected = await collectChunks(readCorpus(join(data, 'corpus', 'train-part.jsonl')), await loadTokenizer(smallLmDir), { maxSeqLen: 256 });
  assert.equal(rows.length, expected.chunks.length);
  rows.forEach((r, i) => assert.deepEqual(r, expected.chunks[i].ids, `chunk ${i}`));
  assert.equal(result?.totalTokens, expected.summary.totalTokens);
  assert.equal(result?.totalBytes, expected.summary.totalBytes);
  assert.ok(Math.max(...latencies) < HEALTH_BUDGET_MS, summary(probes));
  assert.ok(latencies.length >= 5, `only ${latencies.length} health checks completed during the stream`);
  assert.deepEqual(new Set(answers), new Set(['SERVING']));
});

test('a cancelled Encode stops its work: the next call on the same worker does not wait for it', async (t) => {
  const { seconds: directSeconds } = await directEncode();
  const one = await startTokenizerServer({ tokenizerDir: smallLmDir, threads: 1, logger: quiet, registry: new Registry() });
  const impatient = new TokenizerClient(one.address, { timeoutMs: 1000 });
  const patient = new TokenizerClient(one.address, { timeoutMs: 120_000 });
  try {
    await one.ready;
    await assert.rejects(impatient.encode([text]), (e: { code?: number }) => e.code === status.DEADLINE_EXCEEDED);
    const small = text.slice(0, 64 * 1024);
    const t0 = performance.now();
    const [encoding] = await patient.encode([small]);
    const waited = (performance.now() - t0) / 1000;
    t.diagnostic(`the next call took ${waited.toFixed(1)} s (a new worker started); the cancelled encode takes ${directSeconds.toFixed(1)} s`);
    assert.deepEqual(encoding.ids, Array.from((await loadTokenizer(smallLmDir)).encode(small, { addSpecialTokens: false })));
    assert.ok(waited < directSeconds / 2, `the next call waited ${waited.toFixed(1)} s; the cancelled encode alone takes ${directSeconds.toFixed(1)} s`);
  } finally {
    impatient.close();
    patient.close();
    await one.shutdown(1000);
  }
});

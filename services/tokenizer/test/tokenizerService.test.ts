// Integration tests: the tokenizer service as a real gRPC server on loopback, driven
// through the generated client (via @tuned-lens/clients and raw calls).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { smallLmDir, valCorpus, fixturesRoot } from '@tuned-lens/fixtures';
import { TokenizerClient } from '@tuned-lens/clients';
import { checkHealth, listServices, createLogger, status, unary, createClient } from '@tuned-lens/grpc-kit';
import { serviceNames, tokenizerV1 } from '@tuned-lens/proto';
import { collectChunks, readCorpus } from '@tuned-lens/data';
import { loadTokenizer } from '@tuned-lens/tokenization';
import { Registry } from '@tuned-lens/metrics';
import { startTokenizerServer, type TokenizerServer } from '../src/index';

const quiet = createLogger('test', { level: 'error', write: () => {} });
const work = mkdtempSync(join(tmpdir(), 'tok-svc-'));
mkdirSync(join(work, 'data'));
writeFileSync(join(work, 'data', 'bad-json.jsonl'), '{"text": "fine"}\n\n{"text": broken}\n');
writeFileSync(join(work, 'data', 'no-text.jsonl'), '{"text": "fine"}\n{"body": "no text here"}\n');
copyFileSync(valCorpus, join(work, 'data', 'val.jsonl'));

let server: TokenizerServer;
let client: TokenizerClient;
const golden = JSON.parse(readFileSync(join(smallLmDir, 'golden_encodings.json'), 'utf8')) as Array<{ text: string; ids: number[] }>;

before(async () => {
  server = await startTokenizerServer({
    tokenizerDir: smallLmDir, dataRoots: [join(work, 'data')], logger: quiet, registry: new Registry(), metricsPort: 0,
    limits: { maxBatch: 64, maxCharsPerRequest: 200_000 },
  });
  await server.ready;
  client = new TokenizerClient(server.address);
});
after(async () => {
  client.close();
  await server.shutdown(1000);
});

const code = (c: number, re?: RegExp) => (e: { code?: number; details?: string }) => {
  assert.equal(e.code, c, `expected code ${c}, got ${e.code}: ${e.details}`);
  if (re) assert.match(e.details ?? '', re);
  return true;
};

test('health SERVING once loaded; reflection lists the service', async () => {
  assert.equal(await checkHealth(server.address, serviceNames.tokenizer), 'SERVING');
  assert.equal(await checkHealth(server.address, ''), 'SERVING');
  assert.ok((await listServices(server.address)).includes(serviceNames.tokenizer));
});

test('info describes the loaded tokenizer', async () => {
  const info = await client.info();
  assert.equal(info.vocabSize, 4096);
  assert.equal(info.eosToken, '<|endoftext|>');
  assert.equal(info.eosTokenId, 4095);
  assert.equal(info.modelMaxLength, 256);
  assert.match(info.tokenizerSha256, /^[0-9a-f]{64}$/);
});

test('Encode over gRPC equals the golden encodings exactly, and Decode inverts it', async () => {
  const encodings = await client.encode(golden.map((g) => g.text));
  golden.forEach((g, i) => assert.deepEqual(encodings[i].ids, g.ids, `document ${i}`));
  const texts = await client.decode(golden.map((g) => g.ids));
  golden.forEach((g, i) => assert.equal(texts[i], g.text, `document ${i}`));
});

test('ChunkAndTokenize over a corpus file equals the library pipeline, chunk for chunk', async () => {
  const tokenizer = await loadTokenizer(smallLmDir);
  const expected = await collectChunks(readCorpus(valCorpus), tokenizer, { maxSeqLen: 256 });
  const rows: number[][] = [];
  let summary: tokenizerV1.ChunkSummary | undefined;
  for await (const ev of client.chunkAndTokenize({ corpusPath: 'val.jsonl', maxSeqLen: 4096, chunksPerFrame: 7 })) {
    if (ev.kind === 'start') assert.equal(ev.start.chunkSize, 256, 'capped by model_max_length');
    if (ev.kind === 'chunks') {
      assert.equal(ev.batch.firstChunk, rows.length);
      for (let r = 0; r < ev.batch.nChunks; r++) rows.push(Array.from(ev.batch.inputIds.subarray(r * 256, (r + 1) * 256)));
    }
    if (ev.kind === 'summary') summary = ev.summary;
  }
  assert.equal(rows.length, expected.chunks.length);
  rows.forEach((r, i) => assert.deepEqual(r, Array.from(expected.chunks[i].ids), `chunk ${i}`));
  assert.equal(summary?.totalTokens, expected.summary.totalTokens);
  assert.equal(summary?.totalBytes, expected.summary.totalBytes);
  assert.equal(summary?.natsToBpb, expected.summary.natsToBpb);
  assert.equal(summary?.chunks * 256 + summary!.droppedTailTokens, summary?.totalTokens);
  assert.equal(rows[0][0], 4095, 'one EOS first');
});

test('ChunkAndTokenize over streamed documents; skip and max select a data window', async () => {
  const docs = golden.map((g) => g.text);
  const all: number[][] = [];
  for await (const ev of client.chunkAndTokenize({ maxSeqLen: 64 }, [docs.slice(0, 10), docs.slice(10)])) {
    if (ev.kind === 'chunks') for (let r = 0; r < ev.batch.nChunks; r++) all.push(Array.from(ev.batch.inputIds.subarray(r * 64, (r + 1) * 64)));
  }
  const tokenizer = await loadTokenizer(smallLmDir);
  const expected = await collectChunks(docs, tokenizer, { maxSeqLen: 64 });
  assert.deepEqual(all, expected.chunks.map((c) => Array.from(c.ids)));

  const window: number[][] = [];
  let summary: tokenizerV1.ChunkSummary | undefined;
  for await (const ev of client.chunkAndTokenize({ maxSeqLen: 64, skipChunks: 3, maxChunks: 4 }, [docs])) {
    if (ev.kind === 'chunks') for (let r = 0; r < ev.batch.nChunks; r++) window.push(Array.from(ev.batch.inputIds.subarray(r * 64, (r + 1) * 64)));
    if (ev.kind === 'summary') summary = ev.summary;
  }
  assert.deepEqual(window, all.slice(3, 7));
  assert.equal(summary?.truncated, true);
});

test('bad input gets clear errors and the server keeps serving', async () => {
  const raw = createClient(tokenizerV1.TokenizerServiceClient, server.address);
  const enc = (inputs: tokenizerV1.TextInput[]) => unary(raw, raw.encode, { inputs, addSpecialTokens: false, returnTokens: false });
  await assert.rejects(enc([]), code(status.INVALID_ARGUMENT, /at least one text/));
  await assert.rejects(enc([{ kind: { $case: 'text', text: 'ok' } }, { kind: { $case: 'text', text: '' } }]), code(status.INVALID_ARGUMENT, /inputs\[1\] is empty/));
  await assert.rejects(enc([{ kind: { $case: 'utf8', utf8: Buffer.from([0x61, 0xc3, 0x28]) } }]), code(status.INVALID_ARGUMENT, /not valid UTF-8.*offset 1/));
  const ok = await enc([{ kind: { $case: 'utf8', utf8: Buffer.from('héllo', 'utf8') } }]);
  assert.ok(ok.encodings[0].ids.length > 0);
  await assert.rejects(enc(Array(65).fill({ kind: { $case: 'text', text: 'x' } })), code(status.RESOURCE_EXHAUSTED, /limit is 64/));
  await assert.rejects(enc([{ kind: { $case: 'text', text: 'y'.repeat(200_001) } }]), code(status.RESOURCE_EXHAUSTED, /characters/));
  await assert.rejects(client.decode([[1, 2], [5, 4096]]), code(status.INVALID_ARGUMENT, /sequences\[1\].*4096.*position 1|sequences\[1\].*id 4096/));
  raw.close();

  const chunkErr = async (config: Partial<tokenizerV1.ChunkConfig>) => {
    for await (const _ of client.chunkAndTokenize(config)) { /* drain */ }
  };
  await assert.rejects(chunkErr({ corpusPath: 'bad-json.jsonl', maxSeqLen: 8 }), code(status.INVALID_ARGUMENT, /^bad-json\.jsonl:3: .*JSON/));
  await assert.rejects(chunkErr({ corpusPath: 'no-text.jsonl', maxSeqLen: 8 }), code(status.INVALID_ARGUMENT, /^no-text\.jsonl:2: .*"text"/));
  await assert.rejects(chunkErr({ corpusPath: 'missing.jsonl' }), code(status.NOT_FOUND, /missing\.jsonl/));
  await assert.rejects(chunkErr({ corpusPath: '../../etc/passwd' }), code(status.PERMISSION_DENIED));
  await assert.rejects(chunkErr({ corpusPath: join(fixturesRoot, 'corpus', 'val.jsonl') }), code(status.PERMISSION_DENIED));
  await assert.rejects(chunkErr({ corpusPath: 'val.jsonl', maxSeqLen: -5 }), code(status.INVALID_ARGUMENT, /maxSeqLen/));
  await assert.rejects(
    (async () => { for await (const _ of client.chunkAndTokenize({ maxSeqLen: 2048 }, [['too short']])) { /* drain */ } })(),
    code(status.INVALID_ARGUMENT, /not enough data for one chunk/),
  );
  // Still serving.
  const [e] = await client.encode(['still here']);
  assert.ok(e.ids.length > 0);
});

test('a missing or malformed tokenizer.json gives FAILED_PRECONDITION naming the file; health NOT_SERVING', async () => {
  const dir = join(work, 'broken-tokenizer');
  mkdirSync(dir);
  writeFileSync(join(dir, 'tokenizer.json'), '{ "model": ');
  const broken = await startTokenizerServer({ tokenizerDir: dir, logger: quiet, registry: new Registry() });
  await assert.rejects(broken.ready, /tokenizer\.json/);
  const c = new TokenizerClient(broken.address);
  await assert.rejects(c.encode(['x']), code(status.FAILED_PRECONDITION, /tokenizer could not be loaded: .*tokenizer\.json/));
  assert.equal(await checkHealth(broken.address, serviceNames.tokenizer), 'NOT_SERVING');
  c.close();
  await broken.shutdown(500);

  const missing = await startTokenizerServer({ tokenizerDir: join(work, 'nowhere'), logger: quiet, registry: new Registry() });
  await assert.rejects(missing.ready, /nowhere/);
  const c2 = new TokenizerClient(missing.address);
  await assert.rejects(c2.info(), code(status.FAILED_PRECONDITION, /nowhere/));
  c2.close();
  await missing.shutdown(500);
});

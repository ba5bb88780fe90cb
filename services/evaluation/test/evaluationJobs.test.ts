// Evaluation jobs through gRPC on loopback (the real tokenizer and activation services,
// see upstreams.ts): the written metrics equal an independent float64 computation
// from hidden states extracted in-process; watch, cancel, bad configs, lens checks,
// Prometheus metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelsDir, valCorpus } from '@tuned-lens/fixtures';
import { createClient, status, unary, checkHealth } from '@tuned-lens/grpc-kit';
import { evaluationV1, serviceNames } from '@tuned-lens/proto';
import { Registry } from '@tuned-lens/metrics';
import { chunkAndTokenize, planChunking, readCorpus } from '@tuned-lens/data';
import { makeLensConfig, writeLensFolder } from '@tuned-lens/lens';
import { makeRng } from '@tuned-lens/engine';
import { startEvaluationServer, type EvaluationServer } from '../src/index';
import { quiet, startActivation, startTokenizer, unembedSha256 } from './upstreams';
import { oracleEval, type OracleTranslator } from './oracle';

const modelDir = join(tinyModelsDir, 'tiny-gpt2');
const work = mkdtempSync(join(tmpdir(), 'eval-jobs-'));
const dataRoot = join(work, 'data');
const lensRoot = join(work, 'lenses');
const outRoot = join(work, 'out');
let tok: Awaited<ReturnType<typeof startTokenizer>>;
let act: Awaited<ReturnType<typeof startActivation>>;
let server: EvaluationServer;
let client: evaluationV1.EvaluationServiceClient;
const registry = new Registry();
const rng = makeRng(5);
const L = 3, d = 64;
const translators: OracleTranslator[] = Array.from({ length: L }, () => ({
  weight: Float32Array.from({ length: d * d }, () => rng.normal() * 0.05),
  bias: Float32Array.from({ length: d }, () => rng.normal() * 0.1),
}));

function writeLens(name: string, fields: Partial<Parameters<typeof makeLensConfig>[0]> = {}, layers = L, dModel = d) {
  const ts = Array.from({ length: layers }, (_, i) => translators[i] ?? { weight: new Float32Array(dModel * dModel), bias: new Float32Array(dModel) });
  writeLensFolder(join(lensRoot, name), {
    config: makeLensConfig({ baseModelNameOrPath: 'tiny-gpt2', dModel, numHiddenLayers: layers, ...fields }),
    translators: ts.map((t) => ({ weight: t.weight.length === dModel * dModel ? t.weight : new Float32Array(dModel * dModel), bias: t.bias && t.bias.length === dModel ? t.bias : new Float32Array(dModel) })),
  });
}

before(async () => {
  mkdirSync(dataRoot, { recursive: true });
  mkdirSync(lensRoot, { recursive: true });
  const docs = readFileSync(valCorpus, 'utf8').split('\n').filter(Boolean).slice(0, 60);
  writeFileSync(join(dataRoot, 'small.jsonl'), docs.join('\n') + '\n');
  writeFileSync(join(dataRoot, 'few.jsonl'), docs.slice(0, 2).join('\n') + '\n');
  tok = await startTokenizer(modelDir, dataRoot);
  act = await startActivation(modelDir);
  const sha = unembedSha256(act.model);
  writeLens('good', { unembedSha256: sha });
  writeLens('original');                                          // no unembed_sha256: the original package's lenses
  writeLens('other-hash', { unembedSha256: 'ab'.repeat(32) });
  writeLens('four-layers', { unembedSha256: sha }, 4);
  server = await startEvaluationServer({
    activationEndpoint: act.address, tokenizerEndpoint: tok.address, lensRoots: [lensRoot], outputRoots: [outRoot],
    engine: 'onnx', logger: quiet, registry, metricsPort: 0,
  });
  client = createClient(evaluationV1.EvaluationServiceClient, server.address);
});

after(async () => {
  client?.close();
  await server?.shutdown(500);
  await act?.shutdown(500);
  await tok?.shutdown(500);
});

const start = (config: Partial<evaluationV1.EvalConfig>) =>
  unary(client, client.startEvaluation, { config: evaluationV1.EvalConfig.fromPartial(config) }).then((r) => r.evalId);
const get = (id: string) => unary(client, client.getEvaluation, { evalId: id }).then((r) => r.status!);

async function watch(id: string): Promise<evaluationV1.EvalStatus[]> {
  const out: evaluationV1.EvalStatus[] = [];
  for await (const r of client.watchEvaluation({ evalId: id }) as AsyncIterable<evaluationV1.WatchEvaluationResponse>) out.push(r.status!);
  return out;
}

const grpcError = (code: number, re: RegExp) => (e: { code?: number; details?: string }) => {
  assert.equal(e.code, code, e.details);
  assert.match(e.details ?? '', re);
  return true;
};

test('a tuned-lens evaluation equals the original eval computed independently in float64', async () => {
  const seq = 32, B = 2, batches = 2;
  const id = await start({ dataPath: 'small.jsonl', lensPath: 'good', outputPath: 'run1', maxSeqLen: seq, perGpuBatchSize: B, tokens: B * seq * batches, layerTransfer: true, recordLogitStats: true });
  const updates = await watch(id);
  const last = updates.at(-1)!;
  assert.equal(last.state, evaluationV1.EvalState.EVAL_STATE_SUCCEEDED, last.message);
  assert.ok(updates.some((u) => u.state === evaluationV1.EvalState.EVAL_STATE_RUNNING));
  assert.equal(last.tokensDone, B * seq * batches);
  assert.equal(last.batchesDone, batches);
  assert.equal(last.tokensTotal, B * seq * batches);
  assert.equal(last.lensPath, 'good');
  assert.deepEqual(last.outputFiles.map((f) => f.split('/').pop()), ['aggregate_metrics.json', 'aggregate_metrics_nats.json', 'logit_stats.json']);

  // The same chunks, independently: the original chunking, first B * batches rows.
  const chunks: Int32Array[] = [];
  let ratio = 0;
  for await (const ev of chunkAndTokenize(readCorpus(join(dataRoot, 'small.jsonl')), tok.tokenizer, planChunking(tok.tokenizer, { maxSeqLen: seq }))) {
    if (ev.type === 'chunk' && chunks.length < B * batches) chunks.push(ev.ids);
    if (ev.type === 'summary') ratio = ev.natsToBpb;
  }
  const rows = [chunks.slice(0, B), chunks.slice(B, 2 * B)];
  const want = await oracleEval(act.model, async (ids, b, t) => (await act.runner.forward({ inputIds: ids, batch: b, seq: t, convention: 'hf' })).hiddenStates, rows, translators);

  const nats = JSON.parse(readFileSync(join(outRoot, 'run1', 'aggregate_metrics_nats.json'), 'utf8'));
  const bpb = JSON.parse(readFileSync(join(outRoot, 'run1', 'aggregate_metrics.json'), 'utf8'));
  assert.deepEqual(Object.keys(bpb), ['logit', 'tuned', 'baseline'], 'the original layout');
  assert.deepEqual(Object.keys(bpb.tuned), ['ce', 'entropy', 'kl', 'layer_transfer']);
  assert.ok(Math.abs(last.natsToBpb - ratio) < 1e-12, `nats_to_bpb ${last.natsToBpb} vs ${ratio}`);
  const close = (got: number, exp: number, what: string, tol = 2e-4) => assert.ok(Math.abs(got - exp) <= tol * (1 + Math.abs(exp)), `${what}: ${got} vs ${exp}`);
  for (const lens of ['logit', 'tuned'] as const) {
    for (const metric of ['ce', 'entropy', 'kl'] as const) {
      for (let j = 0; j < L; j++) {
        const exp = want[lens]![metric][j];
        close(nats[lens][metric][`layer_${j}`], exp, `${lens}.${metric}.layer_${j}`);
        close(bpb[lens][metric][`layer_${j}`], exp * ratio, `bpb ${lens}.${metric}.layer_${j}`);
        const row = last.layers.find((r) => r.lens === lens && r.layer === j)!;
        close(row[`${metric}Nats`], exp, `status ${lens}.${metric}.${j}`);
      }
    }
  }
  close(nats.baseline.ce.final, want.baseline.ce, 'baseline ce');
  close(nats.baseline.entropy.final, want.baseline.entropy, 'baseline entropy');
  close(last.baselineCeNats, want.baseline.ce, 'status baseline');
  // layer transfer: translator i on hidden state j; the diagonal is the lens itself
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < L; j++) {
      close(nats.tuned.layer_transfer.ce[`layer_${i}`][`layer_${j}`], want.transfer!.ce[i][j], `transfer ce ${i},${j}`);
      close(nats.tuned.layer_transfer.kl[`layer_${i}`][`layer_${j}`], want.transfer!.kl[i][j], `transfer kl ${i},${j}`, 1e-3);
      close(nats.logit.layer_transfer.ce[`layer_${i}`][`layer_${j}`], want.logit.ce[j], `logit transfer ce ${i},${j}`);
      assert.equal(nats.logit.layer_transfer.kl[`layer_${i}`][`layer_${j}`], 0);
    }
    assert.ok(Math.abs(nats.tuned.layer_transfer.kl[`layer_${i}`][`layer_${i}`]) < 1e-4);
  }
  // logit stats: marginal distributions (probabilities, not scaled)
  const stats = JSON.parse(readFileSync(join(outRoot, 'run1', 'logit_stats.json'), 'utf8'));
  assert.deepEqual(Object.keys(stats), ['logit', 'tuned', 'baseline']);
  const final: number[] = stats.baseline.logit_stats.final;
  close(final.reduce((a, b) => a + b, 0), 1, 'marginal sums to 1', 1e-4);
  for (const v of [0, 13, 4095]) close(final[v], want.baselineMarginal[v], `marginal[${v}]`, 1e-3);
  assert.equal(stats.tuned.logit_stats.layer_2.length, 4096);
});

test('logit lens only over a whole (tiny) corpus: no tuned entry, a last partial batch, progress updates', async () => {
  const id = await start({ dataPath: 'few.jsonl', outputPath: 'run2/nested', maxSeqLen: 64, perGpuBatchSize: 3 });
  const updates = await watch(id);
  const last = updates.at(-1)!;
  assert.equal(last.state, evaluationV1.EvalState.EVAL_STATE_SUCCEEDED, last.message);
  const agg = JSON.parse(readFileSync(join(outRoot, 'run2', 'nested', 'aggregate_metrics.json'), 'utf8'));
  assert.deepEqual(Object.keys(agg), ['logit', 'baseline']);
  assert.equal(last.tokensTotal, 0, 'unknown in advance without --tokens');
  let chunks = 0;
  for await (const ev of chunkAndTokenize(readCorpus(join(dataRoot, 'few.jsonl')), tok.tokenizer, planChunking(tok.tokenizer, { maxSeqLen: 64 }))) if (ev.type === 'chunk') chunks++;
  assert.ok(chunks % 3 !== 0, `the fixture should leave a partial batch (${chunks} chunks)`);
  assert.equal(last.tokensDone, chunks * 64, 'every chunk evaluated, the partial last batch too');
  assert.equal(last.batchesDone, Math.ceil(chunks / 3));
  assert.equal(last.layers.length, L);
  const done = updates.filter((u) => u.state === evaluationV1.EvalState.EVAL_STATE_RUNNING).map((u) => u.tokensDone);
  assert.deepEqual(done, [...done].sort((a, b) => a - b), 'progress only grows');
  assert.deepEqual(await get(id), last);
});

test('bad configs are refused by StartEvaluation with clear errors', async () => {
  await assert.rejects(unary(client, client.startEvaluation, { config: undefined }), grpcError(status.INVALID_ARGUMENT, /config is required/));
  await assert.rejects(start({ outputPath: 'x' }), grpcError(status.INVALID_ARGUMENT, /data_path is required/));
  await assert.rejects(start({ dataPath: 'small.jsonl' }), grpcError(status.INVALID_ARGUMENT, /output_path is required/));
  await assert.rejects(start({ dataPath: 'small.jsonl', outputPath: '../escape' }), grpcError(status.PERMISSION_DENIED, /outside the allowed roots/));
  await assert.rejects(start({ dataPath: 'small.jsonl', outputPath: 'x', lensPath: 'missing' }), grpcError(status.NOT_FOUND, /no such folder: "missing"/));
  await assert.rejects(start({ dataPath: 'small.jsonl', outputPath: 'x', lensPath: '/etc' }), grpcError(status.PERMISSION_DENIED, /outside the allowed roots/));
  await assert.rejects(start({ dataPath: 'small.jsonl', outputPath: 'x', maxSeqLen: 1 }), grpcError(status.INVALID_ARGUMENT, /max_seq_len must be at least 2/));
  await assert.rejects(start({ dataPath: 'small.jsonl', outputPath: 'x', tokens: -5 }), grpcError(status.INVALID_ARGUMENT, /tokens must not be negative/));
  await assert.rejects(start({ dataPath: 'small.jsonl', outputPath: 'x', activationEndpoints: ['nohost'] }), grpcError(status.INVALID_ARGUMENT, /activation_endpoints\[0\]: not a host:port/));
  await assert.rejects(get('nope'), grpcError(status.NOT_FOUND, /no evaluation "nope"/));
});

test('lenses for another model fail the job with the reason; an original-package lens is accepted', async () => {
  for (const [lens, re] of [['other-hash', /another unembedding .*unembed_sha256 abababababab/], ['four-layers', /4 translators .* the model has 3 layers/]] as const) {
    const id = await start({ dataPath: 'small.jsonl', lensPath: lens, outputPath: `bad-${lens}`, maxSeqLen: 16, tokens: 16 });
    const last = (await watch(id)).at(-1)!;
    assert.equal(last.state, evaluationV1.EvalState.EVAL_STATE_FAILED, lens);
    assert.match(last.message, re);
    assert.ok(!existsSync(join(outRoot, `bad-${lens}`)), 'nothing written');
  }
  const id = await start({ dataPath: 'small.jsonl', lensPath: 'original', outputPath: 'orig', maxSeqLen: 16, tokens: 16 });
  const last = (await watch(id)).at(-1)!;
  assert.equal(last.state, evaluationV1.EvalState.EVAL_STATE_SUCCEEDED, last.message);
  // fewer tokens than one batch, and a corpus that does not exist on the tokenizer server
  const tiny = (await watch(await start({ dataPath: 'small.jsonl', outputPath: 'tiny', maxSeqLen: 16, perGpuBatchSize: 2, tokens: 20 }))).at(-1)!;
  assert.equal(tiny.state, evaluationV1.EvalState.EVAL_STATE_FAILED);
  assert.match(tiny.message, /tokens 20 is less than one batch of 2 x 16 tokens/);
  const missing = (await watch(await start({ dataPath: 'missing.jsonl', outputPath: 'missing', maxSeqLen: 16 }))).at(-1)!;
  assert.equal(missing.state, evaluationV1.EvalState.EVAL_STATE_FAILED);
  assert.match(missing.message, /no such file: "missing\.jsonl"/);
});

test('cancel stops a running job without writing; health and Prometheus metrics', async () => {
  const id = await start({ dataPath: 'small.jsonl', outputPath: 'cancelled', maxSeqLen: 16, perGpuBatchSize: 1, layerTransfer: true, lensPath: 'good' });
  for (;;) {
    const s = await get(id);
    if (s.state === evaluationV1.EvalState.EVAL_STATE_RUNNING && s.batchesDone > 0) break;
    assert.ok(s.state !== evaluationV1.EvalState.EVAL_STATE_SUCCEEDED, 'finished before it could be cancelled');
    await new Promise((r) => setTimeout(r, 20));
  }
  const res = await unary(client, client.cancelEvaluation, { evalId: id });
  assert.ok([evaluationV1.EvalState.EVAL_STATE_RUNNING, evaluationV1.EvalState.EVAL_STATE_CANCELLED].includes(res.status!.state));
  const last = (await watch(id)).at(-1)!;
  assert.equal(last.state, evaluationV1.EvalState.EVAL_STATE_CANCELLED);
  assert.ok(!existsSync(join(outRoot, 'cancelled')));

  assert.equal(await checkHealth(server.address, serviceNames.evaluation), 'SERVING');
  const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
  assert.match(text, /tunedlens_evaluation_eval_jobs\{state="succeeded"\} [1-9]/);
  assert.match(text, /tunedlens_evaluation_eval_jobs\{state="cancelled"\} 1/);
  assert.match(text, /tunedlens_evaluation_eval_jobs\{state="failed"\} [1-9]/);
  assert.match(text, /tunedlens_evaluation_tokens_total [1-9]/);
  assert.match(text, /tunedlens_evaluation_batch_seconds_count [1-9]/);
  assert.match(text, /grpc_server_handled_total\{.*grpc_method="StartEvaluation".*\}/);
});


// LensService through gRPC on loopback (the real tokenizer and activation services, see
// upstreams.ts): predictions equal hidden states extracted in-process with the lens
// applied offline in float64; compare; every bad input gets a clear status; admission.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metadata } from '@grpc/grpc-js';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { checkHealth, createClient, status, unary } from '@tuned-lens/grpc-kit';
import { lensV1, serviceNames } from '@tuned-lens/proto';
import { Registry } from '@tuned-lens/metrics';
import { makeLensConfig, writeLensFolder } from '@tuned-lens/lens';
import { makeRng } from '@tuned-lens/engine';
import { startEvaluationServer, type EvaluationServer } from '../src/index';
import { quiet, startActivation, startTokenizer, unembedSha256 } from './upstreams';
import { entropyOf, klOf, lensRow, type OracleTranslator } from './oracle';

const { LensKind } = lensV1;
const modelDir = join(tinyModelsDir, 'tiny-gpt2');
const work = mkdtempSync(join(tmpdir(), 'lens-svc-'));
const lensRoot = join(work, 'lenses');
const L = 3, d = 64, V = 4096, CTX = 128;
const rng = makeRng(9);
const translators: OracleTranslator[] = Array.from({ length: L }, () => ({
  weight: Float32Array.from({ length: d * d }, () => rng.normal() * 0.05),
  bias: Float32Array.from({ length: d }, () => rng.normal() * 0.1),
}));
let tok: Awaited<ReturnType<typeof startTokenizer>>;
let act: Awaited<ReturnType<typeof startActivation>>;
let server: EvaluationServer;
let client: lensV1.LensServiceClient;
const servers: EvaluationServer[] = [];

function writeLens(name: string, fields: Partial<Parameters<typeof makeLensConfig>[0]> = {}, layers = L) {
  writeLensFolder(join(lensRoot, name), {
    config: makeLensConfig({ baseModelNameOrPath: 'tiny-gpt2', dModel: d, numHiddenLayers: layers, ...fields }),
    translators: Array.from({ length: layers }, (_, i) => translators[i] ?? { weight: new Float32Array(d * d), bias: new Float32Array(d) }),
  });
}

before(async () => {
  mkdirSync(lensRoot, { recursive: true });
  tok = await startTokenizer(modelDir, work);
  act = await startActivation(modelDir);
  const sha = unembedSha256(act.model);
  writeLens('good', { unembedSha256: sha });
  writeLens('original');
  writeLens('other-hash', { unembedSha256: 'cd'.repeat(32) });
  writeLens('two-layers', { unembedSha256: sha }, 2);
  server = await startEvaluationServer({
    activationEndpoint: act.address, tokenizerEndpoint: tok.address, lensRoots: [lensRoot], defaultLens: 'good',
    engine: 'onnx', logger: quiet, registry: new Registry(), metricsPort: 0,
  });
  servers.push(server);
  await server.modelReady;
  client = createClient(lensV1.LensServiceClient, server.address);
});

after(async () => {
  client?.close();
  for (const s of servers) await s.shutdown(500);
  await act?.shutdown(500);
  await tok?.shutdown(500);
});

interface Collected<M, P> {
  metadata: M;
  positions: P[];
  done?: lensV1.PredictDone;
  trailers?: Metadata;
}

function predict(req: Partial<lensV1.PredictRequest>, c = client): Promise<Collected<lensV1.PredictMetadata, lensV1.PositionFrame>> {
  return new Promise((resolve, reject) => {
    const call = c.predict(lensV1.PredictRequest.fromPartial(req));
    const out = { positions: [] } as unknown as Collected<lensV1.PredictMetadata, lensV1.PositionFrame>;
    const order: string[] = [];
    call.on('data', (r: lensV1.PredictResponse) => {
      const f = r.frame!;
      order.push(f.$case);
      if (f.$case === 'metadata') out.metadata = f.metadata;
      else if (f.$case === 'position') out.positions.push(f.position);
      else out.done = f.done;
    });
    let failed = false;
    call.on('error', (e) => { failed = true; reject(e); });
    call.on('end', () => {
      if (failed) return;
      if (order[0] !== 'metadata' || order.at(-1) !== 'done') reject(new Error(`frames ${order.join(',')}: expected metadata first and done last`));
      else resolve(out);
    });
  });
}

function compare(req: Partial<lensV1.CompareRequest>): Promise<Collected<lensV1.CompareMetadata, lensV1.ComparePosition>> {
  return new Promise((resolve, reject) => {
    const call = client.compare(lensV1.CompareRequest.fromPartial(req));
    const out = { positions: [] } as unknown as Collected<lensV1.CompareMetadata, lensV1.ComparePosition>;
    call.on('data', (r: lensV1.CompareResponse) => {
      const f = r.frame!;
      if (f.$case === 'metadata') out.metadata = f.metadata;
      else if (f.$case === 'position') out.positions.push(f.position);
      else out.done = f.done;
    });
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

const text = (t: string): lensV1.PredictInput => ({ kind: { $case: 'text', text: t } });
const ids = (xs: number[]): lensV1.PredictInput => ({ kind: { $case: 'tokenIds', tokenIds: { ids: xs } } });
const grpcError = (code: number, re: RegExp) => (e: { code?: number; details?: string }) => {
  assert.equal(e.code, code, e.details);
  assert.match(e.details ?? '', re);
  return true;
};

test('Predict through gRPC equals extracting hidden states and applying the lens offline (float64)', async () => {
  const sentence = 'The tuned lens reads what a transformer predicts.';
  const res = await predict({ input: text(sentence), lenses: [LensKind.LENS_KIND_LOGIT, LensKind.LENS_KIND_TUNED], layers: [2, 0], topK: 5, fullDistributionCells: [{ layer: 0, position: 2 }] });
  const want = Array.from(tok.tokenizer.encode(sentence, { addSpecialTokens: true }));
  const m = res.metadata;
  assert.deepEqual(m.tokenIds, want);
  assert.deepEqual(m.tokens, want.map((id) => tok.tokenizer.decode([id])));
  assert.deepEqual(m.layers, [0, 2, L]);
  assert.deepEqual(m.lenses, [LensKind.LENS_KIND_LOGIT, LensKind.LENS_KIND_TUNED]);
  assert.equal(m.numLayers, L);
  assert.equal(m.topK, 5);
  assert.equal(m.lensName, 'good');
  assert.deepEqual(m.warnings, []);
  assert.equal(m.truncated, false);
  assert.deepEqual(res.positions.map((p) => p.position), want.map((_, i) => i));

  // offline: the model in-process, the lens in float64
  const T = want.length;
  const hs = (await act.runner.forward({ inputIds: Int32Array.from(want), batch: 1, seq: T, convention: 'hf' })).hiddenStates;
  const u = act.model.unembedding();
  const row = (l: number, t: number) => hs.get(l)!.subarray(t * d, (t + 1) * d);
  const close = (a: number, b: number, what: string, tol = 1e-4) => assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
  for (const pos of res.positions) {
    const t = pos.position;
    assert.equal(pos.tokenId, want[t]);
    const model = lensRow(u, d, row(L, t), null, true);
    assert.deepEqual(pos.cells.map((c) => `${c.lens}:${c.layer}`), [
      `${LensKind.LENS_KIND_LOGIT}:0`, `${LensKind.LENS_KIND_LOGIT}:2`, `${LensKind.LENS_KIND_TUNED}:0`, `${LensKind.LENS_KIND_TUNED}:2`, `${LensKind.LENS_KIND_MODEL}:${L}`,
    ]);
    for (const c of pos.cells) {
      const lq = c.lens === LensKind.LENS_KIND_MODEL ? model : lensRow(u, d, row(c.layer, t), c.lens === LensKind.LENS_KIND_TUNED ? translators[c.layer] : null);
      const what = `lens ${c.lens} layer ${c.layer} position ${t}`;
      const order = Array.from(lq.keys()).sort((a, b) => lq[b] - lq[a] || a - b);
      assert.deepEqual(c.top.map((x) => x.id), order.slice(0, 5), `${what}: top-5 ids`);
      c.top.forEach((x, i) => {
        close(x.prob, Math.exp(lq[order[i]]), `${what}: top prob ${i}`);
        assert.equal(x.text, tok.tokenizer.decode([x.id]));
      });
      close(c.entropy, entropyOf(lq), `${what}: entropy`);
      close(c.maxProb, Math.exp(lq[order[0]]), `${what}: max prob`);
      close(c.klToModel, c.lens === LensKind.LENS_KIND_MODEL ? 0 : klOf(model, lq), `${what}: kl`, 1e-3);
      if (t + 1 < T) {
        close(c.crossEntropy, -lq[want[t + 1]], `${what}: ce`);
        assert.equal(c.targetRank, 1 + Array.from(lq).filter((x) => x > lq[want[t + 1]]).length, `${what}: rank`);
      } else {
        assert.ok(Number.isNaN(c.crossEntropy));
        assert.equal(c.targetRank, 0);
      }
      const full = c.layer === 0 && t === 2;
      assert.equal(c.fullLogProbs.length, full ? V : 0, `${what}: full distribution only where asked`);
      if (full) close(c.fullLogProbs[123], lq[123], `${what}: full[123]`);
    }
  }
  assert.ok(res.done!.seconds > 0);
});

test('defaults: the default tuned lens, all layers, top 10; token ids in; BOS prepended when asked', async () => {
  const res = await predict({ input: ids([10, 20, 30]), prependBos: true });
  assert.deepEqual(res.metadata.tokenIds, [4095, 10, 20, 30]);
  assert.deepEqual(res.metadata.layers, [0, 1, 2, 3]);
  assert.deepEqual(res.metadata.lenses, [LensKind.LENS_KIND_TUNED]);
  assert.equal(res.positions[0].cells.length, L + 1);
  assert.ok(res.positions.every((p) => p.cells.every((c) => c.top.length === 10)));
  const again = await predict({ input: ids([4095, 10, 20, 30]), prependBos: true });
  assert.deepEqual(again.metadata.tokenIds, [4095, 10, 20, 30], 'no second BOS');
});

test('inputs longer than the context: INVALID_ARGUMENT, or the last context tokens with truncate', async () => {
  const long = Array.from({ length: CTX + 7 }, (_, i) => (i * 37) % 4000);
  await assert.rejects(predict({ input: ids(long) }), grpcError(status.INVALID_ARGUMENT, /135 tokens, more than the model's context of 128; shorten the input or set truncate/));
  const res = await predict({ input: ids(long), truncate: true, lenses: [LensKind.LENS_KIND_LOGIT], layers: [1], topK: 1 });
  assert.equal(res.metadata.truncated, true);
  assert.equal(res.metadata.truncatedTokens, 7);
  assert.deepEqual(res.metadata.tokenIds, long.slice(7));
  assert.equal(res.positions.length, CTX);
});

test('bad input gets clear gRPC errors', async () => {
  const cases: Array<[Partial<lensV1.PredictRequest>, number, RegExp]> = [
    [{}, status.INVALID_ARGUMENT, /no input: give text or token_ids/],
    [{ input: text('') }, status.INVALID_ARGUMENT, /empty text/],
    [{ input: ids([]) }, status.INVALID_ARGUMENT, /empty token_ids/],
    [{ input: ids([1, 4096]) }, status.INVALID_ARGUMENT, /token_ids\[1\] = 4096 is outside the vocabulary 0\.\.4095/],
    [{ input: text('hi'), layers: [3] }, status.INVALID_ARGUMENT, /layer 3 is out of range: lensed layers are 0\.\.2 \(the model output, layer 3, is always included\)/],
    [{ input: text('hi'), layers: [-1] }, status.INVALID_ARGUMENT, /layer -1 is out of range/],
    [{ input: text('hi'), topK: 101 }, status.INVALID_ARGUMENT, /top_k must be 1\.\.100 \(0 = 10\), got 101/],
    [{ input: text('hi'), topK: -2 }, status.INVALID_ARGUMENT, /top_k must be 1\.\.100/],
    [{ input: text('hi'), lenses: [7 as lensV1.LensKind] }, status.INVALID_ARGUMENT, /unknown lens kind 7/],
    [{ input: text('hi'), lenses: [LensKind.LENS_KIND_MODEL] }, status.INVALID_ARGUMENT, /unknown lens kind 3/],
    [{ input: text('hi'), lensPath: 'nope' }, status.NOT_FOUND, /no such folder: "nope"/],
    [{ input: text('hi'), lensPath: '../../..' }, status.PERMISSION_DENIED, /outside the allowed roots/],
    [{ input: text('hi'), lensPath: 'other-hash' }, status.FAILED_PRECONDITION, /lens "other-hash": the lens is for another model .*another unembedding/],
    [{ input: text('hi'), lensPath: 'two-layers' }, status.FAILED_PRECONDITION, /2 translators \(num_hidden_layers\), the model has 3 layers/],
    [{ input: text('hi'), fullDistributionCells: Array.from({ length: 17 }, () => ({ layer: 0, position: 0 })) }, status.INVALID_ARGUMENT, /17 full-distribution cells asked for, at most 16/],
    [{ input: text('hi'), layers: [1], fullDistributionCells: [{ layer: 0, position: 0 }] }, status.INVALID_ARGUMENT, /cell \(layer 0, position 0\) is not predicted/],
  ];
  for (const [req, code, re] of cases) await assert.rejects(predict(req), grpcError(code, re), JSON.stringify(req));
  // a lens written by the original package (no unembed_sha256) is accepted, with a warning
  const orig = await predict({ input: text('hi'), lensPath: 'original', topK: 1 });
  assert.match(orig.metadata.warnings.join('\n'), /no unembed_sha256 .*cannot be checked/);
});

test('no tuned lens available: TUNED is FAILED_PRECONDITION, the default is the logit lens', async () => {
  const bare = await startEvaluationServer({ activationEndpoint: act.address, tokenizerEndpoint: tok.address, engine: 'onnx', logger: quiet, registry: new Registry() });
  servers.push(bare);
  await bare.modelReady;
  const c = createClient(lensV1.LensServiceClient, bare.address);
  try {
    await assert.rejects(predict({ input: text('hi'), lenses: [LensKind.LENS_KIND_TUNED] }, c), grpcError(status.FAILED_PRECONDITION, /no tuned lens: give lens_path/));
    const res = await predict({ input: text('hi'), topK: 2 }, c);
    assert.deepEqual(res.metadata.lenses, [LensKind.LENS_KIND_LOGIT]);
  } finally {
    c.close();
  }
});

test('Compare: true KL, JS and TV between two inputs at each layer and position', async () => {
  const a = 'The cat sat on the mat.', b = 'The dog sat on a log.';
  const res = await compare({ first: text(a), second: text(b), lens: LensKind.LENS_KIND_LOGIT, layers: [1], topK: 3 });
  const ia = Array.from(tok.tokenizer.encode(a)), ib = Array.from(tok.tokenizer.encode(b));
  assert.equal(res.metadata.positions, Math.min(ia.length, ib.length));
  assert.deepEqual(res.metadata.first!.tokenIds, ia);
  assert.deepEqual(res.metadata.second!.tokenIds, ib);
  assert.equal(res.positions.length, res.metadata.positions);
  const u = act.model.unembedding();
  const fwd = async (x: number[]) => (await act.runner.forward({ inputIds: Int32Array.from(x), batch: 1, seq: x.length, convention: 'hf' })).hiddenStates;
  const [ha, hb] = [await fwd(ia), await fwd(ib)];
  for (const pos of res.positions) {
    const t = pos.position;
    assert.deepEqual(pos.cells.map((c) => c.layer), [1, L]);
    for (const c of pos.cells) {
      const p = lensRow(u, d, ha.get(c.layer)!.subarray(t * d, (t + 1) * d), null, c.layer === L);
      const q = lensRow(u, d, hb.get(c.layer)!.subarray(t * d, (t + 1) * d), null, c.layer === L);
      const P = Array.from(p, Math.exp), Q = Array.from(q, Math.exp), M = P.map((x, i) => (x + Q[i]) / 2);
      const kl = (A: number[], B: number[]) => A.reduce((s, x, i) => s + (x > 0 ? x * Math.log(x / B[i]) : 0), 0);
      const close = (x: number, y: number, what: string) => assert.ok(Math.abs(x - y) <= 1e-3 * (1 + y), `${what} at ${c.layer}/${t}: ${x} vs ${y}`);
      close(c.kl, kl(P, Q), 'kl');
      close(c.js, 0.5 * kl(P, M) + 0.5 * kl(Q, M), 'js');
      close(c.totalVariation, 0.5 * P.reduce((s, x, i) => s + Math.abs(x - Q[i]), 0), 'tv');
      assert.equal(c.largestDeltas.length, 3);
      assert.ok(Math.abs(c.largestDeltas[0].delta) >= Math.abs(c.largestDeltas[2].delta));
    }
  }
  // identical inputs: all zero
  const same = await compare({ first: text(a), second: text(a) });
  assert.ok(same.positions.every((p) => p.cells.every((c) => c.kl < 1e-6 && c.js < 1e-6 && c.totalVariation < 1e-4)));
  await assert.rejects(compare({ first: text(a) }), grpcError(status.INVALID_ARGUMENT, /second: no input/));
});

test('ListLenses: the logit lens and the lens folders, with compatibility', async () => {
  const res = await unary(client, client.listLenses, {});
  const byName = new Map(res.lenses.map((l) => [l.name, l]));
  assert.equal(byName.get('logit')!.kind, LensKind.LENS_KIND_LOGIT);
  assert.equal(byName.get('logit')!.unembedHash, unembedSha256(act.model));
  assert.equal(byName.get('good')!.compatible, true);
  assert.equal(byName.get('original')!.compatible, true);
  assert.match(byName.get('original')!.reason, /no unembed_sha256/);
  assert.equal(byName.get('other-hash')!.compatible, false);
  assert.equal(byName.get('two-layers')!.compatible, false);
  assert.equal(byName.get('two-layers')!.numLayers, 2);
  // A lens whose params file was cut short is listed as not compatible, with the reason,
  // not reported usable and then refused by Predict.
  writeLens('truncated', { unembedSha256: unembedSha256(act.model) });
  rmSync(join(lensRoot, 'truncated', 'params.pt'));
  const st = join(lensRoot, 'truncated', 'params.safetensors');
  truncateSync(st, statSync(st).size - 100);
  const after = new Map((await unary(client, client.listLenses, {})).lenses.map((l) => [l.name, l]));
  assert.equal(after.get('truncated')!.compatible, false);
  assert.match(after.get('truncated')!.reason, /params\.safetensors/);
  await assert.rejects(predict({ input: text('hi'), lensPath: 'truncated' }), grpcError(status.FAILED_PRECONDITION, /params\.safetensors/));
  rmSync(join(lensRoot, 'truncated'), { recursive: true });
});

test('admission: beyond the budget RESOURCE_EXHAUSTED with a retry hint; health and metrics', async () => {
  const none = await startEvaluationServer({
    activationEndpoint: act.address, tokenizerEndpoint: tok.address, engine: 'onnx', logger: quiet, registry: new Registry(), limits: { maxConcurrentPredictions: 0 },
  });
  servers.push(none);
  const c = createClient(lensV1.LensServiceClient, none.address);
  try {
    await assert.rejects(predict({ input: text('hi') }, c), (e: { code: number; details: string; metadata: Metadata }) => {
      assert.equal(e.code, status.RESOURCE_EXHAUSTED);
      assert.match(e.details, /0 lens requests are running and the admission budget is 0; retry in about \d+ ms/);
      assert.ok(Number(e.metadata.get('retry-after-ms')[0]) >= 100);
      return true;
    });
  } finally {
    c.close();
  }
  // budget 1: of several concurrent calls, the first is served and the rest refused
  const one = await startEvaluationServer({
    activationEndpoint: act.address, tokenizerEndpoint: tok.address, engine: 'onnx', logger: quiet, registry: new Registry(), limits: { maxConcurrentPredictions: 1 },
  });
  servers.push(one);
  await one.modelReady;
  const c1 = createClient(lensV1.LensServiceClient, one.address);
  try {
    const long = ids(Array.from({ length: CTX }, (_, i) => i));
    const results = await Promise.allSettled([1, 2, 3].map(() => predict({ input: long, lenses: [LensKind.LENS_KIND_LOGIT] }, c1)));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && (r.reason as { code: number }).code === status.RESOURCE_EXHAUSTED).length;
    assert.ok(ok >= 1 && refused >= 1 && ok + refused === 3, `ok ${ok}, refused ${refused}`);
  } finally {
    c1.close();
  }
  assert.equal(await checkHealth(server.address, serviceNames.lens), 'SERVING');
  const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
  assert.match(metrics, /tunedlens_lens_predictions_total\{rpc="Predict",outcome="OK"\} [1-9]/);
  assert.match(metrics, /tunedlens_lens_predictions_total\{rpc="Predict",outcome="InvalidArgument"\} [1-9]/);
  assert.match(metrics, /tunedlens_lens_prediction_seconds_count\{rpc="Predict"\} [1-9]/);
  assert.match(metrics, /tunedlens_lens_in_flight 0/);
  assert.match(metrics, /tunedlens_lens_positions_total\{rpc="Compare"\} [1-9]/);
});

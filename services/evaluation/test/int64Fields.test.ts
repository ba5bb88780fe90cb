// EvalConfig.tokens is an int64 read as a JS number: over real gRPC on loopback, a value
// beyond 2^53-1 is INVALID_ARGUMENT naming the field (grpc-kit's deserializer guard),
// not INTERNAL "Error deserializing request"; 2^64-1 on the wire is -1 for an int64,
// which StartEvaluation's own check refuses. Raw bytes from a generic client, since
// ts-proto's encoder takes numbers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { status } from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { serviceNames } from '@tuned-lens/proto';
import { startEvaluationServer, type EvaluationServer } from '../src/index';
import { quiet } from './upstreams';
import { sField, varint, vField } from '@tuned-lens/grpc-kit/raw-protobuf';

/** StartEvaluationRequest{config{activation_endpoints, tokenizer_endpoint, data_path, output_path, tokens}}. */
function startRequest(tokens: bigint): Buffer {
  const config = Buffer.concat([sField(1, '127.0.0.1:1'), sField(2, '127.0.0.1:2'), sField(3, 'corpus.jsonl'), sField(5, 'out'), vField(7, tokens)]);
  return Buffer.concat([Buffer.from([0x0a, ...varint(BigInt(config.length))]), config]);
}

let server: EvaluationServer;
let raw: Client;
before(async () => {
  server = await startEvaluationServer({ outputRoots: [mkdtempSync(join(tmpdir(), 'eval-int64-'))], engine: 'onnx', logger: quiet, registry: new Registry(), metricsPort: null });
  raw = new Client(server.address, credentials.createInsecure());
});
after(async () => {
  raw?.close();
  await server?.shutdown(500);
});

function startEvaluation(bytes: Buffer): Promise<{ code: number; details: string }> {
  const identity = (b: Buffer) => b;
  return new Promise((resolve) => {
    raw.makeUnaryRequest(`/${serviceNames.evaluation}/StartEvaluation`, identity, identity, bytes, new Metadata(), { deadline: new Date(Date.now() + 10_000) },
      (err) => resolve({ code: err?.code ?? status.OK, details: err?.details ?? '' }));
  });
}

test('EvalConfig.tokens beyond 2^53-1 is INVALID_ARGUMENT naming the field', async () => {
  for (const v of [2n ** 63n - 1n, 2n ** 53n]) {
    const got = await startEvaluation(startRequest(v));
    assert.equal(got.code, status.INVALID_ARGUMENT, got.details);
    assert.equal(got.details, `tunedlens.evaluation.v1.StartEvaluationRequest.config.tokens: ${v} is larger than 2^53-1, the largest this service accepts`);
  }
});

test('EvalConfig.tokens = 2^64-1 is -1 on the wire, refused by StartEvaluation as negative', async () => {
  const got = await startEvaluation(startRequest(2n ** 64n - 1n));
  assert.equal(got.code, status.INVALID_ARGUMENT, got.details);
  assert.equal(got.details, 'tokens must not be negative (0 = the whole corpus), got -1');
});

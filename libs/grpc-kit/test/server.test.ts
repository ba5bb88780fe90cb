// Integration tests of the server bootstrap over real gRPC on loopback. The service
// here is the generated TokenizerService definition with a small in-test
// implementation: what is under test is the kit (health, reflection, limits, errors,
// metrics, shutdown), not tokenization.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenizerV1, protoFiles, serviceNames } from '@tuned-lens/proto';
import { Registry } from '@tuned-lens/metrics';
import {
  startServer, createClient, unary, checkHealth, listServices, unaryHandler, bidiStreamHandler,
  invalidArgument, resourceExhausted, createLogger, status, writeMessage, type RunningServer,
} from '../src/index';

const quiet = createLogger('test', { level: 'error', write: () => {} });

function implementation(): tokenizerV1.TokenizerServiceServer {
  return {
    getTokenizerInfo: unaryHandler('GetTokenizerInfo', quiet, async () => { throw new Error('boom'); }),
    encode: unaryHandler('Encode', quiet, async (req: tokenizerV1.EncodeRequest) => {
      if (req.inputs.length === 0) throw invalidArgument('no inputs: give at least one text');
      if (req.inputs.length > 3) throw resourceExhausted('too many inputs', 1500);
      return { encodings: req.inputs.map((i) => ({ ids: [i.kind?.$case === 'text' ? i.kind.text.length : -1], tokens: [] })) };
    }),
    decode: unaryHandler('Decode', quiet, async () => ({ texts: [] })),
    // maxSeqLen 1 fails with INVALID_ARGUMENT after one frame; anything else never
    // answers (used to show that shutdown forces streams that do not finish).
    chunkAndTokenize: bidiStreamHandler('ChunkAndTokenize', quiet, async (call) => {
      const first = await call.iterator({ destroyOnReturn: false }).next();
      if (first.value?.payload?.config?.maxSeqLen === 1) {
        await writeMessage(call, { frame: { $case: 'start', start: { chunkSize: 1, eosToken: '' } } });
        throw invalidArgument('max_seq_len 1 is too short');
      }
      await new Promise<void>(() => {});
    }),
  };
}

async function withServer(fn: (s: RunningServer, registry: Registry) => Promise<void>, extra: { maxMessageBytes?: number } = {}) {
  const registry = new Registry();
  const s = await startServer({
    component: 'test', logger: quiet, registry, metricsPort: 0, maxMessageBytes: extra.maxMessageBytes,
    services: [{ name: serviceNames.tokenizer, definition: tokenizerV1.TokenizerServiceService, implementation: implementation() }],
    protoFiles: [protoFiles.tensor, protoFiles.tokenizer],
  });
  try { await fn(s, registry); } finally { await s.shutdown(500); }
}

test('health starts NOT_SERVING and follows setServing, per service', async () => {
  await withServer(async (s) => {
    assert.equal(await checkHealth(s.address, serviceNames.tokenizer), 'NOT_SERVING');
    s.setServing(true);
    assert.equal(await checkHealth(s.address, ''), 'SERVING');
    assert.equal(await checkHealth(s.address, serviceNames.tokenizer), 'SERVING');
    await assert.rejects(checkHealth(s.address, 'no.such.Service'), (e: { code: number }) => e.code === status.NOT_FOUND);
  });
});

test('reflection lists our service and health', async () => {
  await withServer(async (s) => {
    const names = await listServices(s.address);
    assert.ok(names.includes(serviceNames.tokenizer), names.join(','));
    assert.ok(names.includes('grpc.health.v1.Health'), names.join(','));
  });
});

test('errors map to statuses a person can act on; the server keeps serving', async () => {
  await withServer(async (s) => {
    const client = createClient(tokenizerV1.TokenizerServiceClient, s.address);
    try {
      await assert.rejects(unary(client, client.encode, { inputs: [], addSpecialTokens: false, returnTokens: false }),
        (e: { code: number; details: string }) => e.code === status.INVALID_ARGUMENT && /at least one text/.test(e.details));
      await assert.rejects(unary(client, client.getTokenizerInfo, {}),
        (e: { code: number; details: string }) => e.code === status.INTERNAL && /boom/.test(e.details));
      const busy = await unary(client, client.encode, { inputs: Array(4).fill({ kind: { $case: 'text', text: 'x' } }), addSpecialTokens: false, returnTokens: false })
        .then(() => null, (e) => e as { code: number; metadata: { get(k: string): unknown[] } });
      assert.equal(busy?.code, status.RESOURCE_EXHAUSTED);
      assert.deepEqual(busy?.metadata.get('retry-after-ms'), ['1500']);
      assert.deepEqual(busy?.metadata.get('grpc-retry-pushback-ms'), ['1500']);
      const ok = await unary(client, client.encode, { inputs: [{ kind: { $case: 'text', text: 'four' } }], addSpecialTokens: false, returnTokens: false });
      assert.deepEqual(ok.encodings[0].ids, [4]);
    } finally { client.close(); }
  });
});

test('messages over the size limit get RESOURCE_EXHAUSTED and the server keeps serving', async () => {
  await withServer(async (s) => {
    const client = createClient(tokenizerV1.TokenizerServiceClient, s.address);
    try {
      const big = 'x'.repeat(80 * 1024);
      await assert.rejects(unary(client, client.encode, { inputs: [{ kind: { $case: 'text', text: big } }], addSpecialTokens: false, returnTokens: false }),
        (e: { code: number }) => e.code === status.RESOURCE_EXHAUSTED);
      const ok = await unary(client, client.encode, { inputs: [{ kind: { $case: 'text', text: 'ab' } }], addSpecialTokens: false, returnTokens: false });
      assert.deepEqual(ok.encodings[0].ids, [2]);
    } finally { client.close(); }
  }, { maxMessageBytes: 64 * 1024 });
});

test('/metrics exposes grpc_server_* with codes', async () => {
  await withServer(async (s) => {
    const client = createClient(tokenizerV1.TokenizerServiceClient, s.address);
    await unary(client, client.encode, { inputs: [{ kind: { $case: 'text', text: 'a' } }], addSpecialTokens: false, returnTokens: false });
    await unary(client, client.encode, { inputs: [], addSpecialTokens: false, returnTokens: false }).catch(() => {});
    client.close();
    const body = await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text();
    const svc = serviceNames.tokenizer.replaceAll('.', '\\.');
    assert.match(body, new RegExp(`^grpc_server_handled_total\\{grpc_type="unary",grpc_service="${svc}",grpc_method="Encode",grpc_code="OK"\\} 1$`, 'm'));
    assert.match(body, new RegExp(`^grpc_server_handled_total\\{grpc_type="unary",grpc_service="${svc}",grpc_method="Encode",grpc_code="InvalidArgument"\\} 1$`, 'm'));
    assert.match(body, new RegExp(`^grpc_server_msg_received_total\\{grpc_type="unary",grpc_service="${svc}",grpc_method="Encode"\\} 2$`, 'm'));
    assert.match(body, /^grpc_server_handling_seconds_count\{.*grpc_method="Encode"\} 2$/m);
  });
});

test('shutdown drains, then forces streams that do not finish within the grace period', async () => {
  const registry = new Registry();
  const s = await startServer({
    component: 'test', logger: quiet, registry,
    services: [{ name: serviceNames.tokenizer, definition: tokenizerV1.TokenizerServiceService, implementation: implementation() }],
    protoFiles: [protoFiles.tensor, protoFiles.tokenizer],
  });
  const client = createClient(tokenizerV1.TokenizerServiceClient, s.address);
  const call = client.chunkAndTokenize();
  const ended = new Promise<number>((resolve) => call.on('error', (e: { code: number }) => resolve(e.code)));
  await writeMessage(call, { payload: { $case: 'config', config: tokenizerV1.ChunkConfig.fromPartial({}) } });
  await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  await s.shutdown(300);
  const took = Date.now() - t0;
  assert.ok(took >= 250 && took < 5000, `shutdown took ${took} ms`);
  // The client sees its stream cut (not a hang): UNAVAILABLE or CANCELLED per timing.
  assert.ok([status.UNAVAILABLE, status.CANCELLED].includes(await ended));
  client.close();
});

test('a stream handler that throws ends the call with its status after the frames sent', async () => {
  await withServer(async (s) => {
    const client = createClient(tokenizerV1.TokenizerServiceClient, s.address);
    const call = client.chunkAndTokenize();
    const frames: string[] = [];
    call.on('data', (r: tokenizerV1.ChunkAndTokenizeResponse) => frames.push(r.frame?.$case ?? '?'));
    const ended = new Promise<{ code: number; details: string }>((resolve) => call.on('error', resolve));
    call.write({ payload: { $case: 'config', config: tokenizerV1.ChunkConfig.fromPartial({ maxSeqLen: 1 }) } });
    const err = await ended;
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, /too short/);
    assert.deepEqual(frames, ['start']);
    client.close();
  });
});

test('plaintext on a network address must be asked for', async () => {
  await assert.rejects(startServer({ component: 'test', logger: quiet, host: '0.0.0.0', services: [], protoFiles: [] }), /refusing plaintext/);
});

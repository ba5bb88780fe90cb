// 64-bit fields of Extract over real gRPC on loopback (tiny-gpt2): batch_id is a uint64
// the client chooses and gets back exactly, 2^64-1 included (JS_STRING in the proto);
// a dimension of input_ids beyond 2^53-1 is INVALID_ARGUMENT naming the field (grpc-kit's
// deserializer guard); a dimension that is negative on the wire (2^64-1 is -1 for int64)
// is refused by the service, naming input_ids.shape. Raw bytes from a generic client
// where ts-proto's encoder (numbers) cannot say the value.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { ActivationClient } from '@tuned-lens/clients';
import { createLogger, status } from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { activationV1, tensorV1, serviceNames } from '@tuned-lens/proto';
import { startActivationServer, type ActivationServer } from '../src/index';
import { lenField, varint, vField } from '@tuned-lens/grpc-kit/raw-protobuf';

const quiet = createLogger('test', { level: 'error', write: () => {} });
const servers: ActivationServer[] = [];
after(async () => { for (const s of servers) await s.shutdown(500); });

async function serve() {
  const s = await startActivationServer({ modelDir: join(tinyModelsDir, 'tiny-gpt2'), engine: 'onnx', logger: quiet, registry: new Registry(), metricsPort: null, warmup: false });
  servers.push(s);
  await s.ready;
  return s;
}

const U64_MAX = '18446744073709551615';

/** ExtractRequest{batch{batch_id, input_ids{dtype I32, shape (packed), data}}}. */
const rawBatch = (batchId: bigint, shape: bigint[], data: Buffer) =>
  lenField(2, vField(1, batchId), lenField(2, vField(1, BigInt(tensorV1.Dtype.DTYPE_I32)), lenField(2, Buffer.from(shape.flatMap(varint))), lenField(3, data)));
const rawConfig = lenField(1); // ExtractRequest{config{}}: the defaults

function rawExtract(address: string, messages: Buffer[]): Promise<{ code: number; details: string; frames: number }> {
  const client = new Client(address, credentials.createInsecure());
  const identity = (b: Buffer) => b;
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest(`/${serviceNames.activation}/Extract`, identity, identity, new Metadata(), { deadline: new Date(Date.now() + 30_000) });
    let frames = 0;
    call.on('data', () => { frames++; });
    call.on('error', () => {});
    call.on('status', (st) => { client.close(); resolve({ code: st.code, details: st.details, frames }); });
    for (const m of messages) call.write(m);
    call.end();
  });
}

test('batch_id 2^64-1 comes back exactly on every frame of its batch', async () => {
  const server = await serve();
  const client = new ActivationClient(server.address);
  try {
    const call = client.raw.extract({ deadline: new Date(Date.now() + 30_000) });
    const ids: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (res: activationV1.ExtractResponse) => {
        const f = res.frame;
        if (f?.$case === 'chunk') ids.push(f.chunk.batchId);
        else if (f?.$case === 'batchDone') ids.push(`done ${f.batchDone.batchId}`);
      });
      call.on('error', reject);
      call.on('end', resolve);
    });
    call.write({ payload: { $case: 'config', config: activationV1.ExtractConfig.fromPartial({ layers: [0, 3] }) } });
    call.write({ payload: { $case: 'batch', batch: { batchId: U64_MAX, inputIds: { dtype: tensorV1.Dtype.DTYPE_I32, shape: [1, 4], data: Buffer.from(Int32Array.from([1, 2, 3, 4]).buffer) } } } });
    call.end();
    await done;
    assert.deepEqual(ids, [U64_MAX, U64_MAX, `done ${U64_MAX}`]);
  } finally {
    client.close();
  }
});

test('input_ids.shape: beyond 2^53-1 the decoder guard names the field; a negative dim the service refuses', async () => {
  const server = await serve();
  const data = Buffer.from(Int32Array.from([1, 2, 3, 4]).buffer);
  const huge = await rawExtract(server.address, [rawConfig, rawBatch(1n, [1n, 2n ** 63n - 1n], data)]);
  assert.equal(huge.code, status.INVALID_ARGUMENT, huge.details);
  assert.equal(huge.details, 'tunedlens.activation.v1.ExtractRequest.batch.input_ids.shape[1]: 9223372036854775807 is larger than 2^53-1, the largest this service accepts');
  const negative = await rawExtract(server.address, [rawConfig, rawBatch(5n, [1n, 2n ** 64n - 1n], data)]);
  assert.equal(negative.code, status.INVALID_ARGUMENT, negative.details);
  assert.equal(negative.details, 'batch 5: input_ids.shape [1, -1]: batch and seq must both be at least 1');
  // the same bytes with a sane shape are served
  const ok = await rawExtract(server.address, [rawConfig, rawBatch(2n ** 64n - 1n, [1n, 4n], data)]);
  assert.equal(ok.code, status.OK, ok.details);
  assert.ok(ok.frames > 1);
});

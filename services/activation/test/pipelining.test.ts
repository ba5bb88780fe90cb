// Extract's pipelining, over real gRPC on loopback with a backend whose forward passes
// are observable (observableBackend.ts): batch k+1 is computed while batch k's frames
// wait for the client, a cancelled call stops the batch computed ahead and lets go of
// every result, and a bad batch fails the call only after the batches before it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { ActivationClient, type ExtractedBatch, type TokenBatchInput } from '@tuned-lens/clients';
import { createLogger, status } from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { activationV1, tensorV1 } from '@tuned-lens/proto';
import { startActivationServer, type ActivationServer } from '../src/index';
import { ObservableBackend } from './observableBackend';

const quiet = createLogger('test', { level: 'error', write: () => {} });
const servers: ActivationServer[] = [];
const clients: ActivationClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.shutdown(500);
});

// Batches big enough that the transport cannot buffer one whole (48 MiB in 64 KiB
// frames, against at most a few MiB of socket, HTTP/2 window and stream buffers), so a
// server that does not pipeline cannot reach batch 2 while the client reads nothing.
const SEQ = 4096;
const D_MODEL = 1024;
const NUM_LAYERS = 2;
const CHUNK = 64 * 1024;

async function serveObservable(backend: ObservableBackend, registry = new Registry()) {
  const server = await startActivationServer({ modelDir: 'observable', loadBackend: async () => backend, logger: quiet, registry, metricsPort: null });
  servers.push(server);
  await server.ready;
  const client = new ActivationClient(server.address);
  clients.push(client);
  return { server, client, registry };
}

type Frame = { batchId: number; what: 'chunk'; layer: number; first: number } | { batchId: number; what: 'done' };

/** An Extract call driven frame by frame: batches tagged by their (constant) token id. */
function openRawExtract(client: ActivationClient, tags: number[], deadlineMs = 120_000) {
  const call = client.raw.extract({ deadline: new Date(Date.now() + deadlineMs) });
  call.write({ payload: { $case: 'config', config: { layers: [], dtype: tensorV1.Dtype.DTYPE_F32, convention: 0, includeLogits: false, maxChunkBytes: CHUNK } } });
  for (const tag of tags) {
    const ids = new Int32Array(SEQ).fill(tag);
    call.write({ payload: { $case: 'batch', batch: { batchId: String(tag), inputIds: { dtype: tensorV1.Dtype.DTYPE_I32, shape: [1, SEQ], data: Buffer.from(ids.buffer) } } } });
  }
  const frames: Frame[] = [];
  call.on('data', (res: activationV1.ExtractResponse) => {
    const f = res.frame;
    if (f?.$case === 'chunk') {
      const data = f.chunk.chunk!.data;
      frames.push({ batchId: Number(f.chunk.batchId), what: 'chunk', layer: f.chunk.layer, first: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + 4))[0] });
    } else if (f?.$case === 'batchDone') frames.push({ batchId: Number(f.batchDone.batchId), what: 'done' });
  });
  call.on('error', () => {}); // the status comes with 'status'; only the deadline test looks at it
  const status = new Promise<number>((resolve) => call.on('status', (s: { code: number }) => resolve(s.code)));
  const ended = new Promise<void>((resolve) => call.on('close', () => resolve()));
  /** Resolves once the first frame arrived, with the stream paused right after it. */
  const pausedAfterFirstFrame = new Promise<void>((resolve) => {
    call.once('data', () => {
      call.pause();
      resolve();
    });
  });
  return { call, frames, ended, pausedAfterFirstFrame, status };
}

/** A safety net, not a measurement: a missing event fails with `why` instead of hanging. */
async function within<T>(p: Promise<T>, why: string, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(why)), ms); });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('the forward of batch 2 starts while batch 1 is still unread by the client; frames stay in order', async () => {
  const backend = new ObservableBackend({ numLayers: NUM_LAYERS, dModel: D_MODEL });
  const { client } = await serveObservable(backend);
  const stream = openRawExtract(client, [1, 2, 3]);
  stream.call.end();
  await within(stream.pausedAfterFirstFrame, 'no frame of batch 1 arrived');
  await within(backend.whenStarted(2), 'the forward of batch 2 never started while batch 1 waited for the client: Extract is not pipelined');
  assert.ok(!stream.frames.some((f) => f.what === 'done'), 'batch 1 cannot be complete: the client has read one frame');
  // One batch ahead at most: batch 3 is read only once batch 1 is written.
  assert.deepEqual(backend.started, [1, 2]);

  stream.call.resume();
  await within(stream.ended, 'the stream did not end');
  assert.deepEqual(backend.started, [1, 2, 3]);
  const framesPerState = (SEQ * D_MODEL * 4) / CHUNK;
  const expected: Frame[] = [];
  for (const tag of [1, 2, 3]) {
    for (let l = 0; l <= NUM_LAYERS; l++) for (let i = 0; i < framesPerState; i++) expected.push({ batchId: tag, what: 'chunk', layer: l, first: tag * 100 + l });
    expected.push({ batchId: tag, what: 'done' });
  }
  assert.equal(stream.frames.length, expected.length);
  assert.deepEqual(stream.frames, expected);
});

test('a call cancelled mid-pipeline stops the batch computed ahead, reads no further batch and lets go of every result', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const backend = new ObservableBackend({ numLayers: NUM_LAYERS, dModel: D_MODEL }, [2]);
  const { registry } = await serveObservable(backend);
  const stream = openRawExtract(clients.at(-1)!, [1, 2, 3]);
  await within(stream.pausedAfterFirstFrame, 'no frame of batch 1 arrived');
  await within(backend.whenStarted(2), 'the forward of batch 2 never started: Extract is not pipelined');

  stream.call.cancel();
  await within(backend.whenAborted(2), 'the forward of batch 2 was not aborted when the call was cancelled');
  await within(backend.whenIdle(), 'a forward pass is still running');
  assert.deepEqual(backend.started, [1, 2], 'batch 3 must not be read or run after the cancel');
  const depth = await registry.getSingleMetric('tunedlens_activation_queue_depth')!.get();
  assert.equal(depth.values[0].value, 0, 'the forward queue is empty');
  // Batch 1's hidden states (48 MiB) are referenced by nothing once the handler is gone.
  // gc() runs after the pending I/O callbacks so grpc-js has torn the stream down.
  for (let i = 0; i < 5 && backend.results.get(1)?.deref(); i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  assert.equal(backend.results.get(1)?.deref(), undefined, 'batch 1 hidden states are still reachable after the cancel');
});

test('a deadline passing while the model computes aborts that pass and drops the queued one unrun', async () => {
  const backend = new ObservableBackend({ numLayers: NUM_LAYERS, dModel: D_MODEL }, [1]);
  const { registry } = await serveObservable(backend);
  const stream = openRawExtract(clients.at(-1)!, [1, 2], 1000);
  await within(backend.whenAborted(1), 'the forward of batch 1 was not aborted when the deadline passed');
  await within(backend.whenIdle(), 'a forward pass is still running');
  assert.equal(await within(stream.status, 'the call got no status'), status.DEADLINE_EXCEEDED);
  assert.deepEqual(backend.started, [1], 'batch 2 waited in the queue and never ran');
  const depth = await registry.getSingleMetric('tunedlens_activation_queue_depth')!.get();
  assert.equal(depth.values[0].value, 0, 'the forward queue is empty');
});

test('a bad batch ends the call with a status naming it, after every earlier batch was sent', async () => {
  const server = await startActivationServer({ modelDir: join(tinyModelsDir, 'tiny-gpt2'), engine: 'onnx', logger: quiet, registry: new Registry(), metricsPort: null });
  servers.push(server);
  await server.ready;
  const client = new ActivationClient(server.address);
  clients.push(client);
  const good = (batchId: number): TokenBatchInput => ({ batchId, inputIds: Int32Array.from([1, 2, 3, 4]), batch: 1, seq: 4 });
  const cases: Array<[string, TokenBatchInput, RegExp]> = [
    // Refused by the model's checks (in front of the worker) while batch 1 is written.
    ['id outside the vocabulary', { batchId: 2, inputIds: Int32Array.from([1, 4096, 3, 4]), batch: 1, seq: 4 }, /^batch 2: token id 4096 .* outside the vocabulary/],
    // Refused when the request is read, also while batch 1 is written.
    ['ids do not fill the shape', { batchId: 2, inputIds: Int32Array.from([1, 2, 3]), batch: 1, seq: 4 }, /^batch 2: /],
  ];
  for (const [name, bad, details] of cases) {
    const got: ExtractedBatch[] = [];
    await assert.rejects(
      (async () => { for await (const b of client.extract([good(1), bad, good(3)])) got.push(b); })(),
      (e: { code?: number; details?: string }) => {
        assert.equal(e.code, status.INVALID_ARGUMENT, `${name}: ${e.details}`);
        assert.match(e.details ?? '', details, name);
        return true;
      },
    );
    assert.deepEqual(got.map((b) => b.batchId), [1], `${name}: batch 1 arrives whole before the error, batch 3 never`);
    assert.equal(got[0].hiddenStates.size, 4, name);
  }
});

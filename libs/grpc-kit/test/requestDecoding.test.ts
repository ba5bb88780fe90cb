// Requests the generated decoders refuse get INVALID_ARGUMENT naming the message and
// field, over real gRPC on loopback: the services' generated definitions behind
// startServer, with handlers that only record what reaches them (what is under test is
// the kit's deserializer guard, not the services). Messages are raw bytes from a generic
// client, since ts-proto's encoders take numbers and cannot say 2^63-1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Client, credentials, Metadata,
  type sendUnaryData, type ServerReadableStream, type ServiceDefinition, type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { activationV1, evaluationV1, protoFiles, protoPath, protoRoot, serviceNames, tensorV1, tokenizerV1, trainingV1 } from '@tuned-lens/proto';
import { Registry } from '@tuned-lens/metrics';
import {
  bidiStreamHandler, createLogger, failedPrecondition, serverStreamHandler, startServer, status, unaryHandler,
  type RunningServer,
} from '../src/index';
import { guardRequestDecoding, RequestSchema, UndecodableRequest } from '../src/requestDecoding';
import { fixed64Field, lenField, packed, varint, vField } from '../src/rawProtobuf';

const quiet = createLogger('test', { level: 'error', write: () => {} });


const U64_MAX = 2n ** 64n - 1n;
const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// Field numbers, from the .proto files.
const chunkConfigRequest = (...fields: Buffer[]) => lenField(1, ...fields); // ChunkAndTokenizeRequest.config
const SKIP_CHUNKS = 7; // ChunkConfig.skip_chunks
const extractBatch = (...fields: Buffer[]) => lenField(2, ...fields); // ExtractRequest.batch
const BATCH_ID = 1; // TokenBatch.batch_id
const inputIds = (...fields: Buffer[]) => lenField(2, ...fields); // TokenBatch.input_ids (Tensor)
const SHAPE = 2; // Tensor.shape
const startJob = (...fields: Buffer[]) => lenField(1, ...fields); // StartJobRequest.config
const TOKENS_PER_STEP = 6; // TrainConfig.tokens_per_step
const startEvaluation = (...fields: Buffer[]) => lenField(1, ...fields); // StartEvaluationRequest.config
const EVAL_TOKENS = 7; // EvalConfig.tokens

// ---- the server ----------------------------------------------------------------------
/** Every method records its request(s), then fails FAILED_PRECONDITION "reached <method>". */
function recording(definition: ServiceDefinition, seen: Array<{ method: string; request: unknown }>): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [key, m] of Object.entries(definition)) {
    const reached = () => failedPrecondition(`reached ${key}`);
    if (!m.requestStream && !m.responseStream) {
      impl[key] = unaryHandler(key, quiet, async (request) => { seen.push({ method: key, request }); throw reached(); });
    } else if (!m.requestStream) {
      impl[key] = serverStreamHandler(key, quiet, async (call) => { seen.push({ method: key, request: call.request }); throw reached(); });
    } else {
      impl[key] = bidiStreamHandler(key, quiet, async (call) => {
        // destroyOnReturn false: a destroyed call could not carry the status
        for await (const request of call.iterator({ destroyOnReturn: false })) seen.push({ method: key, request });
        throw reached();
      });
    }
  }
  return impl;
}

let server: RunningServer;
let registry: Registry;
let raw: Client;
const seen: Array<{ method: string; request: unknown }> = [];

before(async () => {
  registry = new Registry();
  const services = [
    { name: serviceNames.tokenizer, definition: tokenizerV1.TokenizerServiceService },
    { name: serviceNames.activation, definition: activationV1.ActivationServiceService },
    { name: serviceNames.training, definition: trainingV1.LensTrainingServiceService },
    { name: serviceNames.evaluation, definition: evaluationV1.EvaluationServiceService },
  ];
  server = await startServer({
    component: 'test', logger: quiet, registry, metricsPort: 0, servingAtStart: true,
    services: services.map((s) => ({ ...s, implementation: recording(s.definition as ServiceDefinition, seen) })),
    protoFiles: [protoFiles.tensor, protoFiles.tokenizer, protoFiles.activation, protoFiles.training, protoFiles.evaluation],
  });
  raw = new Client(server.address, credentials.createInsecure());
});
after(async () => {
  raw.close();
  await server.shutdown(500);
});

// ---- a generic client ----------------------------------------------------------------
type Outcome = { code: number; details: string };
const identity = (b: Buffer) => b;
const deadline = () => ({ deadline: new Date(Date.now() + 10_000) });

function callUnary(path: string, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    raw.makeUnaryRequest(path, identity, identity, bytes, new Metadata(), deadline(), (err) => resolve({ code: err?.code ?? status.OK, details: err?.details ?? '' }));
  });
}

function callServerStream(path: string, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = raw.makeServerStreamRequest(path, identity, identity, bytes, new Metadata(), deadline());
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('status', (st) => resolve({ code: st.code, details: st.details }));
  });
}

function callBidi(path: string, messages: Buffer[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = raw.makeBidiStreamRequest(path, identity, identity, new Metadata(), deadline());
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('status', (st) => resolve({ code: st.code, details: st.details }));
    for (const m of messages) call.write(m);
    call.end();
  });
}

const path = (service: string, method: string) => `/${service}/${method}`;
const CHUNK = path(serviceNames.tokenizer, 'ChunkAndTokenize');
const EXTRACT = path(serviceNames.activation, 'Extract');
const START_JOB = path(serviceNames.training, 'StartJob');
const START_EVAL = path(serviceNames.evaluation, 'StartEvaluation');

function assertInvalid(got: Outcome, details: string | RegExp) {
  assert.equal(got.code, status.INVALID_ARGUMENT, got.details);
  if (typeof details === 'string') assert.equal(got.details, details);
  else assert.match(got.details, details);
}

const tooLarge = (field: string, v: bigint) => `${field}: ${v} is larger than 2^53-1, the largest this service accepts`;

// ---- tests ---------------------------------------------------------------------------
test('int64 fields beyond 2^53-1 get INVALID_ARGUMENT naming the field, in every service', async () => {
  for (const v of [I64_MAX, SAFE + 1n]) {
    assertInvalid(await callBidi(CHUNK, [chunkConfigRequest(vField(SKIP_CHUNKS, v))]),
      tooLarge('tunedlens.tokenizer.v1.ChunkAndTokenizeRequest.config.skip_chunks', v));
    assertInvalid(await callUnary(START_JOB, startJob(vField(TOKENS_PER_STEP, v))),
      tooLarge('tunedlens.training.v1.StartJobRequest.config.tokens_per_step', v));
    assertInvalid(await callUnary(START_EVAL, startEvaluation(vField(EVAL_TOKENS, v))),
      tooLarge('tunedlens.evaluation.v1.StartEvaluationRequest.config.tokens', v));
  }
  assertInvalid(await callUnary(START_EVAL, startEvaluation(vField(EVAL_TOKENS, I64_MIN))),
    'tunedlens.evaluation.v1.StartEvaluationRequest.config.tokens: -9223372036854775808 is smaller than -(2^53-1), the smallest this service accepts');
  assert.deepEqual(seen, [], 'no handler saw a request');
});

test('Tensor.shape inside an Extract batch is named with its index, packed or not', async () => {
  const batch = (shape: Buffer) => extractBatch(vField(BATCH_ID, 7n), inputIds(vField(1, 4n), shape));
  assertInvalid(await callBidi(EXTRACT, [batch(packed(SHAPE, [1n, I64_MAX]))]),
    tooLarge('tunedlens.activation.v1.ExtractRequest.batch.input_ids.shape[1]', I64_MAX));
  assertInvalid(await callBidi(EXTRACT, [batch(Buffer.concat([vField(SHAPE, 2n), vField(SHAPE, 3n), vField(SHAPE, SAFE + 1n)]))]),
    tooLarge('tunedlens.activation.v1.ExtractRequest.batch.input_ids.shape[2]', SAFE + 1n));
});

test('2^64-1 in an int64 field is -1 on the wire: it decodes, and the service judges -1', async () => {
  seen.length = 0;
  const got = await callBidi(CHUNK, [chunkConfigRequest(vField(SKIP_CHUNKS, U64_MAX))]);
  assert.equal(got.code, status.FAILED_PRECONDITION, got.details);
  assert.equal((seen[0].request as tokenizerV1.ChunkAndTokenizeRequest).payload?.$case, 'config');
  const payload = (seen[0].request as tokenizerV1.ChunkAndTokenizeRequest).payload;
  assert.equal(payload?.$case === 'config' ? payload.config.skipChunks : undefined, -1);
});

test('batch_id (uint64, JS_STRING) takes every value: 2^64-1 reaches the handler exactly', async () => {
  seen.length = 0;
  const tensor = inputIds(vField(1, 4n), packed(SHAPE, [1n, 2n]), lenField(3, Buffer.alloc(8)));
  const got = await callBidi(EXTRACT, [extractBatch(vField(BATCH_ID, U64_MAX), tensor)]);
  assert.equal(got.code, status.FAILED_PRECONDITION, got.details);
  const req = seen[0].request as activationV1.ExtractRequest;
  assert.equal(req.payload?.$case === 'batch' ? req.payload.batch.batchId : undefined, '18446744073709551615');
  assert.deepEqual(req.payload?.$case === 'batch' ? req.payload.batch.inputIds?.shape : undefined, [1, 2]);
});

test('the largest safe value still reaches the handler', async () => {
  seen.length = 0;
  const got = await callUnary(START_EVAL, startEvaluation(vField(EVAL_TOKENS, SAFE)));
  assert.equal(got.code, status.FAILED_PRECONDITION, got.details);
  assert.equal((seen[0].request as evaluationV1.StartEvaluationRequest).config?.tokens, Number.MAX_SAFE_INTEGER);
});

/** Deterministic bytes the generated decoder refuses (checked, so the test means what it says). */
function garbage(decode: (b: Buffer) => unknown, seed: number): Buffer {
  let s = seed;
  for (;;) {
    const b = Buffer.alloc(48);
    for (let i = 0; i < b.length; i++) { s = (s * 1103515245 + 12345) >>> 0; b[i] = s >>> 24; }
    try { decode(b); } catch { return b; }
  }
}

test('bytes that are not protobuf at all: INVALID_ARGUMENT "could not decode <Type>: ..." (unary, server stream, bidi)', async () => {
  seen.length = 0;
  assertInvalid(await callUnary(path(serviceNames.tokenizer, 'Encode'), garbage((b) => tokenizerV1.EncodeRequest.decode(b), 1)),
    /^could not decode tunedlens\.tokenizer\.v1\.EncodeRequest: .+/);
  assertInvalid(await callServerStream(path(serviceNames.training, 'WatchJob'), garbage((b) => trainingV1.WatchJobRequest.decode(b), 2)),
    /^could not decode tunedlens\.training\.v1\.WatchJobRequest: .+/);
  assertInvalid(await callBidi(EXTRACT, [garbage((b) => activationV1.ExtractRequest.decode(b), 3)]),
    /^could not decode tunedlens\.activation\.v1\.ExtractRequest: .+/);
  assert.deepEqual(seen, []);
});

test('a bad message mid-stream ends the call with INVALID_ARGUMENT after the good ones reached the handler', async () => {
  seen.length = 0;
  const good = extractBatch(vField(BATCH_ID, 1n));
  const got = await callBidi(EXTRACT, [good, good, extractBatch(vField(BATCH_ID, 3n), inputIds(packed(SHAPE, [I64_MAX])))]);
  assertInvalid(got, tooLarge('tunedlens.activation.v1.ExtractRequest.batch.input_ids.shape[0]', I64_MAX));
  assert.deepEqual(seen.map((s) => (s.request as activationV1.ExtractRequest).payload?.$case === 'batch' ? 'batch' : '?'), ['batch', 'batch']);
});

test('undecodable requests count as InvalidArgument in the metrics, never Internal', async () => {
  const body = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
  assert.match(body, /^grpc_server_handled_total\{grpc_type="bidi_stream",grpc_service="tunedlens\.tokenizer\.v1\.TokenizerService",grpc_method="ChunkAndTokenize",grpc_code="InvalidArgument"\} [1-9]/m);
  assert.doesNotMatch(body, /grpc_code="Internal"/);
  assert.doesNotMatch(body, /grpc_code="Unknown"/);
});

test('client streaming too: a definition outside the .proto files names its method', async () => {
  // No service of ours streams requests only; this one takes Tensor messages.
  const definition = {
    collect: {
      path: '/test.Sink/Collect', requestStream: true, responseStream: false, originalName: 'collect',
      requestSerialize: (t: tensorV1.Tensor) => Buffer.from(tensorV1.Tensor.encode(t).finish()),
      requestDeserialize: (b: Buffer) => tensorV1.Tensor.decode(b),
      responseSerialize: (t: tensorV1.Tensor) => Buffer.from(tensorV1.Tensor.encode(t).finish()),
      responseDeserialize: (b: Buffer) => tensorV1.Tensor.decode(b),
    },
  } satisfies ServiceDefinition;
  const got: tensorV1.Tensor[] = [];
  const implementation: UntypedServiceImplementation = {
    collect: (call: ServerReadableStream<tensorV1.Tensor, tensorV1.Tensor>, callback: sendUnaryData<tensorV1.Tensor>) => {
      call.on('data', (t: tensorV1.Tensor) => got.push(t));
      call.on('error', () => {});
      call.on('end', () => callback(null, tensorV1.Tensor.fromPartial({})));
    },
  };
  const sink = await startServer({ component: 'test', logger: quiet, registry: new Registry(), services: [{ name: 'test.Sink', definition, implementation }], protoFiles: [] });
  const client = new Client(sink.address, credentials.createInsecure());
  try {
    const outcome = await new Promise<Outcome>((resolve) => {
      const call = client.makeClientStreamRequest('/test.Sink/Collect', identity, identity, new Metadata(), deadline(), (err) => resolve({ code: err?.code ?? status.OK, details: err?.details ?? '' }));
      call.write(packed(SHAPE, [2n]));
      call.write(packed(SHAPE, [I64_MAX]));
      call.end();
    });
    assertInvalid(outcome, /^could not decode the request of \/test\.Sink\/Collect: Value is larger than Number\.MAX_SAFE_INTEGER$/);
    assert.deepEqual(got.map((t) => t.shape), [[2]]);
  } finally {
    client.close();
    await sink.shutdown(500);
  }
});

// ---- the explanation without a server ------------------------------------------------
const schema = RequestSchema.fromPackageDefinition(loadSync(Object.values(protoFiles).map(protoPath), { includeDirs: [protoRoot], keepCase: true }));
const explain = (type: string, bytes: Buffer) => schema.explain(type, bytes, new Error('the decoder said no'));

test('explain: wire problems are named with the field and byte offset', () => {
  const T = 'tunedlens.activation.v1.ExtractRequest';
  // batch claims 50 bytes, 2 follow
  assert.equal(explain(T, Buffer.concat([Buffer.from([0x12, 50]), vField(1, 1n)])),
    `could not decode ${T}: batch: a length of 50 bytes runs past the end of the request, 2 bytes left (at byte 1)`);
  // input_ids claims 9 bytes inside a 3-byte batch
  assert.equal(explain(T, Buffer.from([0x12, 3, 0x12, 9, 0x08])),
    `could not decode ${T}: batch.input_ids: a length of 9 bytes runs past the end of its message, 1 byte left (at byte 3)`);
  // a varint cut short in shape
  assert.equal(explain(T, Buffer.from([0x12, 4, 0x12, 2, 0x10, 0xff])),
    `could not decode ${T}: batch.input_ids.shape: a varint is cut short (at byte 5)`);
  assert.equal(explain(T, Buffer.from([0x0f])), `could not decode ${T}: wire type 7 (field number 1) is not protobuf (at byte 0)`);
  // nothing the walk can see: the decoder's own words
  assert.equal(explain(T, Buffer.alloc(0)), `could not decode ${T}: the decoder said no`);
});

test('explain: 64-bit kinds are read as ts-proto reads them; JS_STRING fields take every value', () => {
  // TensorChunk.first_element (int64, field 3): 2^64-1 is -1, fine; fixed64 wire type on it is skipped
  assert.equal(explain('tunedlens.tensor.v1.TensorChunk', vField(3, U64_MAX)), 'could not decode tunedlens.tensor.v1.TensorChunk: the decoder said no');
  assert.equal(explain('tunedlens.tensor.v1.TensorChunk', fixed64Field(3, U64_MAX)), 'could not decode tunedlens.tensor.v1.TensorChunk: the decoder said no');
  assert.equal(explain('tunedlens.tensor.v1.TensorChunk', vField(4, 2n ** 53n)),
    tooLarge('tunedlens.tensor.v1.TensorChunk.element_count', 2n ** 53n));
  // BatchDone: batch_id is JS_STRING, tokens (field 3) is a number
  assert.equal(explain('tunedlens.activation.v1.BatchDone', Buffer.concat([vField(1, U64_MAX), vField(3, I64_MAX)])),
    tooLarge('tunedlens.activation.v1.BatchDone.tokens', I64_MAX));
});

test('a definition outside the schema still answers INVALID_ARGUMENT, naming the method', () => {
  const def = { watch: { ...trainingV1.LensTrainingServiceService.watchJob, path: '/test.Nowhere/Watch' } };
  const guarded = guardRequestDecoding(def, schema);
  const out = guarded.watch.requestDeserialize(Buffer.from([0x0a, 0x05]));
  assert.ok(out instanceof UndecodableRequest);
  assert.match(out.details, /^could not decode the request of \/test\.Nowhere\/Watch: /);
  assert.deepEqual(guarded.watch.requestDeserialize(Buffer.alloc(0)), { jobId: '' });
});

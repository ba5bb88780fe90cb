// The handler adapters give a handler that throws before returning its promise the same
// status as one that rejects (grpc-js alone answers UNKNOWN "Unknown error"): RpcErrors
// and gRPC errors keep their code, anything else is INTERNAL with its message. Over real
// gRPC on loopback, for unary, server-streaming and bidi handlers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientReadableStream, ClientDuplexStream } from '@grpc/grpc-js';
import { protoFiles, serviceNames, tokenizerV1, trainingV1 } from '@tuned-lens/proto';
import { Registry } from '@tuned-lens/metrics';
import {
  bidiStreamHandler, createClient, createLogger, invalidArgument, notFound, serverStreamHandler, startServer, status,
  unary, unaryHandler,
} from '../src/index';

const quiet = createLogger('test', { level: 'error', write: () => {} });

// Not async: each throws synchronously, before any promise exists.
const throws = (err: unknown) => (): Promise<never> => { throw err; };
const grpcError = Object.assign(new Error('14 UNAVAILABLE: tokenizer went away'), { code: status.UNAVAILABLE, details: 'tokenizer went away' });

const training: trainingV1.LensTrainingServiceServer = {
  startJob: unaryHandler('StartJob', quiet, throws(invalidArgument('num_steps must be positive'))),
  getJob: unaryHandler('GetJob', quiet, throws(new TypeError('cannot read properties of undefined'))),
  listJobs: unaryHandler('ListJobs', quiet, throws(grpcError)),
  cancelJob: unaryHandler('CancelJob', quiet, throws('a string')),
  watchJob: serverStreamHandler('WatchJob', quiet, throws(notFound('no job abc'))),
  fetchLens: serverStreamHandler('FetchLens', quiet, throws(new RangeError('offset out of range'))),
};
const tokenizer: tokenizerV1.TokenizerServiceServer = {
  getTokenizerInfo: unaryHandler('GetTokenizerInfo', quiet, async () => tokenizerV1.GetTokenizerInfoResponse.fromPartial({})),
  encode: unaryHandler('Encode', quiet, async () => ({ encodings: [] })),
  decode: unaryHandler('Decode', quiet, async () => ({ texts: [] })),
  chunkAndTokenize: bidiStreamHandler('ChunkAndTokenize', quiet, throws(invalidArgument('the first request must carry the config'))),
};

function streamStatus(call: ClientReadableStream<unknown> | ClientDuplexStream<unknown, unknown>): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('status', (st) => resolve({ code: st.code, details: st.details }));
  });
}

test('a handler that throws synchronously ends the call with its status (unary, server stream, bidi)', async () => {
  const s = await startServer({
    component: 'test', logger: quiet, registry: new Registry(),
    services: [
      { name: serviceNames.training, definition: trainingV1.LensTrainingServiceService, implementation: training },
      { name: serviceNames.tokenizer, definition: tokenizerV1.TokenizerServiceService, implementation: tokenizer },
    ],
    protoFiles: [protoFiles.training, protoFiles.tokenizer, protoFiles.tensor],
  });
  const tc = createClient(trainingV1.LensTrainingServiceClient, s.address);
  const kc = createClient(tokenizerV1.TokenizerServiceClient, s.address);
  const rejects = (p: Promise<unknown>, code: number, details: string) =>
    assert.rejects(p, (e: { code: number; details: string }) => { assert.equal(e.code, code, e.details); assert.equal(e.details, details); return true; });
  try {
    await rejects(unary(tc, tc.startJob, trainingV1.StartJobRequest.fromPartial({})), status.INVALID_ARGUMENT, 'num_steps must be positive');
    await rejects(unary(tc, tc.getJob, { jobId: 'x' }), status.INTERNAL, 'internal error: cannot read properties of undefined');
    await rejects(unary(tc, tc.listJobs, {}), status.UNAVAILABLE, 'tokenizer went away');
    await rejects(unary(tc, tc.cancelJob, { jobId: 'x' }), status.INTERNAL, 'internal error: a string');
    assert.deepEqual(await streamStatus(tc.watchJob({ jobId: 'abc' })), { code: status.NOT_FOUND, details: 'no job abc' });
    assert.deepEqual(await streamStatus(tc.fetchLens(trainingV1.FetchLensRequest.fromPartial({}))), { code: status.INTERNAL, details: 'internal error: offset out of range' });
    const bidi = kc.chunkAndTokenize();
    const ended = streamStatus(bidi);
    bidi.end();
    assert.deepEqual(await ended, { code: status.INVALID_ARGUMENT, details: 'the first request must carry the config' });
    // and the server keeps serving
    assert.deepEqual(await unary(kc, kc.encode, { inputs: [], addSpecialTokens: false, returnTokens: false }), { encodings: [] });
  } finally {
    tc.close();
    kc.close();
    await s.shutdown(500);
  }
});

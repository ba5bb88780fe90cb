// Contract tests: the generated service definitions carry the versioned package paths
// clients depend on, and the message codecs round-trip the shapes we rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tensorV1, tokenizerV1, activationV1, trainingV1, evaluationV1, lensV1, serviceNames, protoFiles, protoPath } from '../src/index';

test('every service lives in its versioned package', () => {
  const defs: Array<[string, Record<string, { path: string }>]> = [
    [serviceNames.tokenizer, tokenizerV1.TokenizerServiceService],
    [serviceNames.activation, activationV1.ActivationServiceService],
    [serviceNames.training, trainingV1.LensTrainingServiceService],
    [serviceNames.evaluation, evaluationV1.EvaluationServiceService],
    [serviceNames.lens, lensV1.LensServiceService],
  ];
  for (const [name, def] of defs) {
    const methods = Object.values(def);
    assert.ok(methods.length > 0, name);
    for (const m of methods) assert.match(m.path, new RegExp(`^/${name.replaceAll('.', '\\.')}/[A-Z]\\w+$`));
  }
});

test('the activation stream is bidirectional and the chunk stream server-streaming', () => {
  const extract = activationV1.ActivationServiceService.extract;
  assert.equal(extract.requestStream, true);
  assert.equal(extract.responseStream, true);
  const chunk = tokenizerV1.TokenizerServiceService.chunkAndTokenize;
  assert.equal(chunk.requestStream, true);
  assert.equal(chunk.responseStream, true);
});

test('tensor chunks keep int64 shape and raw bytes exactly', () => {
  const data = Buffer.from(new Float32Array([1.5, -2, 3.25]).buffer);
  const msg: tensorV1.TensorChunk = {
    dtype: tensorV1.Dtype.DTYPE_F32, shape: [2 ** 40, 3], firstElement: 2 ** 33, elementCount: 3, data,
  };
  const back = tensorV1.TensorChunk.decode(tensorV1.TensorChunk.encode(msg).finish());
  assert.deepEqual(back.shape, [2 ** 40, 3]);
  assert.equal(back.firstElement, 2 ** 33);
  assert.deepEqual(Buffer.from(back.data), data);
});

test('oneof frames decode to tagged unions', () => {
  const req: tokenizerV1.ChunkAndTokenizeRequest = {
    payload: { $case: 'documents', documents: { texts: ['a', 'b'] } },
  };
  const back = tokenizerV1.ChunkAndTokenizeRequest.decode(tokenizerV1.ChunkAndTokenizeRequest.encode(req).finish());
  assert.deepEqual(back, req);
});

test('proto sources ship with the library for reflection', () => {
  for (const f of Object.values(protoFiles)) assert.ok(existsSync(protoPath(f)), f);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activationV1, tensorV1 } from '@tuned-lens/proto';
import { F32Assembler, serializeExtractResponse, serializeUnembeddingResponse, toTensorChunks, dtypeFromProto, dtypeToProto } from '../src/index';

function randomF32(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; out[i] = (s / 2 ** 32 - 0.5) * 8; }
  return out;
}

test('one-copy ExtractResponse frames decode to exactly what the standard encoder gives', () => {
  const values = randomF32(3 * 5 * 7);
  for (const chunk of toTensorChunks(values, [3, 5, 7], 'F32', 64)) {
    const msg: activationV1.ExtractResponse = { frame: { $case: 'chunk', chunk: { batchId: '18446744073709551615', kind: activationV1.OutputKind.OUTPUT_KIND_HIDDEN_STATE, layer: 3, chunk } } };
    const fast = serializeExtractResponse(msg);
    const standard = Buffer.from(activationV1.ExtractResponse.encode(msg).finish());
    assert.deepEqual(activationV1.ExtractResponse.decode(fast), activationV1.ExtractResponse.decode(standard));
    assert.equal(fast.byteLength, standard.byteLength);
  }
  const done: activationV1.ExtractResponse = { frame: { $case: 'batchDone', batchDone: { batchId: '1', forwardSeconds: 0.5, tokens: 10 } } };
  assert.deepEqual(activationV1.ExtractResponse.decode(serializeExtractResponse(done)), done);
});

test('one-copy unembedding frames round-trip, including a 5 MB payload', () => {
  const values = randomF32(1_300_000);
  const [chunk] = toTensorChunks(values, [1_300_000], 'F32', 8 * 1024 * 1024);
  const msg: activationV1.GetUnembeddingResponse = { frame: { $case: 'tensor', tensor: { name: 'lm_head.weight', chunk } } };
  const back = activationV1.GetUnembeddingResponse.decode(serializeUnembeddingResponse(msg));
  assert.equal(back.frame?.$case, 'tensor');
  if (back.frame?.$case === 'tensor') {
    assert.equal(back.frame.tensor.name, 'lm_head.weight');
    assert.deepEqual(new Float32Array(new Uint8Array(back.frame.tensor.chunk!.data).buffer), values);
  }
});

test('chunks reassemble in any order, in every float wire dtype', () => {
  const values = randomF32(4 * 9 * 16, 7);
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const chunks = toTensorChunks(values, [4, 9, 16], dtype, 100);
    assert.ok(chunks.length > 10);
    for (const c of chunks) assert.ok(c.data.byteLength <= 100);
    const asm = new F32Assembler();
    for (const c of [...chunks].reverse()) asm.add(c);
    const { shape, data } = asm.result();
    assert.deepEqual(shape, [4, 9, 16]);
    // F16/BF16 lose precision by design; F32 must be bit-exact.
    const tol = dtype === 'F32' ? 0 : dtype === 'F16' ? 4 * 2 ** -11 : 4 * 2 ** -8;
    for (let i = 0; i < values.length; i++) assert.ok(Math.abs(data[i] - values[i]) <= tol * Math.max(1, Math.abs(values[i])), `${dtype} ${i}`);
  }
});

test('missing chunks and dtype names give clear errors', () => {
  const chunks = toTensorChunks(randomF32(64), [8, 8], 'F32', 64);
  const asm = new F32Assembler();
  asm.add(chunks[0]);
  assert.throws(() => asm.result(), /incomplete/);
  assert.throws(() => asm.add(chunks[0]), /overlap/i);
  assert.equal(dtypeFromProto(dtypeToProto('BF16')), 'BF16');
  assert.equal(dtypeFromProto(tensorV1.Dtype.DTYPE_UNSPECIFIED, 'F32'), 'F32');
  assert.throws(() => dtypeFromProto(tensorV1.Dtype.DTYPE_UNSPECIFIED), /unsupported tensor dtype DTYPE_UNSPECIFIED/);
});

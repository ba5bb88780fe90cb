// The wire unembedding -> the lens library's shape, with every check a person can act on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@tuned-lens/grpc-kit';
import { activationV1 } from '@tuned-lens/proto';
import { toLensUnembedding, unembedSha256, type Unembedding } from '../src/index';

const V = 5, d = 3;
function wire(over: Partial<activationV1.UnembeddingHeader> = {}, lmHeadLength = V * d): Unembedding {
  const lmHead = Float32Array.from({ length: lmHeadLength }, (_, i) => i / 7);
  const header = activationV1.UnembeddingHeader.fromPartial({
    finalNorm: activationV1.NormKind.NORM_KIND_LAYER_NORM, normEps: 1e-5, dModel: d, vocabSize: V, unembedHash: unembedSha256(lmHead), ...over,
  });
  return {
    header,
    tensors: new Map([
      ['final_norm.weight', { shape: [d], data: new Float32Array(d).fill(1) }],
      ['final_norm.bias', { shape: [d], data: new Float32Array(d) }],
      ['lm_head.weight', { shape: [V, d], data: lmHead }],
    ]),
  };
}

test('a consistent unembedding converts with its norm, sizes and tensors', () => {
  const u = toLensUnembedding(wire());
  assert.equal(u.norm, 'layer_norm');
  assert.equal(u.dModel, d);
  assert.equal(u.vocabSize, V);
  assert.equal(u.lmHead.length, V * d);
  assert.ok(u.normBias);
  assert.equal(u.lmHeadBias, undefined);
});

test('a hash that does not match, a wrong size, an unknown norm: FAILED_PRECONDITION naming the problem and the source', () => {
  const refused = (w: Unembedding, message: RegExp) => assert.throws(() => toLensUnembedding(w, 'act-0:50051'), (e: { code: number; message: string }) => e.code === status.FAILED_PRECONDITION && message.test(e.message));
  refused(wire({ unembedHash: 'ab'.repeat(32) }), /received from act-0:50051 hashes to [0-9a-f]{12}…, the service says abababababab…/);
  refused(wire({}, V * d - 1), /act-0:50051 sent lm_head\.weight with 14 values, expected 15 \(vocab 5, d_model 3\)/);
  refused(wire({ finalNorm: 99 as activationV1.NormKind }), /act-0:50051 sent an unknown final norm kind 99/);
});

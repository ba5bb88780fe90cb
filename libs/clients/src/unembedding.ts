/**
 * The unembedding as it arrives from GetUnembedding (the wire's named tensors) -> the one
 * shape the lens library computes with, checked on the way: the final norm is one we
 * implement, the tensors are there with the sizes the header states, and W_U hashes to the
 * `unembed_hash` the service announced (what a lens's `unembed_sha256` is compared with:
 * a lens trained or evaluated on another head would be silently wrong).
 */
import { createHash } from 'node:crypto';
import { failedPrecondition } from '@tuned-lens/grpc-kit';
import type { Unembedding as LensUnembedding } from '@tuned-lens/lens';
import { activationV1 } from '@tuned-lens/proto';
import type { Unembedding as WireUnembedding } from './activationClient';

const norms: Record<number, LensUnembedding['norm'] | undefined> = {
  [activationV1.NormKind.NORM_KIND_LAYER_NORM]: 'layer_norm',
  [activationV1.NormKind.NORM_KIND_RMS_NORM]: 'rms_norm',
  [activationV1.NormKind.NORM_KIND_RMS_NORM_PLUS_ONE]: 'rms_norm_plus_one',
};

/** The sha256 (hex) of W_U's f32 bytes, [vocab, dModel] row-major: the lens's unembed_sha256. */
export function unembedSha256(lmHead: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(lmHead.buffer, lmHead.byteOffset, lmHead.byteLength)).digest('hex');
}

export function toLensUnembedding(w: WireUnembedding, from = 'the activation service'): LensUnembedding {
  const h = w.header;
  const norm = norms[h.finalNorm];
  if (!norm) throw failedPrecondition(`${from} sent an unknown final norm kind ${h.finalNorm}`);
  const get = (name: string, length: number) => {
    const t = w.tensors.get(name);
    if (t && t.data.length !== length) throw failedPrecondition(`${from} sent ${name} with ${t.data.length} values, expected ${length} (vocab ${h.vocabSize}, d_model ${h.dModel})`);
    return t?.data;
  };
  const lmHead = get('lm_head.weight', h.vocabSize * h.dModel);
  const normWeight = get('final_norm.weight', h.dModel);
  if (!lmHead || !normWeight) throw failedPrecondition(`${from} sent no lm_head.weight or final_norm.weight`);
  if (h.unembedHash) {
    const sha = unembedSha256(lmHead);
    if (sha !== h.unembedHash) throw failedPrecondition(`the unembedding received from ${from} hashes to ${sha.slice(0, 12)}…, the service says ${h.unembedHash.slice(0, 12)}…`);
  }
  return {
    norm, eps: h.normEps, dModel: h.dModel, vocabSize: h.vocabSize,
    normWeight, normBias: get('final_norm.bias', h.dModel), lmHead, lmHeadBias: get('lm_head.bias', h.vocabSize),
  };
}

/** GetModelInfo and GetUnembedding. */
import type { ServerWritableStream } from '@grpc/grpc-js';
import { activationV1, tensorV1 } from '@tuned-lens/proto';
import { invalidArgument, writeMessage, MAX_CHUNK_BYTES } from '@tuned-lens/grpc-kit';
import { dtypeFromProto, dtypeToProto, toTensorChunks } from '@tuned-lens/wire';
import type { ForwardBackend } from './backend';

const normKinds: Record<string, activationV1.NormKind> = {
  layer_norm: activationV1.NormKind.NORM_KIND_LAYER_NORM,
  rms_norm: activationV1.NormKind.NORM_KIND_RMS_NORM,
  rms_norm_plus_one: activationV1.NormKind.NORM_KIND_RMS_NORM_PLUS_ONE,
};

export function modelInfo(model: ForwardBackend): activationV1.GetModelInfoResponse {
  const m = model.description;
  return {
    architecture: m.dims.modelType,
    modelName: m.name,
    numLayers: m.dims.numLayers,
    dModel: m.dims.dModel,
    vocabSize: m.dims.vocabSize,
    weightsDtype: dtypeToProto(m.weightsDtype as 'F32'),
    contextLength: m.dims.contextLength,
    unembedHash: m.unembedHash,
    engine: m.engine,
    finalNorm: normKinds[m.finalNorm],
  };
}

export async function streamUnembedding(call: ServerWritableStream<activationV1.GetUnembeddingRequest, activationV1.GetUnembeddingResponse>, model: ForwardBackend): Promise<void> {
  let dtype;
  try {
    dtype = dtypeFromProto(call.request.dtype, 'F32');
  } catch (err) {
    throw invalidArgument((err as Error).message);
  }
  if (dtype === 'I32' || dtype === 'I64') throw invalidArgument(`the unembedding is float; ${dtype} is not a float dtype`);
  const m = model.description;
  const u = model.unembedding();
  const { dModel: d, vocabSize: v } = m.dims;
  const tensors: Array<[string, Float32Array | undefined, number[]]> = [
    ['final_norm.weight', u.normWeight, [d]],
    ['final_norm.bias', u.normBias, [d]],
    ['lm_head.weight', u.lmHead, [v, d]],
    ['lm_head.bias', u.lmHeadBias, [v]],
  ];
  const present = tensors.filter(([, values]) => values !== undefined) as Array<[string, Float32Array, number[]]>;
  await writeMessage(call, { frame: { $case: 'header', header: {
    finalNorm: normKinds[u.spec.norm], normEps: u.spec.eps, dModel: d, vocabSize: v,
    tensorNames: present.map(([n]) => n), unembedHash: m.unembedHash,
  } } });
  for (const [name, values, shape] of present) {
    for (const chunk of toTensorChunks(values, shape, dtype, MAX_CHUNK_BYTES)) {
      if (call.cancelled) return;
      await writeMessage(call, { frame: { $case: 'tensor', tensor: { name, chunk } } });
    }
  }
}

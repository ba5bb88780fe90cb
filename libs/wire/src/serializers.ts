/**
 * One-copy serializers for the tensor-carrying frames, plugged into the generated
 * service definitions (`withFastSerializers`), so a server writes hidden-state chunks
 * without ts-proto's repeated copies of the payload.
 */
import { activationV1, tensorV1 } from '@tuned-lens/proto';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { encodeNested } from './oneCopy';

const TENSOR_CHUNK_DATA = 5;

function tensorChunkHead(c: tensorV1.TensorChunk): Uint8Array {
  return tensorV1.TensorChunk.encode({ ...c, data: Buffer.alloc(0) }).finish();
}

/** ExtractResponse: `chunk` frames in one copy, others as usual. */
export function serializeExtractResponse(msg: activationV1.ExtractResponse): Buffer {
  const frame = msg.frame;
  if (frame?.$case === 'chunk' && frame.chunk.chunk) {
    const c = frame.chunk;
    return encodeNested([
      { head: new Uint8Array(0), childField: 1 },
      { head: activationV1.ActivationChunk.encode({ ...c, chunk: undefined }).finish(), childField: 4 },
      { head: tensorChunkHead(c.chunk!), childField: TENSOR_CHUNK_DATA },
    ], c.chunk!.data);
  }
  return Buffer.from(activationV1.ExtractResponse.encode(msg).finish());
}

/** GetUnembeddingResponse: `tensor` frames in one copy. */
export function serializeUnembeddingResponse(msg: activationV1.GetUnembeddingResponse): Buffer {
  const frame = msg.frame;
  if (frame?.$case === 'tensor' && frame.tensor.chunk) {
    const t = frame.tensor;
    return encodeNested([
      { head: new Uint8Array(0), childField: 2 },
      { head: activationV1.NamedTensorChunk.encode({ ...t, chunk: undefined }).finish(), childField: 2 },
      { head: tensorChunkHead(t.chunk!), childField: TENSOR_CHUNK_DATA },
    ], t.chunk!.data);
  }
  return Buffer.from(activationV1.GetUnembeddingResponse.encode(msg).finish());
}

/** The activation service definition with the one-copy serializers in place. */
export function activationServiceDefinition(): ServiceDefinition {
  const def = activationV1.ActivationServiceService;
  return {
    ...def,
    extract: { ...def.extract, responseSerialize: serializeExtractResponse },
    getUnembedding: { ...def.getUnembedding, responseSerialize: serializeUnembeddingResponse },
  } as unknown as ServiceDefinition;
}

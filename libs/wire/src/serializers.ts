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

/**
 * Where a response carries its tensor bytes: its `frame` oneof holds a wrapper message
 * whose `chunk` is a TensorChunk (response -> wrapper -> TensorChunk.data).
 */
interface ChunkFramePath<R, W extends { chunk?: tensorV1.TensorChunk }> {
  /** The generated encoder of the whole response, for every other frame. */
  encode(msg: R): Uint8Array;
  /** The wrapper, when the frame is the tensor-carrying case. */
  wrapper(msg: R): W | undefined;
  /** Field number of the wrapper in the response (its case of `frame`). */
  wrapperField: number;
  /** The wrapper's generated encoder, for its other fields. */
  encodeWrapper(wrapper: W): Uint8Array;
  /** Field number of `chunk` in the wrapper. */
  chunkField: number;
}

/** A serializer that writes the tensor-carrying frames of `path` in one copy, others as usual. */
function oneCopySerializer<R, W extends { chunk?: tensorV1.TensorChunk }>(path: ChunkFramePath<R, W>): (msg: R) => Buffer {
  return (msg) => {
    const wrapper = path.wrapper(msg);
    const chunk = wrapper?.chunk;
    if (!chunk) return Buffer.from(path.encode(msg));
    return encodeNested([
      { head: new Uint8Array(0), childField: path.wrapperField },
      { head: path.encodeWrapper({ ...wrapper, chunk: undefined }), childField: path.chunkField },
      { head: tensorChunkHead(chunk), childField: TENSOR_CHUNK_DATA },
    ], chunk.data);
  };
}

/** ExtractResponse: `chunk` frames in one copy, others as usual. */
export const serializeExtractResponse = oneCopySerializer({
  encode: (msg: activationV1.ExtractResponse) => activationV1.ExtractResponse.encode(msg).finish(),
  wrapper: (msg) => (msg.frame?.$case === 'chunk' ? msg.frame.chunk : undefined),
  wrapperField: 1,
  encodeWrapper: (chunk: activationV1.ActivationChunk) => activationV1.ActivationChunk.encode(chunk).finish(),
  chunkField: 4,
});

/** GetUnembeddingResponse: `tensor` frames in one copy. */
export const serializeUnembeddingResponse = oneCopySerializer({
  encode: (msg: activationV1.GetUnembeddingResponse) => activationV1.GetUnembeddingResponse.encode(msg).finish(),
  wrapper: (msg) => (msg.frame?.$case === 'tensor' ? msg.frame.tensor : undefined),
  wrapperField: 2,
  encodeWrapper: (tensor: activationV1.NamedTensorChunk) => activationV1.NamedTensorChunk.encode(tensor).finish(),
  chunkField: 2,
});

/** The activation service definition with the one-copy serializers in place. */
export function activationServiceDefinition(): ServiceDefinition {
  const def = activationV1.ActivationServiceService;
  return {
    ...def,
    extract: { ...def.extract, responseSerialize: serializeExtractResponse },
    getUnembedding: { ...def.getUnembedding, responseSerialize: serializeUnembeddingResponse },
  } as unknown as ServiceDefinition;
}

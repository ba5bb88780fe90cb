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

/** A generated message type, as far as encoding goes. */
interface MessageEncoder<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** Where a response's tensor bytes sit: response.frame -> wrapper -> TensorChunk.data. */
interface ChunkFramePath<R, W> {
  /** The wrapper, when the frame is the tensor-carrying case. */
  wrapper(msg: R): W | undefined;
  /** Field number of the wrapper in the response (its case of `frame`). */
  wrapperField: number;
  /** Field number of `chunk` in the wrapper. */
  chunkField: number;
}

/**
 * A serializer for `response` messages that writes the frames carrying a tensor chunk in
 * one copy (`wrapperType` encodes the wrapper's other fields) and every other frame with
 * the generated encoder.
 */
function oneCopySerializer<R, W extends { chunk?: tensorV1.TensorChunk }>(
  response: MessageEncoder<R>,
  wrapperType: MessageEncoder<W>,
  path: ChunkFramePath<R, W>,
): (msg: R) => Buffer {
  return (msg) => {
    const wrapper = path.wrapper(msg);
    const chunk = wrapper?.chunk;
    if (!chunk) return Buffer.from(response.encode(msg).finish());
    return encodeNested([
      { head: new Uint8Array(0), childField: path.wrapperField },
      { head: wrapperType.encode({ ...wrapper, chunk: undefined }).finish(), childField: path.chunkField },
      { head: tensorChunkHead(chunk), childField: TENSOR_CHUNK_DATA },
    ], chunk.data);
  };
}

/** ExtractResponse: `chunk` frames in one copy, others as usual. */
export const serializeExtractResponse = oneCopySerializer(activationV1.ExtractResponse, activationV1.ActivationChunk, {
  wrapper: (msg) => (msg.frame?.$case === 'chunk' ? msg.frame.chunk : undefined),
  wrapperField: 1,
  chunkField: 4,
});

/** GetUnembeddingResponse: `tensor` frames in one copy. */
export const serializeUnembeddingResponse = oneCopySerializer(activationV1.GetUnembeddingResponse, activationV1.NamedTensorChunk, {
  wrapper: (msg) => (msg.frame?.$case === 'tensor' ? msg.frame.tensor : undefined),
  wrapperField: 2,
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

/**
 * Host tensors <-> TensorChunk messages: encode to the wire dtype, cut into chunks under
 * the frame limit, and reassemble chunks (in any order) into one f32 array.
 */
import { tensorV1 } from '@tuned-lens/proto';
import {
  ChunkAssembler, DEFAULT_MAX_CHUNK_BYTES, decodeFloats, encodeFloats, splitIntoChunks,
  type DType, type FloatDType,
} from '@tuned-lens/tensor';
import { dtypeFromProto, dtypeToProto } from './dtypes';

/**
 * The chunks of `values` (f32, row-major, `shape`) as proto TensorChunks in `dtype`.
 * Chunk data are views into one encoded buffer (F32 on a little-endian host: into
 * `values` itself), so nothing is copied until the serializer writes the frame.
 */
export function toTensorChunks(values: Float32Array, shape: number[], dtype: FloatDType, maxChunkBytes = DEFAULT_MAX_CHUNK_BYTES): tensorV1.TensorChunk[] {
  const data = encodeFloats(values, dtype);
  return splitIntoChunks({ dtype, shape, data }, { maxChunkBytes }).map((c) => ({
    dtype: dtypeToProto(dtype),
    shape,
    firstElement: c.firstElement,
    elementCount: c.elementCount,
    data: Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength),
  }));
}

/**
 * Collects the chunks of one tensor and gives it back as f32 once complete. Errors
 * (overlap, out of range, dtype or shape changing between chunks) name the problem.
 */
export class F32Assembler {
  private assembler: ChunkAssembler | undefined;
  private dtype: DType | undefined;

  add(chunk: tensorV1.TensorChunk): void {
    const dtype = dtypeFromProto(chunk.dtype);
    if (!this.assembler) {
      this.assembler = new ChunkAssembler(dtype, chunk.shape);
      this.dtype = dtype;
    }
    this.assembler.add({ data: chunk.data, firstElement: chunk.firstElement, elementCount: chunk.elementCount, dtype, shape: chunk.shape });
  }

  isComplete(): boolean {
    return this.assembler?.isComplete() ?? false;
  }

  /** The whole tensor as f32 with its shape. Throws if chunks are missing. */
  result(): { shape: number[]; data: Float32Array } {
    if (!this.assembler || !this.dtype) throw new Error('no chunks received');
    if (!this.assembler.isComplete()) throw new Error(`tensor incomplete: ${this.assembler.missingElementRanges().length} element range(s) missing`);
    const raw = this.assembler.result();
    if (this.dtype === 'I32' || this.dtype === 'I64') throw new Error(`expected a float tensor, got ${this.dtype}`);
    return { shape: [...raw.shape], data: decodeFloats(raw.data, this.dtype as FloatDType) };
  }
}

/**
 * @tuned-lens/tensor: the byte layer for tensors on the wire.
 *
 * - dtype:    the `DType` union ('F32' | 'F16' | 'BF16' | 'I32' | 'I64') and sizes
 * - f16/bf16: bit-exact float32 <-> half / bfloat16 conversions (round to nearest even),
 *             each format's bit functions over the conversions they share (halfFormat)
 * - codec:    typed arrays <-> raw little-endian row-major bytes (zero-copy where possible)
 * - tensor:   `RawTensor` / `HostTensor` and shape helpers
 * - chunking: splitting into gRPC-sized chunks and reassembling them in any order
 */
export {
  type DType,
  type FloatDType,
  type IntDType,
  DTYPES,
  BYTES_PER_ELEMENT,
  isDType,
  isFloatDType,
  isIntDType,
  assertDType,
  parseDType,
  bytesPerElement,
  byteLengthFor,
} from './dtype.js';

export {
  F16_MAX,
  F16_MIN_NORMAL,
  F16_MIN_SUBNORMAL,
  F16_EPSILON,
  f32BitsToF16Bits,
  f16BitsToF32Bits,
  f16ToF32BitsTable,
  f32ToF16Bits,
  f16BitsToF32,
  roundToF16,
  f32ArrayToF16Bits,
  f16BitsToF32Array,
} from './f16.js';

export {
  BF16_MAX,
  BF16_MIN_NORMAL,
  BF16_MIN_SUBNORMAL,
  BF16_EPSILON,
  f32BitsToBf16Bits,
  bf16BitsToF32Bits,
  f32ToBf16Bits,
  bf16BitsToF32,
  roundToBf16,
  f32ArrayToBf16Bits,
  bf16BitsToF32Array,
} from './bf16.js';

export { IS_LITTLE_ENDIAN } from './endian.js';

export {
  type TensorValues,
  type ExpectedSize,
  type EncodeOptions,
  type TokenIdOptions,
  checkByteLength,
  encodeFloats,
  encodeInts,
  encode,
  decodeFloats,
  decodeInt32,
  decodeInt64,
  decode,
  decodeTokenIds,
  decodeTokenIdList,
  rawToHost,
  hostToRaw,
  decodeRaw,
} from './codec.js';

export {
  type RawTensor,
  type HostTensor,
  numel,
  shapeToString,
  shapesEqual,
  rowElements,
  rowCount,
  expectedByteLength,
  assertRawTensor,
  assertHostTensor,
  rawTensor,
  hostTensor,
} from './tensor.js';

export {
  GRPC_DEFAULT_MAX_MESSAGE_BYTES,
  CHUNK_FRAMING_HEADROOM_BYTES,
  DEFAULT_MAX_CHUNK_BYTES,
  type ChunkOptions,
  type ChunkSpan,
  type TensorChunk,
  type ChunkInput,
  type AssemblerOptions,
  type ElementRange,
  chunkBlockElements,
  planChunks,
  splitIntoChunks,
  ChunkAssembler,
} from './chunking.js';

/** The proto `Dtype` enum and libs/tensor's dtype names, both ways. */
import { tensorV1 } from '@tuned-lens/proto';
import type { DType } from '@tuned-lens/tensor';

const toProto: Record<DType, tensorV1.Dtype> = {
  F32: tensorV1.Dtype.DTYPE_F32,
  F16: tensorV1.Dtype.DTYPE_F16,
  BF16: tensorV1.Dtype.DTYPE_BF16,
  I32: tensorV1.Dtype.DTYPE_I32,
  I64: tensorV1.Dtype.DTYPE_I64,
};

export function dtypeToProto(d: DType): tensorV1.Dtype {
  return toProto[d];
}

/** The tensor dtype of a wire enum; UNSPECIFIED becomes `fallback` when given. */
export function dtypeFromProto(d: tensorV1.Dtype, fallback?: DType): DType {
  for (const [name, value] of Object.entries(toProto)) if (value === d) return name as DType;
  if (d === tensorV1.Dtype.DTYPE_UNSPECIFIED && fallback) return fallback;
  throw new Error(`unsupported tensor dtype ${tensorV1.dtypeToJSON(d)}`);
}

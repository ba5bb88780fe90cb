/**
 * Safetensors element types. The five the project computes with (F32, F16, BF16, I32,
 * I64) are `@tuned-lens/tensor`'s `DType`; the others can still be parsed, listed and
 * returned as raw bytes, so a checkpoint holding e.g. one F64 or U8 buffer still opens
 * and the error only comes if that tensor is actually decoded.
 */
import { BYTES_PER_ELEMENT, DTYPES, isDType, type DType } from '@tuned-lens/tensor';

/** Dtypes this library decodes (same names as the safetensors header). */
export const SUPPORTED_DTYPES: readonly DType[] = DTYPES;

/**
 * Dtypes of the safetensors format that are recognised but not decoded, with their
 * element size in bytes. (Sub-byte formats such as F4/F6 are not listed: they are
 * rejected as unknown, since their byte length is not numel * size.)
 */
export const UNSUPPORTED_DTYPE_SIZES: Readonly<Record<string, number>> = Object.freeze({
  F64: 8,
  U64: 8,
  C64: 8,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
});

/** A dtype name from a safetensors header: a supported {@link DType} or a recognised other one. */
export type SafetensorsDType = DType | 'F64' | 'U64' | 'C64' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL' | 'F8_E4M3' | 'F8_E5M2' | 'F8_E8M0';

/** True for names of {@link SafetensorsDType} (supported or not). */
export function isSafetensorsDType(value: unknown): value is SafetensorsDType {
  return isDType(value) || (typeof value === 'string' && Object.prototype.hasOwnProperty.call(UNSUPPORTED_DTYPE_SIZES, value));
}

/** True for the dtypes this library decodes. */
export function isSupportedDType(dtype: SafetensorsDType): dtype is DType {
  return isDType(dtype);
}

/** Bytes per element of a {@link SafetensorsDType}. */
export function dtypeSize(dtype: SafetensorsDType): number {
  return isDType(dtype) ? BYTES_PER_ELEMENT[dtype] : UNSUPPORTED_DTYPE_SIZES[dtype];
}

/** Every recognised name, for error messages. */
export function knownDTypeNames(): string[] {
  return [...SUPPORTED_DTYPES, ...Object.keys(UNSUPPORTED_DTYPE_SIZES)];
}

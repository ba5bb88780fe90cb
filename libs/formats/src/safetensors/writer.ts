/**
 * Writing safetensors files the way the reference implementation does: tensors ordered
 * by element size (largest first) then name, data packed without gaps, the JSON header
 * padded with spaces to a multiple of 8 bytes. Together that puts every tensor at an
 * offset that is a multiple of its element size, so readers can map it zero-copy.
 *
 * Files are written atomically (writeFileAtomic: a temporary file in the same folder,
 * flushed, then renamed over the target), so a reader never sees a half-written lens or
 * extract file.
 */
import { encode, numel, shapeToString, type TensorValues } from '@tuned-lens/tensor';
import { writeFileAtomic } from '../atomic.js';
import { FormatError } from '../errors.js';
import { CheckpointError } from './errors.js';
import { dtypeSize, isSafetensorsDType, isSupportedDType, knownDTypeNames, type SafetensorsDType } from './dtypes.js';
import { buildHeader, METADATA_KEY, type HeaderEntryToWrite } from './header.js';

/**
 * A tensor to write. `data` is either the raw little-endian bytes (any recognised dtype)
 * or values to encode: a Float32Array for F32/F16/BF16 (rounded to nearest even), an
 * Int32Array or BigInt64Array for I32/I64.
 */
export interface TensorToWrite {
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: Uint8Array | TensorValues;
}

interface Planned extends HeaderEntryToWrite {
  bytes: Uint8Array;
}

/**
 * Writes `tensors` (and string `metadata`, stored as `__metadata__`) to `path`
 * atomically. The folder must exist. Throws CheckpointError `invalid` on a bad tensor
 * (byte length not matching its shape, unknown dtype, reserved name) before touching
 * the disk.
 * @returns the number of bytes written
 */
export function writeSafetensors(path: string, tensors: Readonly<Record<string, TensorToWrite>>, metadata?: Readonly<Record<string, string>>): number {
  const chunks = layout(path, tensors, metadata);
  try {
    writeFileAtomic(path, (sink) => {
      for (const chunk of chunks) sink.write(chunk);
    });
  } catch (e) {
    // The file system refused: a checkpoint says `invalid`, in the system's own words.
    const cause = e instanceof FormatError && e.cause instanceof Error ? e.cause : e;
    throw new CheckpointError('invalid', path, `cannot write: ${(cause as Error).message}`, { cause });
  }
  return chunks.reduce((n, chunk) => n + chunk.byteLength, 0);
}

/** The bytes of a safetensors file holding `tensors`, in memory (same layout as {@link writeSafetensors}). */
export function encodeSafetensors(tensors: Readonly<Record<string, TensorToWrite>>, metadata?: Readonly<Record<string, string>>): Buffer {
  return Buffer.concat(layout('<memory>', tensors, metadata));
}

/** The file as chunks: the 8-byte header length, the header, then each tensor's bytes. */
function layout(path: string, tensors: Readonly<Record<string, TensorToWrite>>, metadata: Readonly<Record<string, string>> | undefined): Uint8Array[] {
  const { header, planned } = plan(path, tensors, metadata);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.byteLength));
  return [prefix, header, ...planned.map((p) => p.bytes)];
}

function plan(
  path: string,
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata: Readonly<Record<string, string>> | undefined,
): { header: Buffer; planned: Planned[] } {
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new CheckpointError('invalid', path, `metadata ${JSON.stringify(k)} must be a string, got ${typeof v}`);
    }
  }
  const planned: Planned[] = Object.entries(tensors).map(([name, t]) => {
    if (name === METADATA_KEY) throw new CheckpointError('invalid', path, `"${METADATA_KEY}" is reserved and cannot name a tensor`);
    return { name, dtype: t.dtype, shape: [...t.shape], begin: 0, end: 0, bytes: toBytes(path, name, t) };
  });
  planned.sort((a, b) => dtypeSize(b.dtype) - dtypeSize(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let offset = 0;
  for (const p of planned) {
    p.begin = offset;
    offset += p.bytes.byteLength;
    p.end = offset;
  }
  return { header: buildHeader(planned, metadata), planned };
}

function toBytes(path: string, name: string, t: TensorToWrite): Uint8Array {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isSafetensorsDType(t.dtype)) {
    throw new CheckpointError('invalid', path, `${where}: unknown dtype ${JSON.stringify(t.dtype)} (known: ${knownDTypeNames().join(', ')})`);
  }
  let n: number;
  try {
    n = numel(t.shape);
  } catch (e) {
    throw new CheckpointError('invalid', path, `${where}: ${(e as Error).message}`, { cause: e });
  }
  let bytes: Uint8Array;
  if (t.data instanceof Uint8Array) {
    bytes = t.data;
  } else {
    if (!isSupportedDType(t.dtype)) {
      throw new CheckpointError('invalid', path, `${where}: ${t.dtype} can only be written from raw bytes (a Uint8Array)`);
    }
    try {
      bytes = encode(t.data, t.dtype);
    } catch (e) {
      throw new CheckpointError('invalid', path, `${where}: ${(e as Error).message}`, { cause: e });
    }
  }
  const size = dtypeSize(t.dtype);
  if (bytes.byteLength !== n * size) {
    throw new CheckpointError('invalid', path, `${where}: ${t.dtype} ${shapeToString(t.shape)} needs ${n * size} bytes (${n} x ${size}), got ${bytes.byteLength}`);
  }
  return bytes;
}

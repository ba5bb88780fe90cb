/**
 * Lens parameter files: `params.pt` (a torch.save of the translators' state dict) and
 * `params.safetensors` (the same keys), read into float32 and written from float32.
 *
 * Values convert exactly: F16 and BF16 widen to float32 without rounding, and writing
 * F16/BF16 rounds to nearest even, as torch's `.half()` / `.bfloat16()` do (out-of-range
 * values become +-inf there too).
 */
import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import {
  CheckpointError, openSafetensors, writeSafetensors, writeFileAtomic, TORCH_ELEMENT_SIZE, TorchStateDictFile, writeTorchStateDict,
  type StateDictMetadata, type TensorToWrite, type TorchFloatDType, type TorchReadLimits, type TorchTensor, type TorchTensorBytes,
} from '@tuned-lens/formats';
import { decodeFloats, encodeFloats, numel } from '@tuned-lens/tensor';
import { LensIOError, asLensIO, withFile, type LensIOErrorKind } from './errors.js';

/** The torch.save file name of a lens folder. */
export const PARAMS_PT = 'params.pt';
/** The safetensors file name of a lens folder. */
export const PARAMS_SAFETENSORS = 'params.safetensors';

/** Dtypes a lens tensor may be stored in. */
export type LensDType = TorchFloatDType;

/** A stored tensor, decoded. `data` is row-major float32 in a buffer of its own, owned by the caller. */
export interface LensTensor {
  shape: number[];
  /** The dtype it was stored in. */
  dtype: LensDType;
  data: Float32Array;
}

/** A tensor to write: float32 values, row-major. */
export interface LensTensorInput {
  shape: readonly number[];
  data: Float32Array;
}

/** Which files {@link writeLensParams} writes. */
export type LensParamsFormat = 'pt' | 'safetensors' | 'both';

export interface WriteLensParamsOptions {
  /** Default 'both'. */
  format?: LensParamsFormat;
  /** Storage dtype (default 'F32'). */
  dtype?: LensDType;
  /** torch's state dict `_metadata` for params.pt (module versions), as the original writes it. */
  stateDictMetadata?: StateDictMetadata;
  /** String metadata for params.safetensors (`__metadata__`). */
  safetensorsMetadata?: Readonly<Record<string, string>>;
}

/** Name, shape and dtype of a stored tensor, known before its data is read. */
export interface LensTensorInfo {
  shape: number[];
  dtype: LensDType;
}

/**
 * An opened params file: its tensor list is known (and checked: dtypes, contiguity,
 * storage bounds) before any tensor data is read, so a lens folder can be validated
 * against its config without decoding gigabytes first.
 */
export interface LensParamsFile {
  readonly file: string;
  readonly format: 'pt' | 'safetensors';
  /** Tensors in file order. */
  readonly tensors: ReadonlyMap<string, LensTensorInfo>;
  /** Reads and decodes every tensor (one storage at a time, so memory peaks near the output size). */
  readAll(): Map<string, LensTensor>;
  close(): void;
}

/**
 * Opens `params.pt` (torch zip checkpoint of a state dict) or `params.safetensors`, told
 * apart by content, not name. Only F32/F16/BF16 tensors; params.pt tensors must be
 * contiguous views of their storage (any storage offset).
 * @throws LensIOError (`not_found`, `corrupt`, `unsafe`, `unsupported`, `too_large`, `invalid`)
 */
export function openLensParams(file: string, limits: TorchReadLimits = {}): LensParamsFile {
  return sniff(file) === 'safetensors' ? openSafetensorsParams(file) : openTorchParams(file, limits);
}

/** {@link openLensParams} + readAll + close: every tensor of a params file, decoded to float32. */
export function readLensParams(file: string, limits: TorchReadLimits = {}): Map<string, LensTensor> {
  const params = openLensParams(file, limits);
  try {
    return params.readAll();
  } finally {
    params.close();
  }
}

/**
 * Checks that every tensor of a torch state dict can be decoded here: a contiguous view
 * lying inside its storage. Only metadata is looked at.
 */
export function checkTorchTensors(sd: TorchStateDictFile): void {
  for (const [name, t] of sd.tensors) {
    const n = numel(t.shape);
    if (n > 0 && !isContiguous(t.shape, t.stride)) {
      throw new LensIOError('unsupported', sd.file, `tensor ${JSON.stringify(name)} is not contiguous (size [${t.shape.join(', ')}], stride [${t.stride.join(', ')}]); save it with .contiguous() first`);
    }
    if (t.storageOffset + n > t.storage.numel) {
      throw new LensIOError('corrupt', sd.file, `tensor ${JSON.stringify(name)} (offset ${t.storageOffset} + ${n} elements) runs past its storage of ${t.storage.numel}`);
    }
  }
}

/** Decodes every tensor of an opened torch state dict (checked first; the caller closes the file). */
export function decodeTorchStateDict(sd: TorchStateDictFile): Map<string, LensTensor> {
  checkTorchTensors(sd);
  // Group tensors by storage so each storage is read once, even when shared.
  const byStorage = new Map<string, [string, TorchTensor][]>();
  for (const [name, t] of sd.tensors) {
    const list = byStorage.get(t.storage.key);
    if (list) list.push([name, t]);
    else byStorage.set(t.storage.key, [[name, t]]);
  }
  const decoded = new Map<string, LensTensor>();
  for (const users of byStorage.values()) {
    const storage = users[0][1].storage;
    const bytes = asLensIO(sd.file, () => sd.storageBytes(storage));
    const size = TORCH_ELEMENT_SIZE[storage.dtype];
    for (const [name, t] of users) {
      const n = numel(t.shape);
      let data = decodeFloats(bytes.subarray(t.storageOffset * size, (t.storageOffset + n) * size), t.dtype, t.shape);
      // An F32 result may be a view of the storage: copy unless it is the whole storage and
      // nothing else uses it, so tensors never alias each other or pin unrelated bytes.
      if (data.buffer === bytes.buffer && (users.length > 1 || data.byteLength !== data.buffer.byteLength)) data = data.slice();
      decoded.set(name, { shape: [...t.shape], dtype: t.dtype, data });
    }
  }
  // Back to the file's order.
  return new Map([...sd.tensors.keys()].map((name) => [name, decoded.get(name)!]));
}

/**
 * Writes `tensors` (in iteration order: the state dict order) into `dir` as params.pt
 * and/or params.safetensors, each atomically (temp file + rename). Creates `dir`.
 * @returns the paths written
 */
export function writeLensParams(
  dir: string,
  tensors: ReadonlyMap<string, LensTensorInput> | Iterable<readonly [string, LensTensorInput]>,
  opts: WriteLensParamsOptions = {},
): string[] {
  const format = opts.format ?? 'both';
  const dtype = opts.dtype ?? 'F32';
  if (format !== 'pt' && format !== 'safetensors' && format !== 'both') throw new LensIOError('invalid', dir, `unknown params format ${JSON.stringify(format)}`);
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new LensIOError('invalid', dir, `unsupported params dtype ${JSON.stringify(dtype)} (F32, F16 or BF16)`);

  const encoded: [string, TorchTensorBytes][] = [];
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) throw new LensIOError('invalid', dir, `tensor ${JSON.stringify(name)}: data must be a Float32Array`);
    let n: number;
    try {
      n = numel(t.shape);
    } catch (e) {
      throw new LensIOError('invalid', dir, `tensor ${JSON.stringify(name)}: ${(e as Error).message}`, { cause: e });
    }
    if (n !== t.data.length) throw new LensIOError('invalid', dir, `tensor ${JSON.stringify(name)}: shape [${t.shape.join(', ')}] needs ${n} values, got ${t.data.length}`);
    encoded.push([name, { dtype, shape: [...t.shape], bytes: encodeFloats(t.data, dtype) }]);
  }

  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw withFile(dir, e, 'cannot create folder: ');
  }
  const written: string[] = [];
  if (format !== 'safetensors') {
    // Any size: past 4 GiB the zip writer adds zip64 fields, as torch.save does.
    const path = join(dir, PARAMS_PT);
    asLensIO(path, () => writeFileAtomic(path, (sink) => {
      writeTorchStateDict(sink, encoded, { metadata: opts.stateDictMetadata });
    }));
    written.push(path);
  }
  if (format !== 'pt') {
    const path = join(dir, PARAMS_SAFETENSORS);
    const record: Record<string, TensorToWrite> = Object.create(null);
    for (const [name, t] of encoded) record[name] = { dtype: t.dtype, shape: t.shape, data: t.bytes };
    try {
      writeSafetensors(path, record, opts.safetensorsMetadata);
    } catch (e) {
      throw fromCheckpointError(path, e, 'write');
    }
    written.push(path);
  }
  return written;
}

/** Row-major contiguity, ignoring strides of size-1 dims (as torch's is_contiguous does). */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

function openTorchParams(file: string, limits: TorchReadLimits): LensParamsFile {
  const sd = asLensIO(file, () => TorchStateDictFile.open(file, limits));
  try {
    checkTorchTensors(sd);
  } catch (e) {
    sd.close();
    throw e;
  }
  return {
    file,
    format: 'pt',
    tensors: new Map([...sd.tensors].map(([name, t]) => [name, { shape: [...t.shape], dtype: t.dtype }])),
    readAll: () => decodeTorchStateDict(sd),
    close: () => sd.close(),
  };
}

function openSafetensorsParams(file: string): LensParamsFile {
  try {
    // Not resident: each tensor is read from disk when decoded, into a buffer of its own,
    // so a big F16 lens never holds its whole file and its float32 copy at once.
    const ck = openSafetensors(file, { maxResidentBytes: 0 });
    const tensors = new Map<string, LensTensorInfo>();
    for (const name of ck.files[0].entries.keys()) {
      const { dtype, shape } = ck.info(name);
      if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
        throw new LensIOError('unsupported', file, `tensor ${JSON.stringify(name)} is ${dtype}; lens tensors must be F32, F16 or BF16`);
      }
      tensors.set(name, { shape, dtype });
    }
    const readAll = (): Map<string, LensTensor> => {
      try {
        return new Map([...tensors].map(([name, info]) => [name, { ...info, shape: [...info.shape], data: ck.getF32(name) }]));
      } catch (e) {
        throw fromCheckpointError(file, e, 'read');
      }
    };
    return { file, format: 'safetensors', tensors, readAll, close: () => {} };
  } catch (e) {
    throw fromCheckpointError(file, e, 'read');
  }
}

/** Tells the formats apart by their first bytes ("PK" zip or a legacy pickle vs safetensors). */
function sniff(file: string): 'torch' | 'safetensors' {
  const head = Buffer.alloc(9);
  let n = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      n = readSync(fd, head, 0, 9, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new LensIOError('invalid', file, 'is a folder, not a params file');
    throw withFile(file, e, code === 'ENOENT' ? '' : 'cannot read: ');
  }
  if (n >= 2 && head[0] === 0x50 && head[1] === 0x4b) return 'torch';
  // safetensors: an 8-byte little-endian header length, then the JSON header's '{'. Checked
  // before the pickle test: a header length such as 0x280 starts with the bytes 80 02 too.
  if (n === 9 && head[8] === 0x7b) return 'safetensors';
  if (n >= 2 && head[0] === 0x80) return 'torch'; // a legacy pickle: TorchStateDictFile names it
  return file.endsWith('.safetensors') ? 'safetensors' : 'torch';
}

/** Maps the safetensors library's CheckpointError onto this module's error kinds. */
function fromCheckpointError(file: string, e: unknown, op: 'read' | 'write'): LensIOError {
  if (e instanceof LensIOError) return e;
  if (e instanceof CheckpointError) {
    // 'invalid' means malformed bytes when reading, a refused write (file system) when writing.
    const invalid: LensIOErrorKind = op === 'read' ? 'corrupt' : 'io';
    const kind: LensIOErrorKind = e.kind === 'not_found' ? 'not_found' : e.kind === 'unsupported' ? 'unsupported' : e.kind === 'invalid' ? invalid : 'invalid';
    return new LensIOError(kind, file, e.reason, { cause: e });
  }
  return withFile(file, e);
}

/**
 * PyTorch's zip checkpoint layout (torch >= 1.6, `torch.save` default), on top of zip.ts
 * and pickle.ts:
 *
 *   <archive>/data.pkl      the pickled object; tensors refer to storages by persistent id
 *   <archive>/data/<key>    one storage's raw bytes (in `byteorder`, little by default)
 *   <archive>/byteorder     "little" or "big" (torch >= 2.0; absent means little)
 *   <archive>/version       "3\n" (the serialization format version)
 *
 * `<archive>` is whatever top folder the writer chose: torch uses the file's stem ("params"
 * for params.pt) in 1.x and "archive" in newer versions; torch.load accepts any, so does
 * this reader. Only a state dict (a dict of name -> tensor) is accepted as the root.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { FormatError, withFile } from '../errors.js';
import { unpickle, type UnpickleLimits } from './pickle.js';
import { pickleStateDict, type PickleTensorSpec, type StateDictMetadata } from './pickleWriter.js';
import { PyDict, TorchStorage, TorchTensor, typeName, type TorchFloatDType } from './pickleValues.js';
import { ZipReader, ZipWriter, type ZipLimits } from './zip.js';
import type { ByteSink } from '../atomic.js';

/** Bytes per element of the storage dtypes. */
export const TORCH_ELEMENT_SIZE: Readonly<Record<TorchFloatDType, number>> = { F32: 4, F16: 2, BF16: 2 };

/** Limits for opening a torch checkpoint (zip and pickle). */
export interface TorchReadLimits extends ZipLimits, UnpickleLimits {}

/** The serialization format version torch.save writes. */
const FORMAT_VERSION = '3\n';

/** A torch zip checkpoint holding a state dict, opened for reading. */
export class TorchStateDictFile {
  private constructor(
    private readonly zip: ZipReader,
    /** The archive's top folder, e.g. "archive" or "params". */
    readonly prefix: string,
    /** The `version` record ('3' from any torch since 1.6), or null when absent. */
    readonly formatVersion: string | null,
    /** Byte order of the storages ('little' unless a big-endian machine saved it). */
    readonly byteOrder: 'little' | 'big',
    /** Tensors in pickle order. */
    readonly tensors: ReadonlyMap<string, TorchTensor>,
  ) {}

  /** Opens `path` and unpickles its data.pkl (storages are read later, on demand). */
  static open(path: string, limits: TorchReadLimits = {}): TorchStateDictFile {
    sniffLegacy(path);
    const zip = ZipReader.open(path, limits);
    try {
      return TorchStateDictFile.parse(zip, limits);
    } catch (e) {
      zip.close();
      throw e;
    }
  }

  /** Parses a checkpoint held in memory. */
  static fromBytes(bytes: Uint8Array, label = '', limits: TorchReadLimits = {}): TorchStateDictFile {
    if (looksLikeLegacyPickle(bytes.subarray(0, 3))) throw legacyError(label);
    return TorchStateDictFile.parse(ZipReader.fromBytes(bytes, label, limits), limits);
  }

  private static parse(zip: ZipReader, limits: TorchReadLimits): TorchStateDictFile {
    const file = zip.file;
    const prefix = findPrefix(zip);
    const text = (name: string): string | null => (zip.has(`${prefix}/${name}`) ? Buffer.from(zip.read(`${prefix}/${name}`)).toString('utf8') : null);

    const order = text('byteorder');
    if (order !== null && order.trim() !== 'little' && order.trim() !== 'big') {
      throw new FormatError('corrupt', file, `${prefix}/byteorder is ${JSON.stringify(order)}, expected "little" or "big"`);
    }
    const version = text('version') ?? text('.data/version');

    const pickle = zip.read(`${prefix}/data.pkl`);
    let root;
    try {
      root = unpickle(pickle, limits);
    } catch (e) {
      throw withFile(file, e, `${prefix}/data.pkl: `);
    }
    const tensors = stateDictTensors(root, file);
    checkStorages(zip, prefix, tensors, file);
    return new TorchStateDictFile(zip, prefix, version === null ? null : version.trim(), order?.trim() === 'big' ? 'big' : 'little', tensors);
  }

  /** The archive path ('' for bytes in memory). */
  get file(): string {
    return this.zip.file;
  }

  /**
   * The raw bytes of storage `key`, little-endian (byte-swapped when the file is
   * big-endian), CRC-checked. A fresh buffer when read from a file.
   */
  storageBytes(storage: TorchStorage): Uint8Array {
    const bytes = this.zip.read(`${this.prefix}/data/${storage.key}`);
    if (this.byteOrder === 'little') return bytes;
    const swapped = Uint8Array.from(bytes);
    const size = TORCH_ELEMENT_SIZE[storage.dtype];
    for (let i = 0; i + size <= swapped.length; i += size) swapped.subarray(i, i + size).reverse();
    return swapped;
  }

  close(): void {
    this.zip.close();
  }
}

/** The single top folder holding data.pkl (torch.load takes it from the first entry too). */
function findPrefix(zip: ZipReader): string {
  const candidates = zip.names().filter((n) => /^[^/]+\/data\.pkl$/.test(n)).map((n) => n.slice(0, -'/data.pkl'.length));
  if (candidates.length === 1) {
    const prefix = candidates[0];
    if (zip.has(`${prefix}/constants.pkl`) || zip.names().some((n) => n.startsWith(`${prefix}/code/`))) {
      throw new FormatError('unsupported', zip.file, 'this is a TorchScript archive (torch.jit.save), not a torch.save state dict');
    }
    return prefix;
  }
  if (candidates.length > 1) {
    throw new FormatError('corrupt', zip.file, `ambiguous torch archive: data.pkl in several folders (${candidates.map((c) => JSON.stringify(c)).join(', ')})`);
  }
  const shown = zip.names().slice(0, 5).map((n) => JSON.stringify(n)).join(', ');
  throw new FormatError('corrupt', zip.file, `not a PyTorch checkpoint: no <archive>/data.pkl entry (entries: ${shown || 'none'}${zip.entries.length > 5 ? ', ...' : ''})`);
}

/** The root must be a dict of str -> tensor (a state dict). */
function stateDictTensors(root: unknown, file: string): Map<string, TorchTensor> {
  if (!(root instanceof PyDict)) {
    throw new FormatError('invalid', file, `expected a state dict (a dict of name -> tensor) at the top of data.pkl, got ${typeName(root as never)}`);
  }
  const tensors = new Map<string, TorchTensor>();
  for (const [key, value] of root.map) {
    if (typeof key !== 'string') throw new FormatError('invalid', file, `state dict key ${String(key)} is not a str`);
    if (!(value instanceof TorchTensor)) {
      throw new FormatError('invalid', file, `state dict entry ${JSON.stringify(key)} is a ${typeName(value)}, not a tensor (is this a full training checkpoint rather than a lens state dict?)`);
    }
    tensors.set(key, value);
  }
  return tensors;
}

/** Every storage must exist with exactly numel * element size bytes, and one dtype per key. */
function checkStorages(zip: ZipReader, prefix: string, tensors: ReadonlyMap<string, TorchTensor>, file: string): void {
  const seen = new Map<string, TorchStorage>();
  for (const [name, t] of tensors) {
    const s = t.storage;
    const first = seen.get(s.key);
    if (first && (first.dtype !== s.dtype || first.numel !== s.numel)) {
      throw new FormatError('corrupt', file, `storage ${JSON.stringify(s.key)} is described twice differently (${first.dtype} x ${first.numel} vs ${s.dtype} x ${s.numel}, at tensor ${JSON.stringify(name)})`);
    }
    seen.set(s.key, s);
    const entry = zip.entry(`${prefix}/data/${s.key}`);
    if (!entry) throw new FormatError('corrupt', file, `tensor ${JSON.stringify(name)}: storage record ${prefix}/data/${s.key} is missing`);
    const expected = s.numel * TORCH_ELEMENT_SIZE[s.dtype];
    if (entry.size !== expected) {
      throw new FormatError('corrupt', file, `storage ${prefix}/data/${s.key} has ${entry.size} bytes, but ${s.numel} ${s.dtype} elements need ${expected}`);
    }
  }
}

// ---------------------------------------------------------------- legacy format

/**
 * torch < 1.6 (or `_use_new_zipfile_serialization=False`) wrote a bare pickle stream that
 * starts with its magic number as a LONG1: PROTO n, LONG1.
 */
function looksLikeLegacyPickle(head: Uint8Array): boolean {
  return head.length >= 3 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5 && head[2] === 0x8a;
}

function legacyError(file: string): FormatError {
  return new FormatError('unsupported', file, 'legacy (pre-1.6, non-zip) torch serialization format; re-save it with torch.save in torch >= 1.6, or convert the lens to params.safetensors');
}

function sniffLegacy(path: string): void {
  const head = Buffer.alloc(3);
  try {
    const fd = openSync(path, 'r');
    try {
      readSync(fd, head, 0, 3, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return; // ZipReader.open reports missing or unreadable files properly.
  }
  if (looksLikeLegacyPickle(head)) throw legacyError(path);
}

// ---------------------------------------------------------------- writing

/** A contiguous tensor to write: raw little-endian bytes of `dtype`. */
export interface TorchTensorBytes {
  dtype: TorchFloatDType;
  shape: readonly number[];
  bytes: Uint8Array;
}

/** Options of {@link writeTorchStateDict}. */
export interface TorchWriteOptions {
  /** Top folder of the archive (default "archive", as recent torch writes). */
  archiveName?: string;
  /** torch's state dict `_metadata` (module versions), written with BUILD like torch does. */
  metadata?: StateDictMetadata;
  /** Write `<archive>/byteorder` as torch >= 2.0 does (default true; torch 1.x omits it). */
  byteOrderRecord?: boolean;
  /**
   * zip64 fields on every entry, as if the file were over 4 GiB (see ZipWriterOptions;
   * for tests). Default false: only where needed, as torch writes them.
   */
  forceZip64?: boolean;
}

/**
 * Writes a torch checkpoint of the state dict `tensors` (in iteration order) to `sink`:
 * one storage per tensor (keys "0", "1", ... in order), entries in torch's order
 * (data.pkl, byteorder, data/<key> sorted as strings like torch does, version).
 */
export function writeTorchStateDict(sink: ByteSink, tensors: Iterable<readonly [string, TorchTensorBytes]>, opts: TorchWriteOptions = {}): number {
  const archive = opts.archiveName ?? 'archive';
  if (!/^[^/\\]+$/.test(archive)) throw new FormatError('invalid', '', `archive name ${JSON.stringify(archive)} must be one path component`);
  const specs: PickleTensorSpec[] = [];
  const storages = new Map<string, Uint8Array>();
  for (const [name, t] of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const size = TORCH_ELEMENT_SIZE[t.dtype];
    if (t.bytes.byteLength !== numel * size) {
      throw new FormatError('invalid', '', `tensor ${JSON.stringify(name)}: ${t.dtype} [${t.shape.join(', ')}] needs ${numel * size} bytes, got ${t.bytes.byteLength}`);
    }
    const key = String(specs.length);
    specs.push({ name, dtype: t.dtype, storageKey: key, storageNumel: numel, storageOffset: 0, shape: t.shape, stride: contiguousStrides(t.shape) });
    storages.set(key, t.bytes);
  }
  const zip = new ZipWriter(sink, { forceZip64: opts.forceZip64 });
  zip.add(`${archive}/data.pkl`, pickleStateDict(specs, opts.metadata));
  // Storages are always little-endian here: the tensor codec writes little-endian on any host.
  if (opts.byteOrderRecord ?? true) zip.add(`${archive}/byteorder`, Buffer.from('little', 'latin1'));
  for (const key of [...storages.keys()].sort()) zip.add(`${archive}/data/${key}`, storages.get(key)!);
  zip.add(`${archive}/version`, Buffer.from(FORMAT_VERSION, 'latin1'));
  return zip.finish();
}

/** Row-major strides of `shape`, in elements. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i];
  }
  return stride;
}

/**
 * A checkpoint: the union of the tensors of one or more safetensors files (one file, or
 * the shards named by a `model.safetensors.index.json`), looked up by name.
 */
import { decodeFloats, isFloatDType, type FloatDType } from '@tuned-lens/tensor';
import { fileLabel } from '../errors.js';
import { CheckpointError } from './errors.js';
import { isSupportedDType, type SafetensorsDType } from './dtypes.js';
import type { TensorEntry } from './header.js';
import type { SafetensorsFile } from './reader.js';

/** Dtype and shape of a stored tensor. */
export interface TensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
}

/** A stored tensor's raw little-endian row-major bytes (a view: do not write to it). */
export interface RawTensorBytes {
  dtype: SafetensorsDType;
  shape: number[];
  bytes: Uint8Array;
}

interface Located {
  file: SafetensorsFile;
  entry: TensorEntry;
}

export class Checkpoint {
  private readonly located: ReadonlyMap<string, Located>;
  private storage: FloatDType | undefined | null = null;

  /**
   * Prefer {@link openCheckpoint} / {@link Checkpoint.fromFile}.
   * @param path what the checkpoint was opened from: the `.safetensors` file or the
   *   index JSON (it names the checkpoint in error messages)
   * @param files every file the checkpoint reads
   * @param tensors tensor name -> the file holding it (each name once)
   */
  constructor(
    readonly path: string,
    readonly files: readonly SafetensorsFile[],
    tensors: ReadonlyMap<string, SafetensorsFile>,
  ) {
    const located = new Map<string, Located>();
    for (const [name, file] of tensors) {
      const entry = file.entries.get(name);
      if (!entry) throw new CheckpointError('missing_tensor', file.path, `tensor ${JSON.stringify(name)} is not in this file`);
      located.set(name, { file, entry });
    }
    this.located = located;
  }

  /** A checkpoint of every tensor of one file. */
  static fromFile(file: SafetensorsFile): Checkpoint {
    return new Checkpoint(file.path, [file], new Map([...file.entries.keys()].map((n) => [n, file])));
  }

  /** Short name for messages: `parent/file`, e.g. `tiny-gpt2/model.safetensors`. */
  get label(): string {
    return fileLabel(this.path);
  }

  /** Number of tensors. */
  get size(): number {
    return this.located.size;
  }

  /** Tensor names, sorted. */
  names(): string[] {
    return [...this.located.keys()].sort();
  }

  has(name: string): boolean {
    return this.located.has(name);
  }

  /** Dtype and shape of `name` (a fresh copy); CheckpointError `missing_tensor` if absent. */
  info(name: string): TensorInfo {
    const { entry } = this.locate(name);
    return { dtype: entry.dtype, shape: [...entry.shape] };
  }

  /**
   * Where `name`'s bytes are on disk: its file, the absolute byte offset in that file, its
   * stored dtype and shape (for engines that read weights in place; see StoredParam).
   */
  location(name: string): { file: string; offset: number; byteLength: number; dtype: string; shape: number[] } {
    const { file, entry } = this.locate(name);
    return { file: file.path, offset: file.dataOffset + entry.begin, byteLength: entry.end - entry.begin, dtype: entry.dtype, shape: [...entry.shape] };
  }

  /** Path of the file holding `name` (a shard for sharded checkpoints). */
  fileOf(name: string): string {
    return this.locate(name).file.path;
  }

  /**
   * Raw bytes of `name`: a view into the file's data buffer (no copy), which must not be
   * written to. Works for every recognised dtype, decodable or not.
   */
  getRaw(name: string): RawTensorBytes {
    const { file, entry } = this.locate(name);
    return { dtype: entry.dtype, shape: [...entry.shape], bytes: file.bytes(entry) };
  }

  /**
   * Values of a float tensor as float32, row-major, `numel(shape)` elements. F32 is a
   * VIEW of the checkpoint's memory when 4-byte aligned (always, for files written by the
   * reference writer), else a copy; F16 and BF16 are converted exactly into a new array.
   * Do not write to the result: it may be the checkpoint's own bytes.
   */
  getF32(name: string): Float32Array {
    const { file, entry } = this.locate(name);
    if (!isSupportedDType(entry.dtype) || !isFloatDType(entry.dtype)) {
      throw new CheckpointError(
        'unsupported',
        file.path,
        `tensor ${JSON.stringify(name)} is ${entry.dtype}; only F32, F16 and BF16 decode to float32 (use getRaw for the bytes)`,
      );
    }
    return decodeFloats(file.bytes(entry), entry.dtype, entry.shape);
  }

  /**
   * The float dtype holding most of the float weights (by bytes), e.g. 'F16' for a half
   * precision checkpoint with a few F32 buffers; undefined without float tensors.
   */
  get storageDtype(): FloatDType | undefined {
    if (this.storage === null) {
      const bytes = new Map<FloatDType, number>();
      for (const { entry } of this.located.values()) {
        if (isSupportedDType(entry.dtype) && isFloatDType(entry.dtype)) {
          bytes.set(entry.dtype, (bytes.get(entry.dtype) ?? 0) + (entry.end - entry.begin));
        }
      }
      let best: FloatDType | undefined;
      for (const [d, n] of bytes) if (best === undefined || n > bytes.get(best)!) best = d;
      this.storage = best;
    }
    return this.storage;
  }

  /** `__metadata__` of the files, merged (later shards win on equal keys). */
  get metadata(): Record<string, string> {
    // fromEntries, not Object.assign: a "__proto__" key must stay data, not set a prototype.
    return Object.fromEntries(this.files.flatMap((f) => Object.entries(f.metadata)));
  }

  /** Total bytes of the tensors (not of the files). */
  get byteLength(): number {
    let n = 0;
    for (const { entry } of this.located.values()) n += entry.end - entry.begin;
    return n;
  }

  private locate(name: string): Located {
    const found = this.located.get(name);
    if (found) return found;
    throw new CheckpointError('missing_tensor', this.path, `tensor ${JSON.stringify(name)} not found${this.suggest(name)}`);
  }

  /** " (did you mean ...)" for names differing only by a prefix or sharing the last two parts. */
  private suggest(name: string): string {
    const names = [...this.located.keys()];
    const tail = name.split('.').slice(-2).join('.');
    const prefixed = names.filter((n) => n.endsWith(`.${name}`) || name.endsWith(`.${n}`));
    const similar = prefixed.length > 0 ? prefixed : names.filter((n) => n === tail || n.endsWith(`.${tail}`));
    if (similar.length === 0) return ` (the checkpoint has ${names.length} tensors)`;
    return ` (did you mean ${similar.slice(0, 3).map((n) => JSON.stringify(n)).join(', ')}${similar.length > 3 ? ', ...' : ''}?)`;
  }
}

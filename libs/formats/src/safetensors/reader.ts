/**
 * Reading one safetensors file.
 *
 * The header is read and validated first; then the whole data buffer is read with one
 * allocation, and every tensor is a VIEW (`subarray`) into it, so a checkpoint costs its
 * file size in memory once and nothing per access. The data buffer gets its own
 * ArrayBuffer starting at offset 0, so tensors the writer placed at aligned offsets
 * (the reference writer always does) are aligned in memory and F32 decodes zero-copy.
 *
 * A data buffer too big for one Node Buffer (or above `maxResidentBytes`) is not loaded:
 * each tensor is then read from disk when asked for, as a fresh copy.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { CheckpointError } from './errors.js';
import { parseHeader, readHeaderLength, type TensorEntry } from './header.js';

export interface ReadOptions {
  /**
   * Data buffers up to this many bytes are read into memory at open; larger ones are
   * read tensor by tensor on demand. Default: the largest possible Node Buffer.
   */
  maxResidentBytes?: number;
}

// One readSync call is capped below 2 GiB by Node; read big regions in 1 GiB steps.
const READ_STEP = 1 << 30;

/** A parsed safetensors file: its header, and access to each tensor's bytes. */
export class SafetensorsFile {
  private constructor(
    /** The file path (or a label for in-memory bytes). */
    readonly path: string,
    /** Length N of the JSON header; the data buffer starts at byte 8 + N. */
    readonly headerLength: number,
    /** Byte length of the data buffer. */
    readonly dataLength: number,
    /** Tensors in header order. */
    readonly entries: ReadonlyMap<string, TensorEntry>,
    /** The header's `__metadata__` (empty object when absent). */
    readonly metadata: Readonly<Record<string, string>>,
    /** The data buffer when resident; null when tensors are read on demand. */
    private readonly data: Uint8Array | null,
  ) {}

  /** Reads and validates `path` (see {@link ReadOptions} for big files). */
  static read(path: string, opts: ReadOptions = {}): SafetensorsFile {
    const maxResident = Math.min(opts.maxResidentBytes ?? bufferConstants.MAX_LENGTH, bufferConstants.MAX_LENGTH);
    const fd = openForReading(path);
    try {
      const stat = fstatSync(fd);
      if (stat.isDirectory()) throw new CheckpointError('invalid', path, 'is a directory, not a safetensors file');
      const size = stat.size;
      const prefix = Buffer.alloc(8);
      if (size >= 8) readFully(fd, prefix, 0, path);
      const n = readHeaderLength(prefix, size, path);
      const header = Buffer.allocUnsafe(n);
      readFully(fd, header, 8, path);
      const dataLength = size - 8 - n;
      const { entries, metadata } = parseHeader(header, dataLength, path);
      let data: Uint8Array | null = null;
      if (dataLength <= maxResident) {
        // allocUnsafeSlow: never a slice of the shared pool, so the data starts at
        // byteOffset 0 of its own ArrayBuffer (alignment) and is not zero-filled first.
        data = Buffer.allocUnsafeSlow(dataLength);
        readFully(fd, data, 8 + n, path);
      }
      return new SafetensorsFile(path, n, dataLength, entries, metadata, data);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Parses a whole safetensors file already in memory. Tensors are views into `bytes`
   * (their alignment is that of `bytes.byteOffset + 8 + N`).
   */
  static fromBytes(bytes: Uint8Array, label = '<memory>'): SafetensorsFile {
    const n = readHeaderLength(bytes.subarray(0, 8), bytes.byteLength, label);
    const data = bytes.subarray(8 + n);
    const { entries, metadata } = parseHeader(bytes.subarray(8, 8 + n), data.byteLength, label);
    return new SafetensorsFile(label, n, data.byteLength, entries, metadata, data);
  }

  /** Whether the data buffer is in memory (tensors are views) or read on demand (copies). */
  get resident(): boolean {
    return this.data !== null;
  }

  /** Byte offset of the data buffer in the file (8 + header length). */
  get dataOffset(): number {
    return 8 + this.headerLength;
  }

  /**
   * The raw little-endian bytes of `entry` (which must come from this file): a view into
   * the resident data buffer (do not write to it), or a fresh read when not resident.
   */
  bytes(entry: TensorEntry): Uint8Array {
    if (this.data) return this.data.subarray(entry.begin, entry.end);
    const out = Buffer.allocUnsafeSlow(entry.end - entry.begin);
    const fd = openForReading(this.path);
    try {
      readFully(fd, out, this.dataOffset + entry.begin, this.path);
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

function openForReading(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CheckpointError('not_found', path, 'file does not exist', { cause: e });
    throw new CheckpointError('invalid', path, `cannot open: ${(e as Error).message}`, { cause: e });
  }
}

/** Fills `target` from the file at `position`; a short file is an error, not zeros. */
function readFully(fd: number, target: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < target.byteLength) {
    const n = readSync(fd, target, done, Math.min(target.byteLength - done, READ_STEP), position + done);
    if (n === 0) {
      throw new CheckpointError('invalid', path, `file ended after ${position + done} bytes, expected at least ${position + target.byteLength} (truncated, or changed while reading?)`);
    }
    done += n;
  }
}

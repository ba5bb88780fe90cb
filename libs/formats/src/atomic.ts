/**
 * Atomic file replacement: write a temporary file in the target's folder, flush it, then
 * rename it over the target. A reader (or a crash) sees the old file or the new one,
 * never a torn mix; a failed write leaves the old file untouched and no temp behind.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { FileError, withFile } from './errors.js';

/** Something bytes are appended to (a file, or memory). */
export interface ByteSink {
  write(bytes: Uint8Array): void;
}

/** A sink appending to an open file descriptor. */
export class FdSink implements ByteSink {
  constructor(private readonly fd: number) {}

  write(bytes: Uint8Array): void {
    let done = 0;
    // writeSync may write less than asked and caps one call near 2 GiB: loop in 1 GiB steps.
    while (done < bytes.byteLength) done += writeSync(this.fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
  }
}

/** A sink collecting chunks in memory. */
export class MemorySink implements ByteSink {
  private readonly chunks: Uint8Array[] = [];

  write(bytes: Uint8Array): void {
    // Copy: callers may reuse their buffers after write returns, as with a file.
    this.chunks.push(Uint8Array.from(bytes));
  }

  /** Everything written so far, as one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A unique temporary name next to `path` (same folder, so rename cannot cross devices). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Calls `fill` with a sink on a fresh temporary file next to `path`, then fsyncs and
 * renames it to `path`. Errors (from `fill` or the file system) remove the temp file; a
 * FileError naming a file passes through, anything else becomes a FormatError naming
 * `path` ("cannot write: ...", see {@link withFile}).
 */
export function writeFileAtomic(path: string, fill: (sink: ByteSink) => void): void {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    fill(new FdSink(fd));
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Never created, or already renamed: nothing to clean up.
    }
    throw e instanceof FileError && e.file ? e : withFile(path, e, 'cannot write: ');
  }
  syncDir(dirname(path));
}

/** Flushes a folder's entry list so a completed rename survives a crash (best effort). */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms and file systems cannot fsync a directory; the data itself is synced.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A minimal zip reader and writer, enough for PyTorch checkpoints (`torch.save` writes a
 * zip archive of stored, uncompressed entries).
 *
 * Reader: trusts only the central directory (torch's local headers carry zero sizes and
 * CRCs, with the real ones in a data descriptor after the data), reads entries on demand
 * from the file so a multi-GB params.pt never has to fit in one buffer, and checks every
 * offset, size and CRC. Stored and deflate entries are read; zip64, encryption, multi-disk
 * archives and other methods are refused by name. A zip64 *end record* alone (torch always
 * writes one) is fine: only sizes or offsets saturated at 0xFFFFFFFF need zip64.
 *
 * Writer: mimics PyTorch's miniz writer byte for byte in layout: every local header has an
 * "FB" extra field padding the data to a 64-byte boundary, general purpose flags 0x0808
 * (UTF-8 names, data descriptor), zeroed times, a data descriptor after each entry, and
 * a zip64 end record + locator before the classic end record.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { crc32 } from './crc32.js';
import { LensIOError, type LensIOErrorKind } from './errors.js';
import { MemorySink, type ByteSink } from './atomic.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_DESCRIPTOR = 0x08074b50;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const EOCD_SIZE = 22;
const ZIP64_EOCD_SIZE = 56;
const ZIP64_LOCATOR_SIZE = 20;
const DESCRIPTOR_SIZE = 16;
const MAX_COMMENT = 0xffff;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_UTF8 = 0x0800;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;

/** Names of compression methods this reader refuses, for messages. */
const METHOD_NAMES: Readonly<Record<number, string>> = {
  1: 'shrink', 6: 'implode', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz', 98: 'ppmd', 99: 'AES encryption',
};

/** Bounds on what an archive may make the reader allocate. */
export interface ZipLimits {
  /** Most entries accepted (default 65535, all a zip without zip64 can hold). */
  maxEntries?: number;
  /** Largest central directory read into memory (default 64 MiB). */
  maxCentralDirectoryBytes?: number;
  /** Largest entry (uncompressed) returned by {@link ZipReader.read} (default: the largest Node Buffer). */
  maxEntryBytes?: number;
}

/** One entry as the central directory describes it. */
export interface ZipEntry {
  readonly name: string;
  readonly method: 'stored' | 'deflate';
  /** Bytes stored in the archive. */
  readonly compressedSize: number;
  /** Bytes after decompression. */
  readonly size: number;
  /** CRC-32 of the uncompressed bytes. */
  readonly crc32: number;
  /** Offset of the entry's local header in the archive. */
  readonly localHeaderOffset: number;
}

/** Random access to the archive's bytes. */
interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `position` (callers check bounds against `size` first). */
  read(position: number, length: number): Uint8Array;
  close(): void;
}

class BufferSource implements ByteSource {
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.byteLength;
  }
  read(position: number, length: number): Uint8Array {
    return this.bytes.subarray(position, position + length);
  }
  close(): void {}
}

class FileSource implements ByteSource {
  private fd: number | undefined;
  constructor(
    fd: number,
    readonly size: number,
    private readonly fail: (reason: string) => never,
  ) {
    this.fd = fd;
  }
  read(position: number, length: number): Uint8Array {
    if (this.fd === undefined) this.fail('archive already closed');
    // allocUnsafeSlow: an ArrayBuffer of its own at offset 0, so F32 data read here is
    // 4-byte aligned and can be viewed without a copy.
    const out = Buffer.allocUnsafeSlow(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, Math.min(length - done, 1 << 30), position + done);
      if (n === 0) this.fail(`file ended at byte ${position + done} while reading ${length} bytes at ${position} (truncated, or changed while reading?)`);
      done += n;
    }
    return out;
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * A zip archive opened for reading. Construct with {@link ZipReader.open} (a file, read
 * on demand) or {@link ZipReader.fromBytes}; call {@link close} when done with a file.
 * Every fault is a {@link LensIOError} naming the archive.
 */
export class ZipReader {
  private readonly byName: ReadonlyMap<string, ZipEntry>;

  private constructor(
    private readonly source: ByteSource,
    /** The archive path ('' for bytes in memory). */
    readonly file: string,
    /** Entries in central directory order. */
    readonly entries: readonly ZipEntry[],
    /** Where the central directory starts: every entry's data must end before it. */
    private readonly dataEnd: number,
    private readonly maxEntryBytes: number,
  ) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  /** Opens `path` and reads its central directory; entries are read later, on demand. */
  static open(path: string, limits: ZipLimits = {}): ZipReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new LensIOError(code === 'ENOENT' ? 'not_found' : 'io', path, code === 'ENOENT' ? 'does not exist' : `cannot open: ${(e as Error).message}`, { cause: e });
    }
    try {
      const stat = fstatSync(fd);
      if (stat.isDirectory()) throw new LensIOError('invalid', path, 'is a folder, not a zip archive');
      const source = new FileSource(fd, stat.size, (reason) => {
        throw new LensIOError('corrupt', path, reason);
      });
      return ZipReader.parse(source, path, limits);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Parses an archive held in memory (entries are views into `bytes` when stored). */
  static fromBytes(bytes: Uint8Array, label = '', limits: ZipLimits = {}): ZipReader {
    return ZipReader.parse(new BufferSource(bytes), label, limits);
  }

  private static parse(source: ByteSource, file: string, limits: ZipLimits): ZipReader {
    const fail = (kind: LensIOErrorKind, reason: string): never => {
      throw new LensIOError(kind, file, reason);
    };
    const maxEntries = limits.maxEntries ?? U16_MAX;
    const maxCd = limits.maxCentralDirectoryBytes ?? 64 * 1024 * 1024;
    const maxEntryBytes = Math.min(limits.maxEntryBytes ?? bufferConstants.MAX_LENGTH, bufferConstants.MAX_LENGTH);
    const size = source.size;
    if (size < EOCD_SIZE) fail('corrupt', `${size} bytes is too short to be a zip archive (truncated?)`);

    const eocdPos = findEndRecord(source, fail);
    const eocd = view(source.read(eocdPos, EOCD_SIZE));
    const disk = eocd.getUint16(4, true);
    const cdDisk = eocd.getUint16(6, true);
    const onDisk = eocd.getUint16(8, true);
    const total = eocd.getUint16(10, true);
    const cdSize = eocd.getUint32(12, true);
    const cdOffset = eocd.getUint32(16, true);
    if (total === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
      fail('unsupported', 'zip64 archive (over 4 GiB or 65535 entries) is not supported; convert the lens to params.safetensors');
    }
    if (disk !== 0 || cdDisk !== 0 || onDisk !== total) fail('unsupported', 'multi-disk (split) zip archives are not supported');
    if (total > maxEntries) fail('too_large', `archive has ${total} entries, more than the limit of ${maxEntries}`);
    if (cdSize > maxCd) fail('too_large', `central directory of ${cdSize} bytes exceeds the limit of ${maxCd}`);
    // A zip64 end record and locator may sit between the central directory and the end
    // record (torch always writes them); the directory must end at or before them.
    const cdLimit = hasZip64Locator(source, eocdPos) ? eocdPos - ZIP64_LOCATOR_SIZE : eocdPos;
    if (cdOffset + cdSize > cdLimit) {
      fail('corrupt', `central directory (${cdSize} bytes at ${cdOffset}) runs past the end records at ${cdLimit} (truncated or corrupt archive)`);
    }

    const entries = parseCentralDirectory(source.read(cdOffset, cdSize), total, cdOffset, fail);
    return new ZipReader(source, file, entries, cdOffset, maxEntryBytes);
  }

  /** Entry names in central directory order. */
  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The entry called `name`, or undefined. */
  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * The uncompressed bytes of `name`, CRC-checked. From a file: a fresh buffer with its
   * own ArrayBuffer at offset 0. From memory: a view of the input for stored entries.
   */
  read(name: string): Uint8Array {
    const entry = this.byName.get(name);
    if (!entry) throw new LensIOError('corrupt', this.file, `archive has no entry ${JSON.stringify(name)}`);
    const where = `entry ${JSON.stringify(name)}`;
    if (entry.size > this.maxEntryBytes) {
      throw new LensIOError('too_large', this.file, `${where} is ${entry.size} bytes, more than the limit of ${this.maxEntryBytes}`);
    }
    const start = this.dataStart(entry);
    let data = this.source.read(start, entry.compressedSize);
    if (entry.method === 'deflate') {
      try {
        // maxOutputLength stops a deflate bomb at the declared size (inflate throws past it).
        data = inflateRawSync(data, { maxOutputLength: Math.max(1, entry.size) });
      } catch (e) {
        throw new LensIOError('corrupt', this.file, `${where}: deflate data is corrupt or larger than its declared ${entry.size} bytes (${(e as Error).message})`, { cause: e });
      }
      if (data.byteLength !== entry.size) {
        throw new LensIOError('corrupt', this.file, `${where}: inflates to ${data.byteLength} bytes, the directory says ${entry.size}`);
      }
    }
    const crc = crc32(data);
    if (crc !== entry.crc32) {
      throw new LensIOError('corrupt', this.file, `${where}: CRC-32 mismatch (directory ${hex32(entry.crc32)}, data ${hex32(crc)}): the archive is corrupt`);
    }
    return data;
  }

  /** Releases the file (a no-op for archives in memory). Safe to call twice. */
  close(): void {
    this.source.close();
  }

  /** Checks the local header against the directory; returns where the entry's data starts. */
  private dataStart(entry: ZipEntry): number {
    const where = `entry ${JSON.stringify(entry.name)}`;
    const fail = (reason: string): never => {
      throw new LensIOError('corrupt', this.file, `${where}: ${reason}`);
    };
    if (entry.localHeaderOffset + LOCAL_HEADER_SIZE > this.dataEnd) fail(`local header at ${entry.localHeaderOffset} lies past the data area`);
    const h = view(this.source.read(entry.localHeaderOffset, LOCAL_HEADER_SIZE));
    if (h.getUint32(0, true) !== SIG_LOCAL) fail(`no local header signature at byte ${entry.localHeaderOffset}`);
    const method = h.getUint16(8, true);
    const nameLen = h.getUint16(26, true);
    const extraLen = h.getUint16(28, true);
    if (method !== (entry.method === 'stored' ? METHOD_STORED : METHOD_DEFLATE)) fail(`local header says method ${method}, the directory says ${entry.method}`);
    const nameStart = entry.localHeaderOffset + LOCAL_HEADER_SIZE;
    const start = nameStart + nameLen + extraLen;
    if (start + entry.compressedSize > this.dataEnd) {
      fail(`data (${entry.compressedSize} bytes at ${start}) runs into the central directory at ${this.dataEnd}`);
    }
    const localName = this.source.read(nameStart, nameLen);
    if (!sameBytes(localName, Buffer.from(entry.name, 'utf8')) && !sameBytes(localName, Buffer.from(entry.name, 'latin1'))) {
      fail(`local header names ${JSON.stringify(Buffer.from(localName).toString('latin1'))}`);
    }
    return start;
  }
}

/** Finds the end-of-central-directory record (it ends the file, after an optional comment). */
function findEndRecord(source: ByteSource, fail: (kind: LensIOErrorKind, reason: string) => never): number {
  const tailLen = Math.min(source.size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = source.size - tailLen;
  const tail = view(source.read(tailStart, tailLen));
  let loose = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    if (tail.getUint32(i, true) !== SIG_EOCD) continue;
    // The comment length must reach exactly to the end of the file; otherwise this is a
    // signature-like byte run inside the data, or the file was cut or extended.
    if (i + EOCD_SIZE + tail.getUint16(i + 20, true) === tailLen) return tailStart + i;
    if (loose < 0) loose = i;
  }
  if (loose >= 0) fail('corrupt', 'end-of-central-directory record does not end the file (truncated archive, or bytes appended after it)');
  return fail('corrupt', 'not a zip archive: no end-of-central-directory record (the file may be truncated)');
}

function hasZip64Locator(source: ByteSource, eocdPos: number): boolean {
  if (eocdPos < ZIP64_LOCATOR_SIZE) return false;
  return view(source.read(eocdPos - ZIP64_LOCATOR_SIZE, 4)).getUint32(0, true) === SIG_ZIP64_LOCATOR;
}

function parseCentralDirectory(
  cd: Uint8Array,
  total: number,
  cdOffset: number,
  fail: (kind: LensIOErrorKind, reason: string) => never,
): ZipEntry[] {
  const v = view(cd);
  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let p = 0;
  for (let i = 0; i < total; i++) {
    const at = `central directory entry ${i} (byte ${cdOffset + p})`;
    if (p + CENTRAL_HEADER_SIZE > cd.byteLength) fail('corrupt', `${at}: directory ends mid-entry (expected ${total} entries)`);
    if (v.getUint32(p, true) !== SIG_CENTRAL) fail('corrupt', `${at}: bad signature`);
    const flags = v.getUint16(p + 8, true);
    const methodCode = v.getUint16(p + 10, true);
    const crc = v.getUint32(p + 16, true);
    const compressedSize = v.getUint32(p + 20, true);
    const size = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    const diskStart = v.getUint16(p + 34, true);
    const localHeaderOffset = v.getUint32(p + 42, true);
    const end = p + CENTRAL_HEADER_SIZE + nameLen + extraLen + commentLen;
    if (end > cd.byteLength) fail('corrupt', `${at}: name/extra/comment run past the directory`);
    const nameBytes = cd.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen);
    let name: string;
    try {
      name = flags & FLAG_UTF8 ? utf8.decode(nameBytes) : Buffer.from(nameBytes).toString('latin1');
    } catch {
      return fail('corrupt', `${at}: name is not valid UTF-8`);
    }
    const label = `${at} ${JSON.stringify(name)}`;
    if (compressedSize === U32_MAX || size === U32_MAX || localHeaderOffset === U32_MAX || diskStart === U16_MAX) {
      fail('unsupported', `${label}: needs zip64 (an entry over 4 GiB, or past 4 GiB into the file), which is not supported; convert the lens to params.safetensors`);
    }
    if (flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) fail('unsupported', `${label}: encrypted entries are not supported`);
    if (diskStart !== 0) fail('unsupported', `${label}: multi-disk archives are not supported`);
    let method: ZipEntry['method'];
    if (methodCode === METHOD_STORED) method = 'stored';
    else if (methodCode === METHOD_DEFLATE) method = 'deflate';
    else return fail('unsupported', `${label}: compression method ${methodCode}${METHOD_NAMES[methodCode] ? ` (${METHOD_NAMES[methodCode]})` : ''} is not supported (only stored and deflate)`);
    if (method === 'stored' && compressedSize !== size) fail('corrupt', `${label}: stored entry with compressed size ${compressedSize} != size ${size}`);
    if (localHeaderOffset >= cdOffset) fail('corrupt', `${label}: local header offset ${localHeaderOffset} is not before the central directory`);
    if (seen.has(name)) fail('corrupt', `${label}: duplicate entry name`);
    seen.add(name);
    entries.push({ name, method, compressedSize, size, crc32: crc, localHeaderOffset });
    p = end;
  }
  if (p !== cd.byteLength) fail('corrupt', `central directory has ${cd.byteLength - p} bytes after its ${total} entries`);
  return entries;
}

// ---------------------------------------------------------------- writer

/** Per-entry options of {@link ZipWriter.add}. */
export interface ZipAddOptions {
  /** Deflate the entry (torch never does; used to test the reader). Default false. */
  compress?: boolean;
}

interface Written {
  name: Buffer;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
}

/**
 * Writes a zip archive in PyTorch's layout to a sink, entry by entry, so big tensors go
 * straight to disk. Names are written as given (torch puts everything under one
 * `<archive>/` folder; see torchArchive.ts). Archives needing zip64 are refused.
 */
export class ZipWriter {
  private position = 0;
  private readonly written: Written[] = [];
  private readonly names = new Set<string>();
  private finished = false;

  /**
   * @param sink where the bytes go
   * @param align data alignment in bytes (torch: 64), reached by padding the local
   *   header's "FB" extra field
   */
  constructor(
    private readonly sink: ByteSink,
    private readonly align = 64,
  ) {
    if (!Number.isInteger(align) || align < 1 || align > 0x8000) throw new RangeError(`zip alignment must be an integer in 1..32768, got ${align}`);
  }

  /** Appends one entry. `data` may be given in chunks (they are written in order). */
  add(name: string, data: Uint8Array | readonly Uint8Array[], opts: ZipAddOptions = {}): void {
    if (this.finished) throw new Error('ZipWriter: add() after finish()');
    if (this.names.has(name)) throw new Error(`ZipWriter: duplicate entry name ${JSON.stringify(name)}`);
    if (this.written.length >= U16_MAX - 1) throw zip64Needed(`more than ${U16_MAX - 1} entries`);
    const nameBytes = Buffer.from(name, 'utf8');
    if (nameBytes.byteLength === 0 || nameBytes.byteLength > U16_MAX) throw new Error(`ZipWriter: entry name must be 1..65535 bytes, got ${nameBytes.byteLength}`);
    let chunks = data instanceof Uint8Array ? [data] : [...data];
    let size = 0;
    let crc = 0;
    for (const c of chunks) {
      size += c.byteLength;
      crc = crc32(c, crc);
    }
    const method = opts.compress ? METHOD_DEFLATE : METHOD_STORED;
    if (opts.compress) chunks = [deflateRawSync(Buffer.concat(chunks))];
    const compressedSize = chunks.reduce((n, c) => n + c.byteLength, 0);
    const offset = this.position;
    if (size >= U32_MAX || compressedSize >= U32_MAX || offset >= U32_MAX) throw zip64Needed(`entry ${JSON.stringify(name)} would end past 4 GiB`);

    // torch (caffe2 getPadding): data must start at a multiple of the alignment; the
    // padding is an extra field with id "FB", its 2-byte size, then that many 'Z' bytes.
    const unpadded = offset + LOCAL_HEADER_SIZE + nameBytes.byteLength + 4;
    const padding = (this.align - (unpadded % this.align)) % this.align;
    const extra = Buffer.alloc(4 + padding, 'Z'.charCodeAt(0));
    extra.write('FB', 0, 'latin1');
    extra.writeUInt16LE(padding, 2);

    const header = Buffer.alloc(LOCAL_HEADER_SIZE);
    header.writeUInt32LE(SIG_LOCAL, 0);
    header.writeUInt16LE(0, 4); // version needed: torch writes 0
    header.writeUInt16LE(FLAG_DESCRIPTOR | FLAG_UTF8, 6);
    header.writeUInt16LE(method, 8);
    // time, date, crc and sizes stay 0: with flag bit 3 they live in the data descriptor.
    header.writeUInt16LE(nameBytes.byteLength, 26);
    header.writeUInt16LE(extra.byteLength, 28);
    this.emit(header);
    this.emit(nameBytes);
    this.emit(extra);
    for (const c of chunks) this.emit(c);

    const descriptor = Buffer.alloc(DESCRIPTOR_SIZE);
    descriptor.writeUInt32LE(SIG_DESCRIPTOR, 0);
    descriptor.writeUInt32LE(crc, 4);
    descriptor.writeUInt32LE(compressedSize, 8);
    descriptor.writeUInt32LE(size, 12);
    this.emit(descriptor);
    if (this.position >= U32_MAX) throw zip64Needed(`entry ${JSON.stringify(name)} ends past 4 GiB`);

    this.names.add(name);
    this.written.push({ name: nameBytes, method, crc, compressedSize, size, offset });
  }

  /** Writes the central directory and end records. @returns the archive's total size */
  finish(): number {
    if (this.finished) throw new Error('ZipWriter: finish() called twice');
    this.finished = true;
    const cdOffset = this.position;
    for (const w of this.written) {
      const h = Buffer.alloc(CENTRAL_HEADER_SIZE);
      h.writeUInt32LE(SIG_CENTRAL, 0);
      // version made by / needed: 0, as torch writes; time and date 0 too.
      h.writeUInt16LE(FLAG_DESCRIPTOR | FLAG_UTF8, 8);
      h.writeUInt16LE(w.method, 10);
      h.writeUInt32LE(w.crc, 16);
      h.writeUInt32LE(w.compressedSize, 20);
      h.writeUInt32LE(w.size, 24);
      h.writeUInt16LE(w.name.byteLength, 28);
      h.writeUInt32LE(w.offset, 42);
      this.emit(h);
      this.emit(w.name);
    }
    const cdSize = this.position - cdOffset;
    const zip64Offset = this.position;
    if (zip64Offset >= U32_MAX) throw zip64Needed('the central directory ends past 4 GiB');
    const n = this.written.length;

    // torch's miniz runs with MZ_ZIP_FLAG_WRITE_ZIP64, so it always writes a zip64 end
    // record and locator, even for small files; readers ignore them when not needed.
    const z = Buffer.alloc(ZIP64_EOCD_SIZE + ZIP64_LOCATOR_SIZE);
    z.writeUInt32LE(SIG_ZIP64_EOCD, 0);
    z.writeBigUInt64LE(BigInt(ZIP64_EOCD_SIZE - 12), 4);
    z.writeUInt16LE(0x031e, 12); // made by: Unix, spec 3.0 (as miniz)
    z.writeUInt16LE(0x002d, 14); // needed: 4.5 (zip64)
    z.writeBigUInt64LE(BigInt(n), 24);
    z.writeBigUInt64LE(BigInt(n), 32);
    z.writeBigUInt64LE(BigInt(cdSize), 40);
    z.writeBigUInt64LE(BigInt(cdOffset), 48);
    z.writeUInt32LE(SIG_ZIP64_LOCATOR, 56);
    z.writeBigUInt64LE(BigInt(zip64Offset), 64);
    z.writeUInt32LE(1, 72); // total number of disks
    this.emit(z);

    const e = Buffer.alloc(EOCD_SIZE);
    e.writeUInt32LE(SIG_EOCD, 0);
    e.writeUInt16LE(n, 8);
    e.writeUInt16LE(n, 10);
    e.writeUInt32LE(cdSize, 12);
    e.writeUInt32LE(cdOffset, 16);
    this.emit(e);
    return this.position;
  }

  private emit(bytes: Uint8Array): void {
    this.sink.write(bytes);
    this.position += bytes.byteLength;
  }
}

/** A whole archive in memory (same layout as {@link ZipWriter}). */
export function encodeZip(entries: Iterable<readonly [string, Uint8Array]>, opts: ZipAddOptions & { align?: number } = {}): Buffer {
  const sink = new MemorySink();
  const w = new ZipWriter(sink, opts.align ?? 64);
  for (const [name, data] of entries) w.add(name, data, opts);
  w.finish();
  return sink.bytes();
}

function zip64Needed(what: string): LensIOError {
  return new LensIOError('unsupported', '', `zip archive too large: ${what} would need zip64, which this writer does not produce; write params.safetensors instead`);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * A minimal zip reader and writer, enough for PyTorch checkpoints (`torch.save` writes a
 * zip archive of stored, uncompressed entries), including zip64 archives of any size.
 *
 * Reader: trusts only the central directory (torch's local headers carry zero sizes and
 * CRCs, with the real ones in a data descriptor after the data), reads entries on demand
 * from the file so a multi-GB params.pt never has to fit in one buffer, and checks every
 * offset, size and CRC. Stored and deflate entries are read; encryption, multi-disk
 * archives and other methods are refused by name. Zip64 is read: the zip64 end record
 * (found through its locator) replaces the classic end record's counts, sizes and
 * offsets, and a central header's fields saturated at 0xFFFFFFFF (0xFFFF for the disk)
 * come from its zip64 extra field (id 0x0001). A local header's zip64 extra field needs
 * no parsing: local headers are only used to find where the data starts (name + extra
 * lengths), never for sizes.
 *
 * Writer: mimics PyTorch's miniz writer byte for byte in layout: every local header has an
 * "FB" extra field padding the data to a 64-byte boundary, general purpose flags 0x0808
 * (UTF-8 names, data descriptor), zeroed times, a data descriptor after each entry, and
 * a zip64 end record + locator before the classic end record. Like miniz, an entry of
 * 4 GiB or more, or starting 4 GiB or more into the file, gets zip64 extra fields and a
 * 64-bit data descriptor; {@link ZipWriterOptions.forceZip64} does that for every entry
 * (so tests reach those paths with small files).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { crc32 } from './crc32.js';
import { FormatError, type FormatErrorKind } from '../errors.js';
import { MemorySink, type ByteSink } from '../atomic.js';

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
/** Fixed part of the zip64 end record after its signature and size field (APPNOTE 4.3.14). */
const ZIP64_EOCD_BODY_SIZE = ZIP64_EOCD_SIZE - 12;
const DESCRIPTOR_SIZE = 16;
/** A data descriptor with 64-bit sizes, written after entries that have a zip64 extra field. */
const DESCRIPTOR64_SIZE = 24;
/** Header id of the zip64 extended information extra field. */
const ZIP64_EXTRA_ID = 0x0001;
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
  /** Most entries accepted (default 65535; zip64 archives may declare more). */
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

/** Throws a FormatError of `kind` naming the archive. */
type Fail = (kind: FormatErrorKind, reason: string) => never;

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
 * Every fault is a {@link FormatError} naming the archive.
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
      throw new FormatError(code === 'ENOENT' ? 'not_found' : 'io', path, code === 'ENOENT' ? 'does not exist' : `cannot open: ${(e as Error).message}`, { cause: e });
    }
    try {
      const stat = fstatSync(fd);
      if (stat.isDirectory()) throw new FormatError('invalid', path, 'is a folder, not a zip archive');
      const source = new FileSource(fd, stat.size, (reason) => {
        throw new FormatError('corrupt', path, reason);
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
    const fail: Fail = (kind, reason) => {
      throw new FormatError(kind, file, reason);
    };
    const maxEntries = limits.maxEntries ?? U16_MAX;
    const maxCd = limits.maxCentralDirectoryBytes ?? 64 * 1024 * 1024;
    const maxEntryBytes = Math.min(limits.maxEntryBytes ?? bufferConstants.MAX_LENGTH, bufferConstants.MAX_LENGTH);
    const size = source.size;
    if (size < EOCD_SIZE) fail('corrupt', `${size} bytes is too short to be a zip archive (truncated?)`);

    const eocdPos = findEndRecord(source, fail);
    const cd = readEndRecords(source, eocdPos, fail);
    if (cd.entries > maxEntries) fail('too_large', `archive has ${cd.entries} entries, more than the limit of ${maxEntries}`);
    if (cd.size > maxCd) fail('too_large', `central directory of ${cd.size} bytes exceeds the limit of ${maxCd}`);
    if (cd.offset + cd.size > cd.limit) {
      fail('corrupt', `central directory (${cd.size} bytes at ${cd.offset}) runs past the end records at ${cd.limit} (truncated or corrupt archive)`);
    }

    const entries = parseCentralDirectory(source.read(cd.offset, cd.size), cd.entries, cd.offset, fail);
    return new ZipReader(source, file, entries, cd.offset, maxEntryBytes);
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
    if (!entry) throw new FormatError('corrupt', this.file, `archive has no entry ${JSON.stringify(name)}`);
    const where = `entry ${JSON.stringify(name)}`;
    if (entry.size > this.maxEntryBytes) {
      throw new FormatError('too_large', this.file, `${where} is ${entry.size} bytes, more than the limit of ${this.maxEntryBytes}`);
    }
    const start = this.dataStart(entry);
    let data = this.source.read(start, entry.compressedSize);
    if (entry.method === 'deflate') {
      try {
        // maxOutputLength stops a deflate bomb at the declared size (inflate throws past it).
        data = inflateRawSync(data, { maxOutputLength: Math.max(1, entry.size) });
      } catch (e) {
        throw new FormatError('corrupt', this.file, `${where}: deflate data is corrupt or larger than its declared ${entry.size} bytes (${(e as Error).message})`, { cause: e });
      }
      if (data.byteLength !== entry.size) {
        throw new FormatError('corrupt', this.file, `${where}: inflates to ${data.byteLength} bytes, the directory says ${entry.size}`);
      }
    }
    const crc = crc32(data);
    if (crc !== entry.crc32) {
      throw new FormatError('corrupt', this.file, `${where}: CRC-32 mismatch (directory ${hex32(entry.crc32)}, data ${hex32(crc)}): the archive is corrupt`);
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
      throw new FormatError('corrupt', this.file, `${where}: ${reason}`);
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
function findEndRecord(source: ByteSource, fail: Fail): number {
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

/** Where the central directory is, from the end records. */
interface DirectoryLocation {
  entries: number;
  /** Bytes of the central directory. */
  size: number;
  offset: number;
  /** Where the end records start: the directory must end at or before it. */
  limit: number;
}

/**
 * Reads the classic end record at `eocdPos` and, when a zip64 locator sits right before
 * it, the zip64 end record it points to. torch always writes the zip64 pair, so it is
 * read whenever present (as miniz and Python's zipfile do); a classic field that is not
 * saturated (0xFFFF / 0xFFFFFFFF) must then agree with it.
 */
function readEndRecords(source: ByteSource, eocdPos: number, fail: Fail): DirectoryLocation {
  const e = view(source.read(eocdPos, EOCD_SIZE));
  const disk = e.getUint16(4, true);
  const cdDisk = e.getUint16(6, true);
  const onDisk = e.getUint16(8, true);
  const entries = e.getUint16(10, true);
  const size = e.getUint32(12, true);
  const offset = e.getUint32(16, true);

  if (!hasZip64Locator(source, eocdPos)) {
    if (size === U32_MAX || offset === U32_MAX) {
      fail('corrupt', 'end record has zip64 markers (0xFFFFFFFF) but no zip64 end record locator precedes it (truncated or corrupt archive)');
    }
    if (disk !== 0 || cdDisk !== 0 || onDisk !== entries) fail('unsupported', 'multi-disk (split) zip archives are not supported');
    return { entries, size, offset, limit: eocdPos };
  }

  const z = readZip64EndRecord(source, eocdPos - ZIP64_LOCATOR_SIZE, fail);
  const agree = (what: string, classic: number, saturated: number, zip64: number): void => {
    if (classic !== saturated && classic !== zip64) {
      fail('corrupt', `end record says ${what} ${classic}, the zip64 end record ${zip64} (corrupt archive)`);
    }
  };
  if ((disk !== 0 && disk !== U16_MAX) || (cdDisk !== 0 && cdDisk !== U16_MAX) || z.disk !== 0 || z.cdDisk !== 0 || z.onDisk !== z.entries) {
    fail('unsupported', 'multi-disk (split) zip archives are not supported');
  }
  agree('entry count', entries, U16_MAX, z.entries);
  agree('entry count on this disk', onDisk, U16_MAX, z.onDisk);
  agree('central directory size', size, U32_MAX, z.size);
  agree('central directory offset', offset, U32_MAX, z.offset);
  return { entries: z.entries, size: z.size, offset: z.offset, limit: z.position };
}

function hasZip64Locator(source: ByteSource, eocdPos: number): boolean {
  if (eocdPos < ZIP64_LOCATOR_SIZE) return false;
  return view(source.read(eocdPos - ZIP64_LOCATOR_SIZE, 4)).getUint32(0, true) === SIG_ZIP64_LOCATOR;
}

interface Zip64EndRecord {
  /** Where the record starts. */
  position: number;
  disk: number;
  cdDisk: number;
  onDisk: number;
  entries: number;
  size: number;
  offset: number;
}

/** The zip64 end record the locator at `locatorPos` points to (it must end at the locator). */
function readZip64EndRecord(source: ByteSource, locatorPos: number, fail: Fail): Zip64EndRecord {
  const loc = view(source.read(locatorPos, ZIP64_LOCATOR_SIZE));
  const recordDisk = loc.getUint32(4, true);
  const position = readU64(loc, 8, 'zip64 end record offset', fail);
  const disks = loc.getUint32(16, true);
  // miniz and Python write 1 disk in total; some writers write 0.
  if (recordDisk !== 0 || disks > 1) fail('unsupported', 'multi-disk (split) zip archives are not supported');
  if (position + ZIP64_EOCD_SIZE > locatorPos) {
    fail('corrupt', `zip64 end record (${ZIP64_EOCD_SIZE} bytes at ${position}) does not fit before its locator at ${locatorPos} (truncated or corrupt archive)`);
  }
  const r = view(source.read(position, ZIP64_EOCD_SIZE));
  if (r.getUint32(0, true) !== SIG_ZIP64_EOCD) fail('corrupt', `no zip64 end record at byte ${position}, where the zip64 locator points`);
  // The record may carry an "extensible data sector" after its fixed fields; either way it
  // ends where the locator starts.
  const bodySize = readU64(r, 4, 'zip64 end record size', fail);
  if (bodySize < ZIP64_EOCD_BODY_SIZE || position + 12 + bodySize !== locatorPos) {
    fail('corrupt', `zip64 end record at ${position} declares ${bodySize} bytes after its size field, but ${locatorPos - position - 12} lie before the locator`);
  }
  // Version 6.2 and later end records belong to central directory encryption.
  if ((r.getUint16(14, true) & 0xff) >= 62) fail('unsupported', 'central directory encryption (zip64 end record version 2) is not supported');
  return {
    position,
    disk: r.getUint32(16, true),
    cdDisk: r.getUint32(20, true),
    onDisk: readU64(r, 24, 'zip64 entry count on this disk', fail),
    entries: readU64(r, 32, 'zip64 entry count', fail),
    size: readU64(r, 40, 'zip64 central directory size', fail),
    offset: readU64(r, 48, 'zip64 central directory offset', fail),
  };
}

/** An unsigned 64-bit field as a number; above 2^53 it cannot describe a real file. */
function readU64(v: DataView, at: number, what: string, fail: Fail): number {
  const n = v.getBigUint64(at, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) fail('corrupt', `${what} is ${n}, beyond any real file (corrupt archive)`);
  return Number(n);
}

/** The central header fields zip64 can widen. */
interface WideFields {
  size: number;
  compressedSize: number;
  localHeaderOffset: number;
  diskStart: number;
}

/**
 * Replaces the saturated fields of a central header (0xFFFFFFFF; 0xFFFF for the disk)
 * with their values from its zip64 extended information extra field. The field holds
 * only the saturated ones, in a fixed order (APPNOTE 4.5.3): size, compressed size,
 * local header offset (8 bytes each), disk number (4 bytes). Bytes after those that are
 * needed are ignored, as miniz and Python's zipfile do.
 */
function widenWithZip64(fields: WideFields, extra: Uint8Array, label: string, fail: Fail): WideFields {
  const wanted = {
    size: fields.size === U32_MAX,
    compressedSize: fields.compressedSize === U32_MAX,
    localHeaderOffset: fields.localHeaderOffset === U32_MAX,
    diskStart: fields.diskStart === U16_MAX,
  };
  if (!wanted.size && !wanted.compressedSize && !wanted.localHeaderOffset && !wanted.diskStart) return fields;
  const data = findExtraField(extra, ZIP64_EXTRA_ID, label, fail);
  if (!data) return fail('corrupt', `${label}: sizes, offset or disk are saturated (zip64) but there is no zip64 extra field`);
  const v = view(data);
  let p = 0;
  const take = (bytes: 8 | 4, what: string): number => {
    if (p + bytes > data.byteLength) fail('corrupt', `${label}: zip64 extra field of ${data.byteLength} bytes has no room for the ${what}`);
    const n = bytes === 8 ? readU64(v, p, `${label}: zip64 ${what}`, fail) : v.getUint32(p, true);
    p += bytes;
    return n;
  };
  const out = { ...fields };
  if (wanted.size) out.size = take(8, 'size');
  if (wanted.compressedSize) out.compressedSize = take(8, 'compressed size');
  if (wanted.localHeaderOffset) out.localHeaderOffset = take(8, 'local header offset');
  if (wanted.diskStart) out.diskStart = take(4, 'disk number');
  return out;
}

/**
 * The data of the extra field `id` in an extra block (a run of id, 2-byte length, data).
 * A malformed tail is ignored unless it is the field asked for: some writers pad extras.
 */
function findExtraField(extra: Uint8Array, id: number, label: string, fail: Fail): Uint8Array | undefined {
  const v = view(extra);
  for (let p = 0; p + 4 <= extra.byteLength; ) {
    const fieldId = v.getUint16(p, true);
    const length = v.getUint16(p + 2, true);
    const end = p + 4 + length;
    if (end > extra.byteLength) {
      if (fieldId === id) fail('corrupt', `${label}: extra field 0x${id.toString(16).padStart(4, '0')} of ${length} bytes runs past the extra data`);
      return undefined;
    }
    if (fieldId === id) return extra.subarray(p + 4, end);
    p = end;
  }
  return undefined;
}

function parseCentralDirectory(cd: Uint8Array, total: number, cdOffset: number, fail: Fail): ZipEntry[] {
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
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
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
    const extraStart = p + CENTRAL_HEADER_SIZE + nameLen;
    const { size, compressedSize, localHeaderOffset, diskStart } = widenWithZip64(
      {
        compressedSize: v.getUint32(p + 20, true),
        size: v.getUint32(p + 24, true),
        diskStart: v.getUint16(p + 34, true),
        localHeaderOffset: v.getUint32(p + 42, true),
      },
      cd.subarray(extraStart, extraStart + extraLen),
      label,
      fail,
    );
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

/** Options of a {@link ZipWriter}. */
export interface ZipWriterOptions {
  /**
   * Data alignment in bytes (torch: 64, the default), reached by padding the local
   * header's "FB" extra field.
   */
  align?: number;
  /**
   * Write every entry as if the archive were over 4 GiB: zip64 extra fields with sizes and
   * offset, saturated 32-bit fields, 64-bit data descriptors and a saturated classic end
   * record. Readers then must take everything from the zip64 records, so tests exercise
   * those paths with a small file. Default false: zip64 fields only where needed.
   */
  forceZip64?: boolean;
}

/** Which values of an entry live in its zip64 extra field. */
interface Zip64Use {
  /** Size and compressed size (both, as miniz writes them). */
  sizes: boolean;
  /** Local header offset. */
  offset: boolean;
}

interface Written {
  name: Buffer;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
  zip64: Zip64Use;
}

/**
 * Writes a zip archive in PyTorch's layout to a sink, entry by entry, so big tensors go
 * straight to disk. Names are written as given (torch puts everything under one
 * `<archive>/` folder; see torchArchive.ts). Archives of any size: zip64 fields appear
 * where a size or offset reaches 4 GiB, exactly where torch's miniz writes them.
 */
export class ZipWriter {
  private position = 0;
  private readonly written: Written[] = [];
  private readonly names = new Set<string>();
  private finished = false;
  private readonly align: number;
  private readonly forceZip64: boolean;

  /** @param sink where the bytes go */
  constructor(
    private readonly sink: ByteSink,
    opts: ZipWriterOptions = {},
  ) {
    this.align = opts.align ?? 64;
    this.forceZip64 = opts.forceZip64 ?? false;
    if (!Number.isInteger(this.align) || this.align < 1 || this.align > 0x8000) throw new RangeError(`zip alignment must be an integer in 1..32768, got ${this.align}`);
  }

  /** Appends one entry. `data` may be given in chunks (they are written in order). */
  add(name: string, data: Uint8Array | readonly Uint8Array[], opts: ZipAddOptions = {}): void {
    if (this.finished) throw new Error('ZipWriter: add() after finish()');
    if (this.names.has(name)) throw new Error(`ZipWriter: duplicate entry name ${JSON.stringify(name)}`);
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
    // 0xFFFFFFFF itself is the "see zip64" marker, so zip64 starts at it (as in miniz).
    // miniz tests only the uncompressed size; for stored entries (all torch writes) the
    // two are equal, and testing both keeps a deflated entry that grew correct.
    const zip64: Zip64Use = {
      sizes: this.forceZip64 || size >= U32_MAX || compressedSize >= U32_MAX,
      offset: this.forceZip64 || offset >= U32_MAX,
    };
    // miniz writes the local zip64 field before it knows the compressed size, so that one
    // is 0 there; the real sizes follow in the data descriptor and the central directory.
    const zip64Extra = zip64ExtraField(zip64, size, 0, offset);

    // torch (caffe2 getPadding): data must start at a multiple of the alignment; the
    // padding is an extra field with id "FB", its 2-byte size, then that many 'Z' bytes.
    // It follows the zip64 field, whose length torch counts in.
    const unpadded = offset + LOCAL_HEADER_SIZE + nameBytes.byteLength + zip64Extra.byteLength + 4;
    const padding = (this.align - (unpadded % this.align)) % this.align;
    const fb = Buffer.alloc(4 + padding, 'Z'.charCodeAt(0));
    fb.write('FB', 0, 'latin1');
    fb.writeUInt16LE(padding, 2);

    const header = Buffer.alloc(LOCAL_HEADER_SIZE);
    header.writeUInt32LE(SIG_LOCAL, 0);
    header.writeUInt16LE(0, 4); // version needed: torch writes 0
    header.writeUInt16LE(FLAG_DESCRIPTOR | FLAG_UTF8, 6);
    header.writeUInt16LE(method, 8);
    // time, date, crc and sizes stay 0: with flag bit 3 they live in the data descriptor
    // (miniz leaves them 0 rather than 0xFFFFFFFF in zip64 entries too).
    header.writeUInt16LE(nameBytes.byteLength, 26);
    header.writeUInt16LE(zip64Extra.byteLength + fb.byteLength, 28);
    this.emit(header);
    this.emit(nameBytes);
    this.emit(zip64Extra);
    this.emit(fb);
    for (const c of chunks) this.emit(c);
    this.emit(dataDescriptor(crc, compressedSize, size, zip64.sizes || zip64.offset));

    this.names.add(name);
    this.written.push({ name: nameBytes, method, crc, compressedSize, size, offset, zip64 });
  }

  /** Writes the central directory and end records. @returns the archive's total size */
  finish(): number {
    if (this.finished) throw new Error('ZipWriter: finish() called twice');
    this.finished = true;
    const cdOffset = this.position;
    for (const w of this.written) {
      const extra = zip64ExtraField(w.zip64, w.size, w.compressedSize, w.offset);
      const h = Buffer.alloc(CENTRAL_HEADER_SIZE);
      h.writeUInt32LE(SIG_CENTRAL, 0);
      // version made by / needed: 0, as torch writes; time and date 0 too.
      h.writeUInt16LE(FLAG_DESCRIPTOR | FLAG_UTF8, 8);
      h.writeUInt16LE(w.method, 10);
      h.writeUInt32LE(w.crc, 16);
      h.writeUInt32LE(w.zip64.sizes ? U32_MAX : w.compressedSize, 20);
      h.writeUInt32LE(w.zip64.sizes ? U32_MAX : w.size, 24);
      h.writeUInt16LE(w.name.byteLength, 28);
      h.writeUInt16LE(extra.byteLength, 30);
      h.writeUInt32LE(w.zip64.offset ? U32_MAX : w.offset, 42);
      this.emit(h);
      this.emit(w.name);
      this.emit(extra);
    }
    const cdSize = this.position - cdOffset;
    const zip64Offset = this.position;
    const n = this.written.length;

    // torch's miniz runs with MZ_ZIP_FLAG_WRITE_ZIP64, so it always writes a zip64 end
    // record and locator, even for small files; readers ignore them when not needed.
    const z = Buffer.alloc(ZIP64_EOCD_SIZE + ZIP64_LOCATOR_SIZE);
    z.writeUInt32LE(SIG_ZIP64_EOCD, 0);
    z.writeBigUInt64LE(BigInt(ZIP64_EOCD_BODY_SIZE), 4);
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

    // Classic fields saturate (0xFFFF / 0xFFFFFFFF: "see the zip64 end record") when the
    // values do not fit, or always when forced.
    const force = this.forceZip64;
    const e = Buffer.alloc(EOCD_SIZE);
    e.writeUInt32LE(SIG_EOCD, 0);
    e.writeUInt16LE(force ? U16_MAX : Math.min(n, U16_MAX), 8);
    e.writeUInt16LE(force ? U16_MAX : Math.min(n, U16_MAX), 10);
    e.writeUInt32LE(force ? U32_MAX : Math.min(cdSize, U32_MAX), 12);
    e.writeUInt32LE(force ? U32_MAX : Math.min(cdOffset, U32_MAX), 16);
    this.emit(e);
    return this.position;
  }

  private emit(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.sink.write(bytes);
    this.position += bytes.byteLength;
  }
}

/**
 * The zip64 extended information extra field of an entry: the values `use` selects, in
 * the spec's order (size, compressed size, local header offset), 8 bytes each; empty when
 * none is selected.
 */
function zip64ExtraField(use: Zip64Use, size: number, compressedSize: number, offset: number): Buffer {
  const values = [...(use.sizes ? [size, compressedSize] : []), ...(use.offset ? [offset] : [])];
  if (values.length === 0) return Buffer.alloc(0);
  const field = Buffer.alloc(4 + 8 * values.length);
  field.writeUInt16LE(ZIP64_EXTRA_ID, 0);
  field.writeUInt16LE(8 * values.length, 2);
  values.forEach((value, i) => field.writeBigUInt64LE(BigInt(value), 4 + 8 * i));
  return field;
}

/** The data descriptor after an entry's data; 64-bit sizes when the entry has a zip64 field. */
function dataDescriptor(crc: number, compressedSize: number, size: number, zip64: boolean): Buffer {
  const d = Buffer.alloc(zip64 ? DESCRIPTOR64_SIZE : DESCRIPTOR_SIZE);
  d.writeUInt32LE(SIG_DESCRIPTOR, 0);
  d.writeUInt32LE(crc, 4);
  if (zip64) {
    d.writeBigUInt64LE(BigInt(compressedSize), 8);
    d.writeBigUInt64LE(BigInt(size), 16);
  } else {
    d.writeUInt32LE(compressedSize, 8);
    d.writeUInt32LE(size, 12);
  }
  return d;
}

/** A whole archive in memory (same layout as {@link ZipWriter}). */
export function encodeZip(entries: Iterable<readonly [string, Uint8Array]>, opts: ZipAddOptions & ZipWriterOptions = {}): Buffer {
  const sink = new MemorySink();
  const w = new ZipWriter(sink, opts);
  for (const [name, data] of entries) w.add(name, data, opts);
  w.finish();
  return sink.bytes();
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

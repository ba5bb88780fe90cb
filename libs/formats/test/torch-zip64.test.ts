// zip64, read and written: the records a params.pt over 4 GiB needs (a 65B model's lens is
// ~21 GB in f32). Small files reach every zip64 path through the writer's forceZip64
// option and through hand-built archives (zip64 extra fields holding only the saturated
// values, in the spec's order; broken end records); Python's zipfile checks both ways
// (it reads what we write, we read what it writes); and two real archives over 4 GiB are
// written as sparse files (the zero tensors become holes, so they cost neither disk nor
// memory) and read back by us, by Python's zipfile and, with torch >= 2.1, by torch.load
// with mmap=True.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  crc32, encodeZip, FormatError, TorchStateDictFile, ZipReader, ZipWriter, writeFileAtomic, writeTorchStateDict,
  type ByteSink, type TorchTensorBytes,
} from '../src/index.js';
import { expectError } from './expectFormatError.js';

const root = mkdtempSync(join(tmpdir(), 'io-zip64-'));
after(() => rmSync(root, { recursive: true, force: true }));

const U32_MAX = 0xffffffff;
const FOUR_GIB = 2 ** 32;

/** Deterministic bytes; Python's scripts below build the same with `payload(i, n)`. */
function payload(i: number, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, j) => (i * 31 + j * 7) & 0xff));
}

const entries: [string, Uint8Array][] = [
  ['archive/data.pkl', payload(1, 300)],
  ['archive/data/0', payload(2, 5000)],
  ['archive/empty', new Uint8Array(0)],
  ['archive/ünïcode', payload(3, 17)],
];

function eocdOffset(zip: Buffer): number {
  return zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
}

/** Reads every entry of `zip` and checks it against `expected`. */
function assertEntries(zip: ZipReader, expected: readonly (readonly [string, Uint8Array])[]): void {
  assert.deepEqual(zip.names(), expected.map(([n]) => n));
  for (const [name, data] of expected) {
    assert.equal(zip.entry(name)!.size, data.byteLength, `${name} size`);
    assert.deepEqual(Buffer.from(zip.read(name)), Buffer.from(data), name);
  }
}

/** One central directory header, raw: what a writer actually put there. */
interface RawCentral {
  name: string;
  compressedSize: number;
  size: number;
  offset: number;
  /** Ids of the extra fields, in order. */
  extraIds: number[];
  /** The zip64 extra field's length in bytes, or null without one. */
  zip64Bytes: number | null;
  /** Its 8-byte values. */
  zip64: bigint[] | null;
}

/**
 * Walks the central directory found through the zip64 end record (or the classic one).
 * `zip` holds the file's bytes from `base` on (the tail of a big file).
 */
function rawCentral(zip: Buffer, base = 0): RawCentral[] {
  const eocd = eocdOffset(zip);
  const hasZip64 = zip.readUInt32LE(eocd - 20) === 0x07064b50;
  const z = hasZip64 ? Number(zip.readBigUInt64LE(eocd - 20 + 8)) - base : -1;
  let p = (hasZip64 ? Number(zip.readBigUInt64LE(z + 48)) : zip.readUInt32LE(eocd + 16)) - base;
  const n = hasZip64 ? Number(zip.readBigUInt64LE(z + 32)) : zip.readUInt16LE(eocd + 10);
  const out: RawCentral[] = [];
  for (let i = 0; i < n; i++) {
    assert.equal(zip.readUInt32LE(p), 0x02014b50);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const extraIds: number[] = [];
    let zip64: bigint[] | null = null;
    let zip64Bytes: number | null = null;
    for (let q = p + 46 + nameLen; q < p + 46 + nameLen + extraLen; ) {
      const id = zip.readUInt16LE(q);
      const len = zip.readUInt16LE(q + 2);
      extraIds.push(id);
      if (id === 1) {
        zip64Bytes = len;
        zip64 = Array.from({ length: Math.floor(len / 8) }, (_, k) => zip.readBigUInt64LE(q + 4 + 8 * k));
      }
      q += 4 + len;
    }
    out.push({
      name: zip.toString('utf8', p + 46, p + 46 + nameLen),
      compressedSize: zip.readUInt32LE(p + 20),
      size: zip.readUInt32LE(p + 24),
      offset: zip.readUInt32LE(p + 42),
      extraIds,
      zip64Bytes,
      zip64,
    });
    p += 46 + nameLen + extraLen + zip.readUInt16LE(p + 32);
  }
  return out;
}

// ---------------------------------------------------------------- forced zip64 records

describe('forced zip64 records on a small archive', () => {
  const forced = encodeZip(entries, { forceZip64: true });

  test('every entry: saturated central fields, a zip64 extra field with sizes and offset, a 64-bit descriptor', () => {
    const reader = ZipReader.fromBytes(forced);
    const central = rawCentral(forced);
    reader.entries.forEach((e, i) => {
      const c = central[i];
      assert.equal(c.name, e.name);
      assert.deepEqual([c.compressedSize, c.size, c.offset], [U32_MAX, U32_MAX, U32_MAX], `${e.name}: central fields saturated`);
      assert.deepEqual(c.zip64, [BigInt(e.size), BigInt(e.compressedSize), BigInt(e.localHeaderOffset)], `${e.name}: central zip64 field`);

      // Local header: zip64 field [size, 0, offset] (miniz writes it before the compressed
      // size is known), then torch's FB padding; data 64-byte aligned counting both.
      const h = e.localHeaderOffset;
      const nameLen = forced.readUInt16LE(h + 26);
      const extraLen = forced.readUInt16LE(h + 28);
      const x = h + 30 + nameLen;
      assert.equal(forced.readUInt16LE(x), 0x0001, `${e.name}: local zip64 field first`);
      assert.equal(forced.readUInt16LE(x + 2), 24);
      assert.deepEqual([forced.readBigUInt64LE(x + 4), forced.readBigUInt64LE(x + 12), forced.readBigUInt64LE(x + 20)], [BigInt(e.size), 0n, BigInt(h)]);
      assert.equal(forced.toString('latin1', x + 28, x + 30), 'FB');
      const data = h + 30 + nameLen + extraLen;
      assert.equal(data % 64, 0, `${e.name}: data aligned`);
      const d = data + e.compressedSize;
      assert.equal(forced.readUInt32LE(d), 0x08074b50);
      assert.equal(forced.readUInt32LE(d + 4), e.crc32);
      assert.deepEqual([forced.readBigUInt64LE(d + 8), forced.readBigUInt64LE(d + 16)], [BigInt(e.compressedSize), BigInt(e.size)], `${e.name}: 64-bit descriptor`);
      assert.equal(forced.readUInt32LE(d + 24), i + 1 < reader.entries.length ? 0x04034b50 : 0x02014b50, 'descriptor is 24 bytes');
    });
  });

  test('the classic end record is saturated: counts and offsets come from the zip64 end record', () => {
    const eocd = eocdOffset(forced);
    assert.deepEqual(
      [forced.readUInt16LE(eocd + 8), forced.readUInt16LE(eocd + 10), forced.readUInt32LE(eocd + 12), forced.readUInt32LE(eocd + 16)],
      [0xffff, 0xffff, U32_MAX, U32_MAX],
    );
  });

  test('reads back exactly: stored and deflated, from memory and from a file', () => {
    for (const compress of [false, true]) {
      const zip = encodeZip(entries, { forceZip64: true, compress });
      assertEntries(ZipReader.fromBytes(zip), entries);
      const path = join(mkdtempSync(join(root, 'f-')), 'a.zip');
      writeFileSync(path, zip);
      const file = ZipReader.open(path);
      try {
        assertEntries(file, entries);
      } finally {
        file.close();
      }
    }
  });

  test('same entries and data as without zip64; only the layout differs', () => {
    const plain = ZipReader.fromBytes(encodeZip(entries));
    const wide = ZipReader.fromBytes(forced);
    assert.deepEqual(
      wide.entries.map(({ name, method, size, compressedSize, crc32: crc }) => ({ name, method, size, compressedSize, crc })),
      plain.entries.map(({ name, method, size, compressedSize, crc32: crc }) => ({ name, method, size, compressedSize, crc })),
    );
  });

  test('every truncation point fails with a clear corrupt error', () => {
    for (let cut = 0; cut < forced.length; cut++) {
      assert.throws(
        () => {
          const zip = ZipReader.fromBytes(forced.subarray(0, cut));
          for (const name of zip.names()) zip.read(name);
        },
        (e: unknown) => e instanceof FormatError && e.kind === 'corrupt',
        `cut at ${cut}`,
      );
    }
  });
});

// ---------------------------------------------------------------- hand-built archives

type Wide = 'size' | 'compressedSize' | 'offset' | 'disk';

interface HandEntry {
  name: string;
  data: Uint8Array;
  /** Central header fields saturated, their values moved to the zip64 extra field in the spec's order. */
  wide?: Wide[];
  /** Disk number stored in the zip64 field when 'disk' is wide (default 0). */
  disk?: number;
  /** Rewrites the central extra block (given the spec-conformant one). */
  extra?: (conformant: Buffer) => Buffer;
}

interface HandEnd {
  /** Write the zip64 end record + locator (default true). */
  zip64Record?: boolean;
  /** Saturate the classic end record's count, size and offset (default false). */
  saturate?: boolean;
}

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number | bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
/** An extra field: id, 2-byte length, data. */
const field = (id: number, data: Buffer): Buffer => Buffer.concat([u16(id), u16(data.length), data]);

/**
 * A stored archive built field by field (no data descriptors, no padding), independent of
 * ZipWriter, so the reader meets zip64 layouts our writer never produces.
 */
function handZip(list: HandEntry[], end: HandEnd = {}): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    pos += b.length;
  };
  const central: Buffer[] = [];
  for (const e of list) {
    const offset = pos;
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    push(local);
    push(name);
    push(Buffer.from(e.data));

    const wide = new Set(e.wide ?? []);
    const values: Buffer[] = [];
    if (wide.has('size')) values.push(u64(e.data.length));
    if (wide.has('compressedSize')) values.push(u64(e.data.length));
    if (wide.has('offset')) values.push(u64(offset));
    if (wide.has('disk')) values.push(u32(e.disk ?? 0));
    const conformant = values.length > 0 ? field(0x0001, Buffer.concat(values)) : Buffer.alloc(0);
    const extra = e.extra ? e.extra(conformant) : conformant;
    const h = Buffer.alloc(46);
    h.writeUInt32LE(0x02014b50, 0);
    h.writeUInt16LE(45, 4);
    h.writeUInt16LE(45, 6);
    h.writeUInt16LE(0x0800, 8);
    h.writeUInt32LE(crc, 16);
    h.writeUInt32LE(wide.has('compressedSize') ? U32_MAX : e.data.length, 20);
    h.writeUInt32LE(wide.has('size') ? U32_MAX : e.data.length, 24);
    h.writeUInt16LE(name.length, 28);
    h.writeUInt16LE(extra.length, 30);
    h.writeUInt16LE(wide.has('disk') ? 0xffff : 0, 34);
    h.writeUInt32LE(wide.has('offset') ? U32_MAX : offset, 42);
    central.push(h, name, extra);
  }
  const cd = Buffer.concat(central);
  const cdOffset = pos;
  push(cd);
  const n = list.length;
  if (end.zip64Record ?? true) {
    const recordPos = pos;
    const r = Buffer.alloc(56);
    r.writeUInt32LE(0x06064b50, 0);
    r.writeBigUInt64LE(44n, 4);
    r.writeUInt16LE(45, 12);
    r.writeUInt16LE(45, 14);
    r.writeBigUInt64LE(BigInt(n), 24);
    r.writeBigUInt64LE(BigInt(n), 32);
    r.writeBigUInt64LE(BigInt(cd.length), 40);
    r.writeBigUInt64LE(BigInt(cdOffset), 48);
    push(r);
    push(Buffer.concat([u32(0x07064b50), u32(0), u64(recordPos), u32(1)]));
  }
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(end.saturate ? 0xffff : n, 8);
  e.writeUInt16LE(end.saturate ? 0xffff : n, 10);
  e.writeUInt32LE(end.saturate ? U32_MAX : cd.length, 12);
  e.writeUInt32LE(end.saturate ? U32_MAX : cdOffset, 16);
  push(e);
  return Buffer.concat(parts);
}

describe('hand-built zip64 extra fields', () => {
  const a = payload(4, 700);
  const b = payload(5, 33);

  test('only the saturated fields appear, in order (size, compressed size, offset, disk)', () => {
    const shapes: Wide[][] = [
      [],
      ['offset'],
      ['size'],
      ['compressedSize'],
      ['size', 'compressedSize'],
      ['compressedSize', 'offset'],
      ['size', 'offset'],
      ['disk'],
      ['offset', 'disk'],
      ['size', 'compressedSize', 'offset', 'disk'],
    ];
    // Every entry has a different offset and size, so a value read from the wrong slot
    // gives a wrong size or offset, which the reader's checks or the data comparison catch.
    const list = shapes.map((wide, i): HandEntry => ({ name: `e${i}-${wide.join('+') || 'none'}`, data: payload(i, 100 + 37 * i), wide }));
    const zip = handZip(list);
    const reader = ZipReader.fromBytes(zip);
    assertEntries(reader, list.map((e) => [e.name, e.data] as const));
    const central = rawCentral(zip);
    list.forEach((e, i) => {
      const wide = e.wide ?? [];
      const bytes = wide.reduce((n, w) => n + (w === 'disk' ? 4 : 8), 0);
      assert.equal(central[i].zip64Bytes, wide.length > 0 ? bytes : null, `${e.name}: zip64 field as built`);
      const offset = reader.entries[i].localHeaderOffset;
      assert.equal(zip.readUInt32LE(offset), 0x04034b50, `${e.name}: offset points at its local header`);
    });
    // From a file too (positional reads).
    const path = join(mkdtempSync(join(root, 'h-')), 'hand.zip');
    writeFileSync(path, zip);
    const file = ZipReader.open(path);
    try {
      assertEntries(file, list.map((e) => [e.name, e.data] as const));
    } finally {
      file.close();
    }
  });

  test('other extra fields around the zip64 field are skipped; bytes after the needed values are ignored', () => {
    const zip = handZip([
      { name: 'around', data: a, wide: ['size', 'compressedSize', 'offset'], extra: (z) => Buffer.concat([field(0x5455, Buffer.from([1, 2, 3, 4, 5])), z, field(0xcafe, Buffer.from([9, 9, 9]))]) },
      { name: 'longer', data: b, wide: ['offset'], extra: (z) => field(0x0001, Buffer.concat([z.subarray(4), u64(12345)])) },
    ]);
    assertEntries(ZipReader.fromBytes(zip), [['around', a], ['longer', b]]);
  });

  test('saturated fields without a zip64 extra field are corrupt, naming the entry', () => {
    const zip = handZip([{ name: 'a', data: a }, { name: 'lost', data: b, wide: ['offset'], extra: () => field(0x5455, Buffer.from([1])) }]);
    expectError(() => ZipReader.fromBytes(zip), 'corrupt', /entry 1 .*"lost": sizes, offset or disk are saturated \(zip64\) but there is no zip64 extra field/);
  });

  test('a zip64 extra field too short for the saturated fields is corrupt', () => {
    const zip = handZip([{ name: 'short', data: a, wide: ['size', 'compressedSize', 'offset'], extra: (z) => field(0x0001, z.subarray(4, 4 + 16)) }]);
    expectError(() => ZipReader.fromBytes(zip), 'corrupt', /"short": zip64 extra field of 16 bytes has no room for the local header offset/);
  });

  test('a zip64 extra field running past the extra data is corrupt', () => {
    const zip = handZip([{ name: 'over', data: a, wide: ['offset'], extra: (z) => Buffer.concat([u16(1), u16(40), z.subarray(4)]) }]);
    expectError(() => ZipReader.fromBytes(zip), 'corrupt', /"over": extra field 0x0001 of 40 bytes runs past the extra data/);
  });

  test('a zip64 value beyond 2^53 is corrupt, not a wrong number', () => {
    const zip = handZip([{ name: 'huge', data: a, wide: ['offset'], extra: () => field(0x0001, u64(2n ** 60n)) }]);
    expectError(() => ZipReader.fromBytes(zip), 'corrupt', /"huge": zip64 local header offset is 1152921504606846976, beyond any real file/);
  });

  test('a zip64 offset past the central directory is corrupt', () => {
    const zip = handZip([{ name: 'far', data: a, wide: ['offset'], extra: () => field(0x0001, u64(FOUR_GIB + 10)) }]);
    expectError(() => ZipReader.fromBytes(zip), 'corrupt', /"far": local header offset 4294967306 is not before the central directory/);
  });

  test('a zip64 size larger than the data is corrupt when read', () => {
    const zip = handZip([{ name: 'big', data: a, wide: ['size', 'compressedSize'], extra: () => field(0x0001, Buffer.concat([u64(1e6), u64(1e6)])) }]);
    const reader = ZipReader.fromBytes(zip);
    assert.equal(reader.entry('big')!.size, 1e6);
    expectError(() => reader.read('big'), 'corrupt', /"big": data \(1000000 bytes at \d+\) runs into the central directory/);
  });

  test('a zip64 disk number other than 0 is a multi-disk archive', () => {
    const zip = handZip([{ name: 'd', data: a, wide: ['disk'], disk: 3 }]);
    expectError(() => ZipReader.fromBytes(zip), 'unsupported', /"d": multi-disk archives are not supported/);
  });

  test('encryption and unknown methods are still refused by name in zip64 entries', () => {
    const zip = handZip([{ name: 'x', data: a, wide: ['size', 'compressedSize', 'offset'] }]);
    const cd = rawCentralOffset(zip);
    const encrypted = Buffer.from(zip);
    encrypted.writeUInt16LE(0x0801, cd + 8);
    expectError(() => ZipReader.fromBytes(encrypted), 'unsupported', /"x": encrypted entries are not supported/);
    const lzma = Buffer.from(zip);
    lzma.writeUInt16LE(14, cd + 10);
    expectError(() => ZipReader.fromBytes(lzma), 'unsupported', /"x": compression method 14 \(lzma\) is not supported/);
  });
});

/** The central directory's offset, from the zip64 end record. */
function rawCentralOffset(zip: Buffer): number {
  const eocd = eocdOffset(zip);
  return Number(zip.readBigUInt64LE(Number(zip.readBigUInt64LE(eocd - 20 + 8)) + 48));
}

describe('zip64 end records', () => {
  const list: HandEntry[] = [
    { name: 'one', data: payload(6, 90) },
    { name: 'two', data: payload(7, 200), wide: ['offset'] },
  ];
  const expected = list.map((e) => [e.name, e.data] as const);
  const good = handZip(list, { saturate: true });
  const locator = eocdOffset(good) - 20;
  const record = locator - 56;

  test('a saturated classic end record is read through the zip64 end record', () => {
    assertEntries(ZipReader.fromBytes(good), expected);
  });

  test('an unsaturated classic end record must agree with the zip64 one', () => {
    assertEntries(ZipReader.fromBytes(handZip(list)), expected);
    const zip = handZip(list);
    zip.writeUInt16LE(1, eocdOffset(zip) + 10);
    expectError(() => ZipReader.fromBytes(zip), 'corrupt', /end record says entry count 1, the zip64 end record 2/);
    const offset = handZip(list);
    offset.writeUInt32LE(5, eocdOffset(offset) + 16);
    expectError(() => ZipReader.fromBytes(offset), 'corrupt', /end record says central directory offset 5, the zip64 end record \d+/);
  });

  test('saturated classic fields with no zip64 end record are corrupt', () => {
    expectError(() => ZipReader.fromBytes(handZip(list, { zip64Record: false, saturate: true })), 'corrupt', /zip64 markers .* no zip64 end record locator/);
  });

  test('a locator pointing anywhere but a zip64 end record is corrupt', () => {
    const moved = Buffer.from(good);
    moved.writeBigUInt64LE(BigInt(record - 8), locator + 8);
    expectError(() => ZipReader.fromBytes(moved), 'corrupt', /no zip64 end record at byte \d+, where the zip64 locator points/);
    const past = Buffer.from(good);
    past.writeBigUInt64LE(BigInt(locator), locator + 8);
    expectError(() => ZipReader.fromBytes(past), 'corrupt', /zip64 end record \(56 bytes at \d+\) does not fit before its locator/);
    const wild = Buffer.from(good);
    wild.writeBigUInt64LE(2n ** 63n, locator + 8);
    expectError(() => ZipReader.fromBytes(wild), 'corrupt', /zip64 end record offset is 9223372036854775808, beyond any real file/);
  });

  test('a zip64 end record whose size does not reach its locator is corrupt', () => {
    const zip = Buffer.from(good);
    zip.writeBigUInt64LE(60n, record + 4);
    expectError(() => ZipReader.fromBytes(zip), 'corrupt', /declares 60 bytes after its size field, but 44 lie before the locator/);
  });

  test('zip64 directory bounds are checked like classic ones', () => {
    const zip = Buffer.from(good);
    zip.writeBigUInt64LE(BigInt(record), record + 48); // directory "starts" at the record
    expectError(() => ZipReader.fromBytes(zip), 'corrupt', /central directory \(\d+ bytes at \d+\) runs past the end records/);
    const many = Buffer.from(good);
    many.writeBigUInt64LE(2n ** 40n, record + 24);
    many.writeBigUInt64LE(2n ** 40n, record + 32);
    expectError(() => ZipReader.fromBytes(many), 'too_large', /1099511627776 entries, more than the limit of 65535/);
    const big = Buffer.from(good);
    big.writeBigUInt64LE(2n ** 40n, record + 40);
    expectError(() => ZipReader.fromBytes(big), 'too_large', /central directory of 1099511627776 bytes exceeds the limit/);
  });

  test('multi-disk zip64 archives are refused', () => {
    const disks = Buffer.from(good);
    disks.writeUInt32LE(2, locator + 16);
    expectError(() => ZipReader.fromBytes(disks), 'unsupported', /multi-disk/);
    const disk = Buffer.from(good);
    disk.writeUInt32LE(1, record + 16);
    expectError(() => ZipReader.fromBytes(disk), 'unsupported', /multi-disk/);
    const onDisk = Buffer.from(good);
    onDisk.writeBigUInt64LE(1n, record + 24);
    expectError(() => ZipReader.fromBytes(onDisk), 'unsupported', /multi-disk/);
  });

  test('central directory encryption (a version 2 zip64 end record) is refused by name', () => {
    const zip = Buffer.from(good);
    zip.writeUInt16LE(62, record + 14);
    expectError(() => ZipReader.fromBytes(zip), 'unsupported', /central directory encryption/);
  });
});

// ---------------------------------------------------------------- Python's zipfile

const PYTHON3 = process.env.TUNED_LENS_PYTHON3 ?? 'python3';
const probe = spawnSync(PYTHON3, ['-c', 'import zipfile'], { encoding: 'utf8' });
const noPython = probe.status === 0 ? false : `${PYTHON3} is not runnable (${probe.error?.message ?? probe.stderr}); set TUNED_LENS_PYTHON3`;
if (noPython) console.log(`# skipping Python zipfile checks: ${noPython}`);

/** Runs a Python snippet with args; returns its stdout parsed as JSON. */
function python(script: string, args: string[], python = PYTHON3): unknown {
  const run = spawnSync(python, ['-c', script, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  if (run.status !== 0) assert.fail(`python exited with ${run.status ?? run.signal}: ${run.stderr.slice(-3000)}`);
  return JSON.parse(run.stdout);
}

/**
 * Reads every entry with zipfile (CRC-checked as it streams), reporting sizes, offsets and
 * hashes. Entries over argv[2] bytes are not streamed (zipfile needs ~30 s for 4 GiB): they
 * hold zeros in these tests, so their CRC is checked against zeros' instead.
 */
const PY_READ = String.raw`
import hashlib, json, sys, zipfile, zlib
limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
def zeros_crc(n):
    z, crc = bytes(64 << 20), 0
    while n:
        k = min(n, len(z))
        crc = zlib.crc32(memoryview(z)[:k], crc)
        n -= k
    return crc
out = []
with zipfile.ZipFile(sys.argv[1]) as zf:
    for info in zf.infolist():
        if limit is not None and info.file_size > limit:
            out.append({"name": info.filename, "size": info.file_size, "compress_size": info.compress_size,
                        "offset": info.header_offset, "read": None, "sha256": None, "crc_is_zeros": zeros_crc(info.file_size) == info.CRC})
            continue
        h, n = hashlib.sha256(), 0
        with zf.open(info) as f:  # raises BadZipFile on a CRC mismatch at the end
            while True:
                chunk = f.read(64 << 20)
                if not chunk:
                    break
                n += len(chunk)
                if n <= (1 << 20):
                    h.update(chunk)
        out.append({"name": info.filename, "size": info.file_size, "compress_size": info.compress_size,
                    "offset": info.header_offset, "read": n, "sha256": h.hexdigest() if n <= (1 << 20) else None})
print(json.dumps(out))
`;

interface PyEntry {
  name: string;
  size: number;
  compress_size: number;
  offset: number;
  /** Bytes streamed, or null when not streamed. */
  read: number | null;
  sha256: string | null;
  /** For entries too big to stream: whether the CRC is that of zeros. */
  crc_is_zeros?: boolean;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Python builds the same entries with payload(); it writes two zip64 flavours. */
const PY_WRITE = String.raw`
import json, sys, zipfile
work = sys.argv[1]
def payload(i, n):
    return bytes((i * 31 + j * 7) & 0xFF for j in range(n))
entries = [("a/first", payload(1, 300)), ("a/empty", b""), ("a/second", payload(2, 5000)), ("a/third", payload(3, 17))]
# force_zip64: zip64 extra fields in the local headers (sizes 0xFFFFFFFF there); the
# central directory and end record stay classic, as the values are small.
with zipfile.ZipFile(work + "/forced.zip", "w") as zf:
    for name, data in entries:
        with zf.open(name, "w", force_zip64=True) as f:
            f.write(data)
# With the zip64 threshold lowered (a module constant), zipfile writes what it writes past
# 4 GiB: central zip64 extra fields holding only the values over the threshold, in order,
# and a zip64 end record.
zipfile.ZIP64_LIMIT = 64
with zipfile.ZipFile(work + "/limit.zip", "w") as zf:
    for name, data in entries:
        zf.writestr(name, data)
print(json.dumps({"version": sys.version}))
`;

describe("Python's zipfile", { skip: noPython }, () => {
  const pyEntries: [string, Uint8Array][] = [['a/first', payload(1, 300)], ['a/empty', new Uint8Array(0)], ['a/second', payload(2, 5000)], ['a/third', payload(3, 17)]];

  test('reads our forced zip64 archives (stored and deflated), every CRC checked', () => {
    const dir = mkdtempSync(join(root, 'py-'));
    for (const compress of [false, true]) {
      const path = join(dir, `ours-${compress}.zip`);
      writeFileSync(path, encodeZip(entries, { forceZip64: true, compress }));
      const got = python(PY_READ, [path]) as PyEntry[];
      const ours = ZipReader.open(path);
      try {
        assert.deepEqual(
          got.map((e) => [e.name, e.size, e.compress_size, e.offset, e.read, e.sha256]),
          ours.entries.map((e) => [e.name, e.size, e.compressedSize, e.localHeaderOffset, e.size, sha256(entries.find(([n]) => n === e.name)![1])]),
        );
      } finally {
        ours.close();
      }
    }
  });

  test('we read what it writes with force_zip64=True and past its zip64 threshold', () => {
    const dir = mkdtempSync(join(root, 'py-'));
    python(PY_WRITE, [dir]);
    const forced = readFileSync(join(dir, 'forced.zip'));
    const limit = readFileSync(join(dir, 'limit.zip'));

    // What makes these archives worth reading: local zip64 fields in one, central zip64
    // fields with only the saturated values plus a zip64 end record in the other.
    const local = ZipReader.fromBytes(forced).entries.map((e) => forced.readUInt16LE(e.localHeaderOffset + 30 + forced.readUInt16LE(e.localHeaderOffset + 26)));
    assert.deepEqual(local, [1, 1, 1, 1], 'forced.zip: every local header starts its extra data with a zip64 field');
    assert.deepEqual(
      rawCentral(limit).map((c) => [c.name, c.zip64Bytes, c.size === U32_MAX, c.offset === U32_MAX]),
      [
        ['a/first', 16, true, false], // sizes only (it starts at 0)
        ['a/empty', 8, false, true], // offset only
        ['a/second', 24, true, true], // sizes and offset
        ['a/third', 8, false, true], // offset only (17 bytes)
      ],
      'limit.zip: zip64 fields as intended',
    );
    assert.equal(limit.readUInt32LE(eocdOffset(limit) - 20), 0x07064b50, 'limit.zip: zip64 locator');

    for (const [file, bytes] of [['forced.zip', forced], ['limit.zip', limit]] as const) {
      assertEntries(ZipReader.fromBytes(bytes, file), pyEntries);
      const reader = ZipReader.open(join(dir, file));
      try {
        assertEntries(reader, pyEntries);
      } finally {
        reader.close();
      }
    }
  });
});

// ---------------------------------------------------------------- over 4 GiB, for real

/** 256 MiB of zeros: a [8192, 8192] F32 tensor, a 65B model's translator weight. */
const ZEROS = new Uint8Array(256 << 20);

/**
 * Writes at the running position with positional writes, except views of the shared ZEROS
 * buffer, which it skips: the file gets a hole there and reads back as zeros, so an 8 GB
 * archive takes a few MB of disk and no more memory than one tensor.
 */
class SparseFileSink implements ByteSink {
  private position = 0;
  constructor(private readonly fd: number) {}

  write(bytes: Uint8Array): void {
    if (bytes.buffer !== ZEROS.buffer) {
      for (let done = 0; done < bytes.byteLength; ) done += writeSync(this.fd, bytes, done, bytes.byteLength - done, this.position + done);
    }
    this.position += bytes.byteLength;
  }
}

function writeSparse(path: string, fill: (sink: ByteSink) => void): void {
  const fd = openSync(path, 'w');
  try {
    fill(new SparseFileSink(fd));
  } finally {
    closeSync(fd);
  }
}

/** The last `length` bytes of a file, and where they start. */
function readTail(path: string, length: number): { bytes: Buffer; base: number } {
  const size = statSync(path).size;
  return { bytes: readAt(path, size - length, length), base: size - length };
}

function readAt(path: string, position: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(length);
    for (let done = 0; done < length; ) {
      const n = readSync(fd, out, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Whether holes in files cost no disk here (else the big archives would really be written). */
function sparseFilesWork(): boolean {
  const path = join(mkdtempSync(join(root, 'sparse-')), 'probe');
  writeSparse(path, (sink) => {
    sink.write(ZEROS);
    sink.write(Buffer.from('end'));
  });
  const { blocks, size } = statSync(path);
  rmSync(path);
  return size === ZEROS.length + 3 && blocks * 512 < ZEROS.length / 4;
}

const bigSkip = sparseFilesWork() ? false : 'this file system does not keep sparse files sparse; the 4.5 GB archives would really be written';
if (bigSkip) console.log(`# skipping the over-4-GiB archives: ${bigSkip}`);

const BIG_CHUNKS = 17; // 17 x 256 MiB = 4.25 GiB
const BIG_BYTES = BIG_CHUNKS * ZEROS.length;

describe('archives over 4 GiB (sparse files)', { skip: bigSkip }, () => {
  const dir = mkdtempSync(join(root, 'big-'));

  test('entries of 0xFFFFFFFF bytes and over 4 GiB, entries past 4 GiB: zip64 fields exactly where miniz puts them; read back by us and by zipfile', { timeout: 180_000 }, () => {
    const path = join(dir, 'big.zip');
    const small = payload(8, 1000);
    // 0xFFFFFFFF itself is the "see zip64" marker, so an entry of exactly that size needs zip64.
    const edge = [...new Array<Uint8Array>(15).fill(ZEROS), ZEROS.subarray(1)];
    writeSparse(path, (sink) => {
      const w = new ZipWriter(sink);
      w.add('archive/edge', edge);
      w.add('archive/big', new Array<Uint8Array>(BIG_CHUNKS).fill(ZEROS));
      w.add('archive/after', small);
      w.add('archive/empty', new Uint8Array(0));
      w.finish();
    });

    const zip = ZipReader.open(path);
    let bigOffset: number;
    try {
      const [edgeEntry, big, after, empty] = zip.entries;
      assert.deepEqual([edgeEntry.name, edgeEntry.size, edgeEntry.localHeaderOffset], ['archive/edge', U32_MAX, 0]);
      assert.deepEqual([big.name, big.size, big.compressedSize], ['archive/big', BIG_BYTES, BIG_BYTES]);
      assert.ok(big.localHeaderOffset > U32_MAX && after.localHeaderOffset > big.localHeaderOffset + BIG_BYTES, 'past 4 GiB');
      assert.ok(empty.localHeaderOffset > after.localHeaderOffset);
      bigOffset = big.localHeaderOffset;
      assert.deepEqual(Buffer.from(zip.read('archive/after')), small);
      assert.equal(zip.read('archive/empty').byteLength, 0);
      // One Buffer cannot hold it in Node 20 (MAX_LENGTH is 4 GiB): refused, not a RangeError.
      if (BIG_BYTES > bufferConstants.MAX_LENGTH) expectError(() => zip.read('archive/big'), 'too_large', /"archive\/big" is 4563402752 bytes, more than the limit/);
    } finally {
      zip.close();
    }

    // Local header of the first entry: zip64 field [size, 0] (no offset: it starts at 0),
    // then FB; its data descriptor has 64-bit sizes.
    const head = readAt(path, 0, 128);
    const x = 30 + 'archive/edge'.length;
    assert.deepEqual([head.readUInt32LE(18), head.readUInt32LE(22)], [0, 0], 'local sizes stay 0 (data descriptor)');
    assert.deepEqual([head.readUInt16LE(x), head.readUInt16LE(x + 2), head.readBigUInt64LE(x + 4), head.readBigUInt64LE(x + 12)], [1, 16, BigInt(U32_MAX), 0n]);
    assert.equal(head.toString('latin1', x + 20, x + 22), 'FB');
    const dataStart = x + 20 + 4 + head.readUInt16LE(x + 22);
    assert.equal(dataStart % 64, 0);
    const d = readAt(path, dataStart + U32_MAX, 24 + 4);
    assert.equal(d.readUInt32LE(0), 0x08074b50);
    assert.deepEqual([d.readBigUInt64LE(8), d.readBigUInt64LE(16)], [BigInt(U32_MAX), BigInt(U32_MAX)]);
    assert.equal(d.readUInt32LE(24), 0x04034b50, 'the next local header follows the 24-byte descriptor');
    assert.equal(dataStart + U32_MAX + 24, bigOffset);
    // The second one, past 4 GiB: zip64 field [size, 0, offset], then FB, data aligned.
    const head2 = readAt(path, bigOffset, 128);
    const x2 = 30 + 'archive/big'.length;
    assert.deepEqual([head2.readUInt16LE(x2), head2.readUInt16LE(x2 + 2), head2.readBigUInt64LE(x2 + 4), head2.readBigUInt64LE(x2 + 12), head2.readBigUInt64LE(x2 + 20)], [1, 24, BigInt(BIG_BYTES), 0n, BigInt(bigOffset)]);
    assert.equal(head2.toString('latin1', x2 + 28, x2 + 30), 'FB');
    assert.equal((bigOffset + x2 + 28 + 4 + head2.readUInt16LE(x2 + 30)) % 64, 0, 'data aligned past 4 GiB');

    // Central directory: only the values that need it are in zip64 fields.
    const tail = readTail(path, 4096);
    assert.deepEqual(
      rawCentral(tail.bytes, tail.base).map((c) => [c.name, c.size === U32_MAX, c.offset === U32_MAX, c.zip64Bytes]),
      [
        ['archive/edge', true, false, 16], // sizes only
        ['archive/big', true, true, 24], // sizes and offset
        ['archive/after', false, true, 8], // offset only
        ['archive/empty', false, true, 8],
      ],
    );
    const eocd = eocdOffset(tail.bytes);
    assert.deepEqual([tail.bytes.readUInt16LE(eocd + 10), tail.bytes.readUInt32LE(eocd + 16)], [4, U32_MAX], 'classic end record: real count, saturated directory offset');

    if (!noPython) {
      const got = python(PY_READ, [path, String(1 << 20)]) as PyEntry[];
      assert.deepEqual([got[0].crc_is_zeros, got[1].crc_is_zeros], [true, true], 'CRCs of the 4 GiB entries, computed independently by Python');
      assert.deepEqual(
        got.map((e) => [e.name, e.size, e.read, e.offset > FOUR_GIB, e.sha256]),
        [
          ['archive/edge', U32_MAX, null, false, null],
          ['archive/big', BIG_BYTES, null, true, null],
          ['archive/after', small.length, small.length, true, sha256(small)],
          ['archive/empty', 0, 0, true, sha256(new Uint8Array(0))],
        ],
      );
    }
  });

  test('a params.pt past 4 GiB (17 [8192, 8192] F32 tensors + a small one): we read it, torch.load(mmap=True) loads it', { timeout: 180_000 }, (t) => {
    const path = join(dir, 'params.pt');
    const SMALL = 9; // storage key "9" sorts last ("0", "1", "10" ... "17", "2" ... "9"): past 4 GiB
    const smallValues = Float32Array.from({ length: 15 }, (_, i) => i * 0.5 - 3);
    const smallBytes = new Uint8Array(smallValues.buffer);
    const tensors: [string, TorchTensorBytes][] = Array.from({ length: 18 }, (_, i) => [
      `${i}.weight`,
      i === SMALL ? { dtype: 'F32', shape: [3, 5], bytes: smallBytes } : { dtype: 'F32', shape: [8192, 8192], bytes: ZEROS },
    ]);
    writeSparse(path, (sink) => writeTorchStateDict(sink, tensors));
    assert.ok(statSync(path).size > 17 * ZEROS.length);

    const sd = TorchStateDictFile.open(path);
    try {
      assert.deepEqual([...sd.tensors.keys()], tensors.map(([k]) => k));
      const small = sd.tensors.get(`${SMALL}.weight`)!;
      assert.deepEqual(Buffer.from(sd.storageBytes(small.storage)), Buffer.from(smallBytes));
    } finally {
      sd.close();
    }
    const zip = ZipReader.open(path);
    try {
      assert.ok(zip.entry(`archive/data/${SMALL}`)!.localHeaderOffset > FOUR_GIB, 'the small storage lies past 4 GiB');
    } finally {
      zip.close();
    }

    const torch = torchWithMmap(path, `${SMALL}.weight`, '17.weight');
    if ('skip' in torch) {
      console.log(`# torch.load check of the 4.5 GB params.pt skipped: ${torch.skip}`);
      t.skip(torch.skip);
      return;
    }
    assert.deepEqual(torch.report.keys, tensors.map(([k]) => k));
    assert.deepEqual(torch.report.small, Buffer.from(smallBytes).toString('hex'));
    assert.deepEqual(torch.report.shape0, [8192, 8192]);
    assert.equal(torch.report.corner, 0);
  });
});

// The whole write path (writeFileAtomic: temp file, fsync, rename, around
// writeTorchStateDict, as a lens's params.pt is written) really writing 4.5 GB: ~15 s and
// ~350 MB of memory here, but 4.5 GB of disk writes, so only on request.
const realSkip = process.env.TUNED_LENS_BIG_IO === '1' ? false : 'set TUNED_LENS_BIG_IO=1 to write a real 4.5 GB params.pt';
if (realSkip) console.log(`# skipping the real 4.5 GB write: ${realSkip}`);

describe('an atomic params.pt write past 4 GiB, on disk for real', { skip: realSkip }, () => {
  test('17 [8192, 8192] F32 weights and their biases: written atomically, read back, loaded by torch (mmap)', { timeout: 300_000 }, (t) => {
    const dir = mkdtempSync(join(root, 'real-'));
    const bias = Float32Array.from({ length: 8192 }, (_, i) => i / 7);
    const tensors: [string, TorchTensorBytes][] = [];
    for (let i = 0; i < 17; i++) {
      tensors.push([`${i}.weight`, { dtype: 'F32', shape: [8192, 8192], bytes: ZEROS }]);
      tensors.push([`${i}.bias`, { dtype: 'F32', shape: [8192], bytes: new Uint8Array(bias.buffer) }]);
    }
    const path = join(dir, 'params.pt');
    writeFileAtomic(path, (sink) => {
      writeTorchStateDict(sink, tensors);
    });
    try {
      assert.ok(statSync(path).size > FOUR_GIB);
      const sd = TorchStateDictFile.open(path);
      try {
        assert.deepEqual([...sd.tensors.keys()], tensors.map(([k]) => k));
        assert.deepEqual(Buffer.from(sd.storageBytes(sd.tensors.get('16.bias')!.storage)), Buffer.from(bias.buffer));
      } finally {
        sd.close();
      }
      const torch = torchWithMmap(path, '16.bias', '16.weight');
      if ('skip' in torch) {
        t.skip(torch.skip);
        return;
      }
      assert.equal(torch.report.small, Buffer.from(bias.buffer).toString('hex'));
      assert.equal(torch.report.corner, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface MmapReport {
  torch: string;
  keys: string[];
  small: string;
  shape0: number[];
  corner: number;
}

/** Loads with mmap (no 4.5 GB in memory): needs torch >= 2.1. Exit 3: no torch; 4: too old. */
const PY_TORCH_MMAP = String.raw`
import json, sys
try:
    import torch
except ImportError:
    sys.exit(3)
if tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) < (2, 1):
    sys.exit(4)
sd = torch.load(sys.argv[1], mmap=True, weights_only=True)
small, zero = sys.argv[2], sys.argv[3]
print(json.dumps({
    "torch": torch.__version__,
    "keys": list(sd.keys()),
    "small": bytes(sd[small].contiguous().view(-1).view(torch.uint8).tolist()).hex(),
    "shape0": list(sd["0.weight"].shape),
    "corner": float(sd[zero][-1, -1]),
}))
`;

/**
 * Runs the mmap load with the first python whose torch is new enough: the one the torch
 * tests use (TUNED_LENS_TORCH_PYTHON, else /usr/bin/python3), then /opt/torchvenv.
 */
function torchWithMmap(path: string, small: string, zero: string): { report: MmapReport } | { skip: string } {
  const candidates = [...new Set([process.env.TUNED_LENS_TORCH_PYTHON ?? '/usr/bin/python3', '/opt/torchvenv/bin/python'])];
  const why: string[] = [];
  for (const py of candidates) {
    const run = spawnSync(py, ['-c', PY_TORCH_MMAP, path, small, zero], { encoding: 'utf8', timeout: 170_000, maxBuffer: 16 << 20 });
    if (run.error) why.push(`${py}: ${run.error.message}`);
    else if (run.status === 3) why.push(`${py}: no torch`);
    else if (run.status === 4) why.push(`${py}: torch older than 2.1 (no mmap load)`);
    else if (run.status !== 0) assert.fail(`${py} exited with ${run.status ?? run.signal}: ${run.stderr.slice(-3000)}`);
    else return { report: JSON.parse(run.stdout) as MmapReport };
  }
  return { skip: `no python with torch >= 2.1 (${why.join('; ')}); set TUNED_LENS_TORCH_PYTHON` };
}

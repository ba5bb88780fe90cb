// The zip reader and writer: round trips, torch's layout (64-byte aligned data, data
// descriptors, zip64 end record), and clear errors for truncated, corrupt and
// unsupported archives (never a RangeError or a silent wrong read). zip64 records
// themselves (forced, hand-built, Python's, over 4 GiB) are in torch-zip64.test.ts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, encodeZip, FormatError, ZipReader } from '../src/index.js';
import { crc32Portable } from '../src/torch/crc32.js';
import { expectError } from './expectFormatError.js';

const root = mkdtempSync(join(tmpdir(), 'io-zip-'));
after(() => rmSync(root, { recursive: true, force: true }));

const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const entries: [string, Uint8Array][] = [
  ['archive/data.pkl', enc('pickle bytes')],
  ['archive/data/0', Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff)],
  ['archive/empty', new Uint8Array(0)],
  ['archive/ünïcode', enc('name in UTF-8')],
];


/** Offsets of the classic end record fields, for surgery. */
function eocdOffset(zip: Buffer): number {
  return zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
}

function centralOffset(zip: Buffer): number {
  return zip.readUInt32LE(eocdOffset(zip) + 16);
}

/**
 * Sets a field in both end records (the classic one and the zip64 one our writer always
 * adds), so they still agree and the reader acts on the new value.
 */
function setEndField(zip: Buffer, field: 'entries' | 'cdOffset', value: number): void {
  const eocd = eocdOffset(zip);
  const z = eocd - 20 - 56;
  assert.equal(zip.readUInt32LE(z), 0x06064b50, 'zip64 end record');
  if (field === 'entries') {
    zip.writeUInt16LE(value, eocd + 8);
    zip.writeUInt16LE(value, eocd + 10);
    zip.writeBigUInt64LE(BigInt(value), z + 24);
    zip.writeBigUInt64LE(BigInt(value), z + 32);
  } else {
    zip.writeUInt32LE(value, eocd + 16);
    zip.writeBigUInt64LE(BigInt(value), z + 48);
  }
}

describe('crc32', () => {
  test('matches the table implementation and the standard check value', () => {
    assert.equal(crc32(enc('123456789')), 0xcbf43926);
    assert.equal(crc32Portable(enc('123456789')), 0xcbf43926);
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31 + 7) & 0xff);
    assert.equal(crc32Portable(data), crc32(data));
    assert.equal(crc32(data.subarray(1234), crc32(data.subarray(0, 1234))), crc32(data));
  });
});

describe('round trip', () => {
  test('stored and deflated archives read back every entry exactly', () => {
    for (const compress of [false, true]) {
      const zip = ZipReader.fromBytes(encodeZip(entries, { compress }));
      assert.deepEqual(zip.names(), entries.map(([n]) => n));
      for (const [name, data] of entries) {
        assert.deepEqual(Buffer.from(zip.read(name)), Buffer.from(data), name);
        assert.equal(zip.entry(name)!.method, compress ? 'deflate' : 'stored');
      }
    }
  });

  test('from a file, entries are read on demand into buffers of their own', () => {
    const path = join(mkdtempSync(join(root, 't-')), 'a.zip');
    writeFileSync(path, encodeZip(entries));
    const zip = ZipReader.open(path);
    try {
      const data = zip.read('archive/data/0');
      assert.equal(data.byteOffset, 0);
      assert.equal(data.buffer.byteLength, 1000);
      assert.deepEqual(Buffer.from(data), Buffer.from(entries[1][1]));
    } finally {
      zip.close();
    }
    zip.close(); // twice is fine
  });

  test("torch's layout: data 64-byte aligned behind an FB extra field, descriptors, zip64 end record", () => {
    const zip = encodeZip(entries);
    const reader = ZipReader.fromBytes(zip);
    for (const e of reader.entries) {
      const h = e.localHeaderOffset;
      assert.equal(zip.readUInt32LE(h), 0x04034b50);
      assert.equal(zip.readUInt16LE(h + 6), 0x0808, 'flags: UTF-8 names + data descriptor');
      assert.equal(zip.readUInt32LE(h + 14), 0, 'CRC lives in the descriptor');
      const nameLen = zip.readUInt16LE(h + 26);
      const extraLen = zip.readUInt16LE(h + 28);
      assert.equal(zip.toString('latin1', h + 30 + nameLen, h + 30 + nameLen + 2), 'FB');
      assert.equal((h + 30 + nameLen + extraLen) % 64, 0, `${e.name} data is 64-byte aligned`);
      const descriptor = h + 30 + nameLen + extraLen + e.compressedSize;
      assert.equal(zip.readUInt32LE(descriptor), 0x08074b50);
      assert.equal(zip.readUInt32LE(descriptor + 4), e.crc32);
    }
    const eocd = eocdOffset(zip);
    assert.equal(eocd + 22, zip.length);
    assert.equal(zip.readUInt32LE(eocd - 20), 0x07064b50, 'zip64 locator');
    assert.equal(zip.readUInt32LE(eocd - 20 - 56), 0x06064b50, 'zip64 end record');
  });

  test('a small archive has no zip64 extra fields or saturated fields, as torch writes it', () => {
    const zip = encodeZip(entries);
    const reader = ZipReader.fromBytes(zip);
    for (const e of reader.entries) {
      const nameLen = zip.readUInt16LE(e.localHeaderOffset + 26);
      assert.equal(zip.toString('latin1', e.localHeaderOffset + 30 + nameLen, e.localHeaderOffset + 32 + nameLen), 'FB', 'FB right after the name');
    }
    let p = centralOffset(zip);
    for (const e of reader.entries) {
      assert.equal(zip.readUInt16LE(p + 30), 0, `${e.name}: no central extra field`);
      assert.equal(zip.readUInt32LE(p + 42), e.localHeaderOffset);
      p += 46 + zip.readUInt16LE(p + 28);
    }
    const eocd = eocdOffset(zip);
    assert.equal(zip.readUInt16LE(eocd + 10), entries.length);
    assert.equal(zip.readUInt32LE(eocd + 12), p - centralOffset(zip), 'central directory size');
  });

  test('the writer refuses duplicate names', () => {
    assert.throws(() => encodeZip([['a', enc('1')], ['a', enc('2')]]), /duplicate entry name "a"/);
  });
});

describe('corrupt and truncated archives', () => {
  const good = encodeZip(entries);

  test('empty, tiny and non-zip files', () => {
    expectError(() => ZipReader.fromBytes(new Uint8Array(0)), 'corrupt', /0 bytes is too short/);
    expectError(() => ZipReader.fromBytes(enc('PK')), 'corrupt', /too short/);
    expectError(() => ZipReader.fromBytes(Buffer.alloc(500, 0x41)), 'corrupt', /not a zip archive: no end-of-central-directory record/);
  });

  test('every truncation point fails with a clear corrupt error', () => {
    for (let cut = 0; cut < good.length; cut++) {
      assert.throws(
        () => {
          const zip = ZipReader.fromBytes(good.subarray(0, cut));
          for (const name of zip.names()) zip.read(name);
        },
        (e: unknown) => e instanceof FormatError && e.kind === 'corrupt',
        `cut at ${cut}`,
      );
    }
  });

  test('bytes appended after the end record are refused', () => {
    expectError(() => ZipReader.fromBytes(Buffer.concat([good, enc('trailing')])), 'corrupt', /does not end the file/);
  });

  test('a flipped data byte fails the CRC check naming the entry', () => {
    const zip = Buffer.from(good);
    const e = ZipReader.fromBytes(good).entry('archive/data/0')!;
    const start = e.localHeaderOffset + 30 + zip.readUInt16LE(e.localHeaderOffset + 26) + zip.readUInt16LE(e.localHeaderOffset + 28);
    zip[start + 500] ^= 0x01;
    const reader = ZipReader.fromBytes(zip);
    expectError(() => reader.read('archive/data/0'), 'corrupt', /"archive\/data\/0": CRC-32 mismatch/);
    assert.equal(Buffer.from(reader.read('archive/data.pkl')).toString(), 'pickle bytes', 'other entries still read');
  });

  test('broken central and local headers', () => {
    const cd = Buffer.from(good);
    cd[centralOffset(cd)] = 0;
    expectError(() => ZipReader.fromBytes(cd), 'corrupt', /central directory entry 0 .*bad signature/);

    const local = Buffer.from(good);
    const off = ZipReader.fromBytes(good).entry('archive/data/0')!.localHeaderOffset;
    local[off] = 0;
    expectError(() => ZipReader.fromBytes(local).read('archive/data/0'), 'corrupt', /no local header signature/);

    const renamed = Buffer.from(good);
    renamed[off + 30 + 'archive/data/'.length] = 'X'.charCodeAt(0);
    expectError(() => ZipReader.fromBytes(renamed).read('archive/data/0'), 'corrupt', /local header names "archive\/data\/X"/);
  });

  test('sizes and offsets that point outside the archive', () => {
    const zip = Buffer.from(good);
    const cd = centralOffset(zip);
    zip.writeUInt32LE(0x7fff0000, cd + 20); // compressed size
    zip.writeUInt32LE(0x7fff0000, cd + 24); // size
    expectError(() => ZipReader.fromBytes(zip).read('archive/data.pkl'), 'corrupt', /runs into the central directory/);

    const mismatch = Buffer.from(good);
    mismatch.writeUInt32LE(5, cd + 24);
    expectError(() => ZipReader.fromBytes(mismatch), 'corrupt', /stored entry with compressed size \d+ != size 5/);

    const badCd = Buffer.from(good);
    setEndField(badCd, 'cdOffset', good.length);
    expectError(() => ZipReader.fromBytes(badCd), 'corrupt', /central directory .* runs past the end records/);

    const count = Buffer.from(good);
    setEndField(count, 'entries', 3);
    expectError(() => ZipReader.fromBytes(count), 'corrupt', /bytes after its 3 entries/);
  });

  test('duplicate names in the directory are refused', () => {
    const zip = encodeZip([['aa', enc('1')], ['ab', enc('2')]]);
    const cd = centralOffset(zip);
    const second = cd + 46 + 2;
    zip[second + 46 + 1] = 'a'.charCodeAt(0);
    expectError(() => ZipReader.fromBytes(zip), 'corrupt', /"aa": duplicate entry name/);
  });

  test('corrupt deflate data, and deflate output larger than declared', () => {
    const zip = encodeZip([['x', Buffer.alloc(10000, 0x61)]], { compress: true });
    const e = ZipReader.fromBytes(zip).entry('x')!;
    const bad = Buffer.from(zip);
    const start = e.localHeaderOffset + 30 + 1 + bad.readUInt16LE(e.localHeaderOffset + 28);
    bad.fill(0xff, start, start + e.compressedSize);
    expectError(() => ZipReader.fromBytes(bad).read('x'), 'corrupt', /"x": deflate data is corrupt/);

    const bomb = Buffer.from(zip);
    bomb.writeUInt32LE(100, centralOffset(bomb) + 24); // declares 100 bytes, inflates to 10000
    expectError(() => ZipReader.fromBytes(bomb).read('x'), 'corrupt', /larger than its declared 100 bytes/);
  });
});

describe('unsupported archives and limits', () => {
  const good = encodeZip(entries);

  test('encryption and other compression methods are refused by name', () => {
    const enc1 = Buffer.from(good);
    enc1.writeUInt16LE(0x0809, centralOffset(enc1) + 8);
    expectError(() => ZipReader.fromBytes(enc1), 'unsupported', /encrypted entries are not supported/);
    const bz = Buffer.from(good);
    bz.writeUInt16LE(12, centralOffset(bz) + 10);
    expectError(() => ZipReader.fromBytes(bz), 'unsupported', /compression method 12 \(bzip2\) is not supported/);
  });

  test('multi-disk archives are refused', () => {
    const zip = Buffer.from(good);
    zip.writeUInt16LE(1, eocdOffset(zip) + 4);
    expectError(() => ZipReader.fromBytes(zip), 'unsupported', /multi-disk/);
  });

  test('entry count, directory size and entry size limits', () => {
    expectError(() => ZipReader.fromBytes(good, '', { maxEntries: 3 }), 'too_large', /4 entries, more than the limit of 3/);
    expectError(() => ZipReader.fromBytes(good, '', { maxCentralDirectoryBytes: 10 }), 'too_large', /central directory of \d+ bytes exceeds the limit of 10/);
    const zip = ZipReader.fromBytes(good, '', { maxEntryBytes: 999 });
    expectError(() => zip.read('archive/data/0'), 'too_large', /1000 bytes, more than the limit of 999/);
    assert.equal(zip.read('archive/data.pkl').byteLength, 12);
  });

  test('errors name the file; a missing file is not_found', () => {
    const dir = mkdtempSync(join(root, 't-'));
    const path = join(dir, 'params.pt');
    writeFileSync(path, good.subarray(0, 100));
    expectError(() => ZipReader.open(path), 'corrupt', /params\.pt: .*end-of-central-directory/);
    expectError(() => ZipReader.open(join(dir, 'nope.pt')), 'not_found', /nope\.pt: does not exist/);
    expectError(() => ZipReader.open(dir), 'invalid', /is a folder/);
  });
});

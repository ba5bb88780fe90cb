// params.pt / params.safetensors without PyTorch: our writer -> our reader round trips
// (exact F32, F16/BF16 rounded to nearest even and widened exactly), storage offsets and
// shared storages, big-endian archives, atomic writes, and the content errors
// (non-contiguous, offsets past the storage, missing records, wrong root).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZipReader, encodeSafetensors, encodeZip, pickleStateDict, type PickleTensorSpec } from '@tuned-lens/formats';
import { roundToBf16, roundToF16 } from '@tuned-lens/tensor';
import { PARAMS_PT, PARAMS_SAFETENSORS, openLensParams, readLensParams, writeLensParams, type LensTensorInput } from '../src/io/index.js';
import { expectError } from './expectLensError.js';

const root = mkdtempSync(join(tmpdir(), 'io-params-'));
after(() => rmSync(root, { recursive: true, force: true }));
const tempDir = (): string => mkdtempSync(join(root, 't-'));

// Exact-conversion edge cases: -0, halfway cases, subnormals, overflow, infinities.
const specials = Float32Array.from([0, -0, 1, -2.5, 1 / 3, 65504, 65520, 1e-7, 6e-8, -Infinity, Infinity, 3.14159, 1.00048828125, 2 ** -24, 1e30, -1e-30]);
const tensors = new Map<string, LensTensorInput>([
  ['0.weight', { shape: [4, 4], data: specials }],
  ['0.bias', { shape: [4], data: Float32Array.from([0.1, -0.2, 0.3, -0.4]) }],
  ['scalar', { shape: [], data: Float32Array.of(42.5) }],
  ['empty', { shape: [0, 3], data: new Float32Array(0) }],
]);


function sameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  assert.deepEqual(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength), Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength), what);
}

/** A torch archive assembled by hand from pickle specs and raw storages. */
function archive(specs: PickleTensorSpec[], storages: Record<string, Uint8Array>, extra: [string, Uint8Array][] = []): Buffer {
  return encodeZip([
    ['params/data.pkl', pickleStateDict(specs)],
    ...Object.entries(storages).map(([k, v]) => [`params/data/${k}`, v] as [string, Uint8Array]),
    ['params/version', Buffer.from('3\n')],
    ...extra,
  ]);
}

const f32 = (...v: number[]): Uint8Array => new Uint8Array(Float32Array.from(v).buffer);

describe('round trip (ours -> ours)', () => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    test(`${dtype}: params.pt and params.safetensors hold the same, exactly rounded values`, () => {
      const dir = tempDir();
      const written = writeLensParams(dir, tensors, { dtype });
      assert.deepEqual(written, [join(dir, PARAMS_PT), join(dir, PARAMS_SAFETENSORS)]);
      const round = dtype === 'F32' ? (x: number) => Math.fround(x) : dtype === 'F16' ? roundToF16 : roundToBf16;
      for (const file of written) {
        const back = readLensParams(file);
        assert.deepEqual([...back.keys()].sort(), [...tensors.keys()].sort(), file);
        for (const [name, t] of tensors) {
          const got = back.get(name)!;
          assert.equal(got.dtype, dtype);
          assert.deepEqual(got.shape, [...t.shape]);
          sameBits(got.data, Float32Array.from(t.data, round), `${file} ${name}`);
        }
      }
      assert.deepEqual(readdirSync(dir).sort(), [PARAMS_PT, PARAMS_SAFETENSORS], 'no temp files left');
    });
  }

  test('params.pt keeps the state dict order; the format is told by content, not name', () => {
    const dir = tempDir();
    writeLensParams(dir, tensors, { format: 'pt' });
    assert.deepEqual(readdirSync(dir), [PARAMS_PT]);
    copyFileSync(join(dir, PARAMS_PT), join(dir, 'weights.bin'));
    assert.deepEqual([...readLensParams(join(dir, 'weights.bin')).keys()], [...tensors.keys()]);
    writeLensParams(dir, tensors, { format: 'safetensors' });
    copyFileSync(join(dir, PARAMS_SAFETENSORS), join(dir, 'other.pt'));
    assert.equal(readLensParams(join(dir, 'other.pt')).size, tensors.size);
  });

  test('a safetensors header length starting with bytes 80 02 is not mistaken for a legacy pickle', () => {
    const dir = tempDir();
    const st = Object.fromEntries([...tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }]));
    // Grow the metadata until the header is 0x280 bytes (little-endian length 80 02 00 ...).
    const pad = Array.from({ length: 600 }, (_, n) => n).find((n) => encodeSafetensors(st, { pad: 'x'.repeat(n) }).readUInt16LE(0) === 0x280);
    assert.ok(pad !== undefined);
    writeLensParams(dir, tensors, { format: 'safetensors', safetensorsMetadata: { pad: 'x'.repeat(pad) } });
    assert.deepEqual([...readFileSync(join(dir, PARAMS_SAFETENSORS)).subarray(0, 2)], [0x80, 0x02]);
    assert.equal(readLensParams(join(dir, PARAMS_SAFETENSORS)).size, tensors.size);
  });

  test('the archive is under archive/ with byteorder, data/<key> in torch order and version 3', () => {
    const dir = tempDir();
    const many = new Map(Array.from({ length: 12 }, (_, i) => [`${i}.bias`, { shape: [1], data: Float32Array.of(i) }] as const));
    writeLensParams(dir, many, { format: 'pt' });
    const zip = ZipReader.open(join(dir, PARAMS_PT));
    try {
      assert.deepEqual(zip.names(), [
        'archive/data.pkl', 'archive/byteorder',
        ...['0', '1', '10', '11', '2', '3', '4', '5', '6', '7', '8', '9'].map((k) => `archive/data/${k}`),
        'archive/version',
      ]);
      assert.equal(Buffer.from(zip.read('archive/byteorder')).toString(), 'little');
      assert.equal(Buffer.from(zip.read('archive/version')).toString(), '3\n');
    } finally {
      zip.close();
    }
  });

  test('openLensParams lists names, shapes and dtypes before reading any tensor data', () => {
    const dir = tempDir();
    writeLensParams(dir, tensors, { dtype: 'F16' });
    for (const [file, format] of [[PARAMS_PT, 'pt'], [PARAMS_SAFETENSORS, 'safetensors']] as const) {
      const params = openLensParams(join(dir, file));
      try {
        assert.equal(params.format, format);
        assert.deepEqual(params.tensors.get('0.weight'), { shape: [4, 4], dtype: 'F16' });
        assert.deepEqual(params.tensors.get('scalar'), { shape: [], dtype: 'F16' });
        assert.equal(params.readAll().get('scalar')!.data[0], 42.5);
      } finally {
        params.close();
      }
    }
  });

  test('an existing file is replaced atomically; a refused write leaves it untouched', () => {
    const dir = tempDir();
    writeLensParams(dir, tensors, { format: 'pt' });
    const before = readFileSync(join(dir, PARAMS_PT));
    expectError(() => writeLensParams(dir, [['bad', { shape: [2, 2], data: new Float32Array(3) }]]), 'invalid', /"bad": shape \[2, 2\] needs 4 values, got 3/);
    assert.deepEqual(readFileSync(join(dir, PARAMS_PT)), before);
    writeLensParams(dir, [['x', { shape: [1], data: Float32Array.of(7) }]], { format: 'pt' });
    assert.deepEqual([...readLensParams(join(dir, PARAMS_PT)).keys()], ['x']);
    assert.deepEqual(readdirSync(dir), [PARAMS_PT]);
  });

  test('bad options are refused', () => {
    expectError(() => writeLensParams(tempDir(), tensors, { dtype: 'F64' as never }), 'invalid', /unsupported params dtype "F64"/);
    expectError(() => writeLensParams(tempDir(), tensors, { format: 'npz' as never }), 'invalid', /unknown params format "npz"/);
  });
});

describe('storages as torch writes them', () => {
  test('views at a storage offset and tensors sharing one storage decode independently', () => {
    const dir = tempDir();
    const base = f32(...Array.from({ length: 20 }, (_, i) => i));
    writeFileSync(join(dir, 'v.pt'), archive([
      { name: 'a', dtype: 'F32', storageKey: '0', storageNumel: 20, storageOffset: 5, shape: [4], stride: [1] },
      { name: 'b', dtype: 'F32', storageKey: '0', storageNumel: 20, storageOffset: 10, shape: [2, 5], stride: [5, 1] },
      { name: 'all', dtype: 'F32', storageKey: '0', storageNumel: 20, storageOffset: 0, shape: [20], stride: [1] },
      { name: 'col', dtype: 'F32', storageKey: '0', storageNumel: 20, storageOffset: 3, shape: [1, 1], stride: [99, 7] },
    ], { 0: base }));
    const t = readLensParams(join(dir, 'v.pt'));
    assert.deepEqual(Array.from(t.get('a')!.data), [5, 6, 7, 8]);
    assert.deepEqual(Array.from(t.get('b')!.data), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    assert.deepEqual(t.get('b')!.shape, [2, 5]);
    assert.deepEqual(Array.from(t.get('col')!.data), [3], 'strides of size-1 dims do not matter');
    t.get('all')!.data[5] = -1;
    assert.equal(t.get('a')!.data[0], 5, 'tensors of one storage do not alias');
  });

  test('a big-endian archive (byteorder "big") is byte-swapped', () => {
    const dir = tempDir();
    const be = Buffer.from(f32(1.5, -2, 3.25));
    for (let i = 0; i < be.length; i += 4) be.subarray(i, i + 4).reverse();
    const half = Buffer.from([0x3c, 0x00, 0xc0, 0x00]); // 1.0, -2.0 as big-endian F16
    writeFileSync(join(dir, 'be.pt'), archive([
      { name: 'w', dtype: 'F32', storageKey: '0', storageNumel: 3, storageOffset: 0, shape: [3], stride: [1] },
      { name: 'h', dtype: 'F16', storageKey: '1', storageNumel: 2, storageOffset: 0, shape: [2], stride: [1] },
    ], { 0: be, 1: half }, [['params/byteorder', Buffer.from('big')]]));
    const t = readLensParams(join(dir, 'be.pt'));
    assert.deepEqual(Array.from(t.get('w')!.data), [1.5, -2, 3.25]);
    assert.deepEqual(Array.from(t.get('h')!.data), [1, -2]);
  });

  test('non-contiguous tensors are refused with the fix named', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'nc.pt'), archive([
      { name: 'wT', dtype: 'F32', storageKey: '0', storageNumel: 6, storageOffset: 0, shape: [3, 2], stride: [1, 3] },
    ], { 0: f32(1, 2, 3, 4, 5, 6) }));
    expectError(() => readLensParams(join(dir, 'nc.pt')), 'unsupported', /nc\.pt: tensor "wT" is not contiguous \(size \[3, 2\], stride \[1, 3\]\).*\.contiguous\(\)/);
  });

  test('views past their storage, wrong storage sizes and missing records are corrupt', () => {
    const dir = tempDir();
    const spec: PickleTensorSpec = { name: 'w', dtype: 'F32', storageKey: '0', storageNumel: 4, storageOffset: 2, shape: [3], stride: [1] };
    writeFileSync(join(dir, 'past.pt'), archive([spec], { 0: f32(1, 2, 3, 4) }));
    expectError(() => readLensParams(join(dir, 'past.pt')), 'corrupt', /"w" \(offset 2 \+ 3 elements\) runs past its storage of 4/);
    writeFileSync(join(dir, 'short.pt'), archive([{ ...spec, storageOffset: 0 }], { 0: f32(1, 2, 3) }));
    expectError(() => readLensParams(join(dir, 'short.pt')), 'corrupt', /params\/data\/0 has 12 bytes, but 4 F32 elements need 16/);
    writeFileSync(join(dir, 'missing.pt'), archive([{ ...spec, storageKey: '7' }], { 0: f32(1, 2, 3, 4) }));
    expectError(() => readLensParams(join(dir, 'missing.pt')), 'corrupt', /tensor "w": storage record params\/data\/7 is missing/);
  });

  test('the root must be a dict of tensors; TorchScript and legacy files are named', () => {
    const dir = tempDir();
    const notDict = Buffer.from([0x80, 0x02, 0x4e, 0x2e]);
    writeFileSync(join(dir, 'none.pt'), encodeZip([['a/data.pkl', notDict]]));
    expectError(() => readLensParams(join(dir, 'none.pt')), 'invalid', /expected a state dict .* got None/);
    const nested = Buffer.from([0x80, 0x02, 0x7d, 0x58, 1, 0, 0, 0, 0x78, 0x7d, 0x73, 0x2e]); // {'x': {}}
    writeFileSync(join(dir, 'nested.pt'), encodeZip([['a/data.pkl', nested]]));
    expectError(() => readLensParams(join(dir, 'nested.pt')), 'invalid', /entry "x" is a dict, not a tensor/);
    writeFileSync(join(dir, 'jit.pt'), encodeZip([['m/data.pkl', notDict], ['m/constants.pkl', notDict]]));
    expectError(() => readLensParams(join(dir, 'jit.pt')), 'unsupported', /TorchScript archive/);
    writeFileSync(join(dir, 'legacy.pt'), Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
    expectError(() => readLensParams(join(dir, 'legacy.pt')), 'unsupported', /legacy \(pre-1\.6, non-zip\) torch serialization/);
    writeFileSync(join(dir, 'nopkl.pt'), encodeZip([['a/other', notDict]]));
    expectError(() => readLensParams(join(dir, 'nopkl.pt')), 'corrupt', /no <archive>\/data\.pkl entry \(entries: "a\/other"\)/);
  });

  test('unsafe pickles inside params.pt are reported with the file and entry', () => {
    const dir = tempDir();
    const evil = Buffer.concat([Buffer.from([0x80, 0x02, 0x63]), Buffer.from('os\nsystem\n'), Buffer.from([0x29, 0x52, 0x2e])]);
    writeFileSync(join(dir, 'params.pt'), encodeZip([['params/data.pkl', evil]]));
    expectError(() => readLensParams(join(dir, 'params.pt')), 'unsafe', /params\.pt: params\/data\.pkl: pickle: refusing global "os\.system"/);
  });

  test('missing files and folders', () => {
    const dir = tempDir();
    expectError(() => readLensParams(join(dir, 'nope.pt')), 'not_found', /nope\.pt: does not exist/);
    expectError(() => readLensParams(dir), 'invalid', /is a folder/);
  });
});

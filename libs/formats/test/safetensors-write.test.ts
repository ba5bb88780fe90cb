// writeSafetensors / encodeSafetensors: round trips for every dtype, metadata, the
// reference layout (8-byte header padding, largest elements first, aligned offsets,
// no gaps) and atomic replacement.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { decodeInt32, decodeInt64, roundToBf16, roundToF16 } from '@tuned-lens/tensor';
import {
  Checkpoint, CheckpointError, SafetensorsFile, dtypeSize, encodeSafetensors, openCheckpoint, openSafetensors, writeSafetensors,
  type TensorToWrite,
} from '../src/safetensors/index.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'st-write-'));
}

function headerOf(bytes: Buffer): { n: number; text: string; json: Record<string, unknown> } {
  const n = Number(bytes.readBigUInt64LE(0));
  const text = bytes.subarray(8, 8 + n).toString('utf8');
  return { n, text, json: JSON.parse(text) };
}

const values = Float32Array.from([0, 1, -2.5, 1 / 3, 65504, 1e-7, -0, 3.14159]);

const mixed: Record<string, TensorToWrite> = {
  'w.f32': { dtype: 'F32', shape: [2, 4], data: values },
  'w.f16': { dtype: 'F16', shape: [8], data: values },
  'w.bf16': { dtype: 'BF16', shape: [4, 2], data: values },
  ids64: { dtype: 'I64', shape: [1, 3], data: BigInt64Array.from([1n, -5n, 4095n]) },
  ids32: { dtype: 'I32', shape: [3], data: Int32Array.from([7, -1, 2 ** 31 - 1]) },
  mask: { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 0, 1]) },
  scalar: { dtype: 'F32', shape: [], data: Float32Array.of(42) },
  empty: { dtype: 'F16', shape: [0, 5], data: new Float32Array(0) },
};

describe('round trip', () => {
  test('every dtype, a scalar and an empty tensor come back with the same dtype, shape and values', () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'mixed.safetensors');
      writeSafetensors(path, mixed, { format: 'pt', note: 'héllo "quoted"' });
      const ckpt = openSafetensors(path);
      assert.deepEqual(ckpt.names(), Object.keys(mixed).sort());
      for (const [name, t] of Object.entries(mixed)) assert.deepEqual(ckpt.info(name), { dtype: t.dtype, shape: [...t.shape] }, name);
      assert.deepEqual([...ckpt.getF32('w.f32')], [...values]);
      assert.deepEqual([...ckpt.getF32('w.f16')], [...values].map(roundToF16));
      assert.deepEqual([...ckpt.getF32('w.bf16')], [...values].map(roundToBf16));
      assert.ok(Object.is(ckpt.getF32('w.f32')[6], -0), 'negative zero survives');
      assert.deepEqual([...decodeInt64(ckpt.getRaw('ids64').bytes)], [1n, -5n, 4095n]);
      assert.deepEqual([...decodeInt32(ckpt.getRaw('ids32').bytes)], [7, -1, 2 ** 31 - 1]);
      assert.deepEqual([...ckpt.getRaw('mask').bytes], [1, 0, 1]);
      assert.deepEqual([...ckpt.getF32('scalar')], [42]);
      assert.equal(ckpt.getF32('empty').length, 0);
      assert.deepEqual(ckpt.metadata, { format: 'pt', note: 'héllo "quoted"' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unsupported dtype (U8) is listed and readable raw, but getF32 refuses it clearly', () => {
    const ckpt = Checkpoint.fromFile(SafetensorsFile.fromBytes(encodeSafetensors({ mask: mixed.mask, f64: { dtype: 'F64', shape: [1], data: new Uint8Array(8) } })));
    assert.equal(ckpt.info('f64').dtype, 'F64');
    assert.throws(() => ckpt.getF32('mask'), (e: unknown) => e instanceof CheckpointError && e.kind === 'unsupported' && /"mask" is U8/.test(e.message));
    assert.throws(() => ckpt.getF32('f64'), /"f64" is F64; only F32, F16 and BF16/);
    assert.throws(() => openCheckpointBytes(encodeSafetensors({ ids64: mixed.ids64 })).getF32('ids64'), /is I64/);
  });

  test('a whole fixture checkpoint rewritten and read back has identical bytes for every tensor', () => {
    const dir = tempDir();
    try {
      const src = openCheckpoint(join(tinyModelsDir, 'tiny-llama'));
      const tensors: Record<string, TensorToWrite> = {};
      for (const n of src.names()) {
        const { dtype, shape, bytes } = src.getRaw(n);
        tensors[n] = { dtype, shape, data: bytes };
      }
      writeSafetensors(join(dir, 'model.safetensors'), tensors, src.metadata);
      const back = openCheckpoint(dir);
      assert.deepEqual(back.names(), src.names());
      for (const n of src.names()) assert.deepEqual(back.getRaw(n), src.getRaw(n), n);
      assert.equal(back.storageDtype, 'BF16');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('metadata keys that look special (__proto__, constructor) stay plain strings', () => {
    const meta = JSON.parse('{"__proto__":"p","constructor":"c"}') as Record<string, string>;
    const ckpt = openCheckpointBytes(encodeSafetensors({ x: mixed.scalar }, meta));
    assert.equal(Object.getOwnPropertyDescriptor(ckpt.metadata, '__proto__')?.value, 'p');
    assert.equal(ckpt.metadata.constructor, 'c');
    assert.equal(Object.getPrototypeOf(ckpt.metadata), Object.prototype);
  });
});

describe('layout', () => {
  test('header padded with spaces to a multiple of 8; tensors ordered by element size then name, packed and aligned', () => {
    const bytes = encodeSafetensors(mixed, { format: 'pt' });
    const { n, text, json } = headerOf(bytes);
    assert.equal(n % 8, 0);
    assert.match(text, /^\{"__metadata__":\{"format":"pt"\},.*\} *$/);
    assert.ok(n - text.trimEnd().length < 8);
    const entries = Object.entries(json)
      .filter(([k]) => k !== '__metadata__')
      .map(([name, v]) => ({ name, ...(v as { dtype: string; data_offsets: [number, number] }) }));
    assert.deepEqual(entries.map((e) => e.name), ['ids64', 'ids32', 'scalar', 'w.f32', 'empty', 'w.bf16', 'w.f16', 'mask']);
    let offset = 0;
    for (const e of entries) {
      assert.equal(e.data_offsets[0], offset, `${e.name} starts where the previous ended`);
      assert.equal((8 + n + offset) % dtypeSize(e.dtype as 'F32'), 0, `${e.name} is aligned in the file`);
      offset = e.data_offsets[1];
    }
    assert.equal(bytes.byteLength, 8 + n + offset, 'no trailing bytes');
  });

  test('without metadata there is no __metadata__ entry; an empty file is a valid 16-byte file', () => {
    assert.ok(!headerOf(encodeSafetensors({ x: mixed.scalar })).text.includes('__metadata__'));
    const empty = encodeSafetensors({});
    assert.equal(empty.byteLength, 16);
    assert.equal(headerOf(empty).text, '{}      ');
    assert.equal(openCheckpointBytes(empty).size, 0);
    assert.equal(openCheckpointBytes(empty).storageDtype, undefined);
  });

  test('the file on disk is exactly the in-memory encoding', () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'a.safetensors');
      const written = writeSafetensors(path, mixed, { k: 'v' });
      const file = readFileSync(path);
      assert.deepEqual(file, encodeSafetensors(mixed, { k: 'v' }));
      assert.equal(written, file.byteLength);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('atomic writing and input checks', () => {
  test('an existing file is replaced whole and no temporary file is left behind', () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'lens.safetensors');
      writeFileSync(path, 'old contents');
      writeSafetensors(path, { x: mixed.scalar });
      assert.deepEqual(readdirSync(dir), ['lens.safetensors']);
      assert.deepEqual([...openSafetensors(path).getF32('x')], [42]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a bad tensor fails before the disk is touched: the old file survives and nothing else appears', () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'lens.safetensors');
      writeFileSync(path, 'old contents');
      const bad = { dtype: 'F32', shape: [2, 3], data: new Uint8Array(20) } as const;
      assert.throws(() => writeSafetensors(path, { bad }), (e: unknown) =>
        e instanceof CheckpointError && e.kind === 'invalid' && /tensor "bad": F32 \[2, 3\] needs 24 bytes \(6 x 4\), got 20/.test(e.message));
      assert.throws(() => writeSafetensors(path, { x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), /needs 12 bytes/);
      assert.throws(() => writeSafetensors(path, { x: { dtype: 'Q4' as 'F32', shape: [1], data: new Uint8Array(1) } }), /unknown dtype "Q4"/);
      assert.throws(() => writeSafetensors(path, { x: { dtype: 'F32', shape: [-1], data: new Uint8Array(0) } }), /tensor "x": invalid shape/);
      assert.throws(() => writeSafetensors(path, { __metadata__: mixed.scalar }), /reserved/);
      assert.throws(() => writeSafetensors(path, { x: mixed.scalar }, { n: 1 as unknown as string }), /metadata "n" must be a string/);
      assert.throws(() => writeSafetensors(path, { x: { dtype: 'U8', shape: [1], data: new Float32Array(1) } }), /U8 can only be written from raw bytes/);
      assert.equal(readFileSync(path, 'utf8'), 'old contents');
      assert.deepEqual(readdirSync(dir), ['lens.safetensors']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('writing into a missing folder is a CheckpointError and leaves nothing', () => {
    const dir = tempDir();
    try {
      assert.throws(() => writeSafetensors(join(dir, 'no', 'x.safetensors'), { x: mixed.scalar }), (e: unknown) =>
        e instanceof CheckpointError && /cannot write/.test(e.message));
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function openCheckpointBytes(bytes: Uint8Array): Checkpoint {
  return Checkpoint.fromFile(SafetensorsFile.fromBytes(bytes));
}

// Every way a safetensors file can be malformed, crafted byte by byte in a temp folder:
// each must fail with a CheckpointError naming the file and the specific problem.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { CheckpointError, MAX_HEADER_BYTES, openCheckpoint, openSafetensors, type CheckpointErrorKind } from '../src/safetensors/index.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'st-errors-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file of: u64 length prefix (or `length`), the header text, `dataLength` data bytes. */
function craft(header: unknown, dataLength = 0, length?: bigint): Buffer {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(length ?? BigInt(text.byteLength));
  return Buffer.concat([prefix, text, Buffer.alloc(dataLength, 7)]);
}

let counter = 0;
function file(bytes: Uint8Array | string): string {
  const path = join(dir, `f${counter++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

/** Opening `bytes` as a file throws a CheckpointError of `kind` whose message matches `re`. */
function rejects(bytes: Uint8Array | string, re: RegExp, kind: CheckpointErrorKind = 'invalid'): void {
  const path = file(bytes);
  assert.throws(() => openSafetensors(path), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `not a CheckpointError: ${e}`);
    assert.equal(e.kind, kind);
    assert.equal(e.file, path);
    assert.ok(e.message.startsWith(`${dir.split('/').pop()}/${path.split('/').pop()}: `), e.message);
    assert.match(e.message, re);
    return true;
  });
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

describe('length prefix', () => {
  test('a file shorter than 8 bytes (empty, or 5 bytes)', () => {
    rejects(new Uint8Array(0), /file is 0 bytes, shorter than the 8-byte header length prefix/);
    rejects(new Uint8Array(5), /file is 5 bytes, shorter than the 8-byte/);
  });

  test('a header length larger than the file', () => {
    rejects(craft({}, 0, 100n), /header length 100 is larger than the 2 bytes after the length prefix/);
  });

  test('an absurd header length (over 100 MB, up to 2^64 - 1) is refused before any allocation', () => {
    rejects(craft({}, 0, BigInt(MAX_HEADER_BYTES) + 1n), /header length 100000001 is larger than the 100000000-byte limit/);
    rejects(craft({}, 0, 2n ** 64n - 1n), /header length 18446744073709551615 is larger than the 100000000-byte limit/);
  });

  test('a zero header length', () => {
    rejects(craft('', 16), /header length 0 is too small/);
  });
});

describe('header JSON', () => {
  test('not JSON (with the parser message)', () => {
    rejects(craft('{"a": nope}'), /header is not valid JSON \(Unexpected token/);
    rejects(craft('{"a": 1'), /header is not valid JSON/);
  });

  test('not valid UTF-8', () => {
    rejects(craft(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1')), /not valid (UTF-8|JSON)/);
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(4n);
    rejects(Buffer.concat([prefix, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]), /header is not valid UTF-8/);
  });

  test('JSON that is not an object', () => {
    rejects(craft('[1, 2]'), /header must be a JSON object, got \[1,2\]/);
    rejects(craft('"text"'), /header must be a JSON object, got "text"/);
    rejects(craft('null'), /header must be a JSON object, got null/);
  });

  test('a tensor entry that is not an object', () => {
    rejects(craft({ w: 3 }), /tensor "w": entry must be an object \{dtype, shape, data_offsets\}, got 3/);
  });

  test('__metadata__ not an object of strings', () => {
    rejects(craft({ __metadata__: [1] }), /__metadata__ must be an object of strings/);
    rejects(craft({ __metadata__: { total_size: 12 } }), /__metadata__.total_size must be a string, got 12/);
  });
});

describe('tensor entries', () => {
  test('unknown dtype, listing the known ones', () => {
    rejects(craft({ w: { dtype: 'Q4_K', shape: [1], data_offsets: [0, 1] } }, 1), /tensor "w": unknown dtype "Q4_K" \(known: F32, F16, BF16, I32, I64, F64/);
    rejects(craft({ w: { dtype: 'f32', shape: [1], data_offsets: [0, 4] } }, 4), /unknown dtype "f32"/);
    rejects(craft({ w: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor "w": dtype must be a string, got nothing/);
  });

  test('recognised but undecodable dtypes (F64, U8, BOOL) still parse', () => {
    const path = file(craft({
      a: { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
      b: { dtype: 'U8', shape: [3], data_offsets: [16, 19] },
      c: { dtype: 'BOOL', shape: [1], data_offsets: [19, 20] },
    }, 20));
    const ckpt = openSafetensors(path);
    assert.deepEqual(ckpt.names().map((n) => ckpt.info(n).dtype), ['F64', 'U8', 'BOOL']);
    assert.equal(ckpt.storageDtype, undefined);
  });

  test('shape not an array of non-negative integers', () => {
    for (const shape of [[-1], [1.5], '3', [2, null], undefined, [2 ** 53]]) {
      rejects(craft({ w: { dtype: 'F32', shape, data_offsets: [0, 4] } }, 4), /tensor "w": shape must be an array of non-negative integers/);
    }
    rejects(craft({ w: f32([2 ** 30, 2 ** 30, 2 ** 30], 0, 4) }, 4), /has too many elements/);
  });

  test('data_offsets not two non-negative integers, or begin > end', () => {
    for (const offsets of [[0], [0, 4, 8], [0, '4'], [-4, 0], [0.5, 4], 'x', undefined]) {
      rejects(craft({ w: { dtype: 'F32', shape: [1], data_offsets: offsets } }, 8), /tensor "w": data_offsets must be two non-negative integers \[begin, end\]/);
    }
    rejects(craft({ w: f32([0], 8, 4) }, 8), /tensor "w": data_offsets \[8, 4\] has begin > end/);
  });

  test('end beyond the data buffer', () => {
    rejects(craft({ w: f32([3], 0, 12) }, 8), /tensor "w": data_offsets \[0, 12\] end beyond the 8-byte data buffer/);
  });

  test('byte length different from numel * dtype size', () => {
    rejects(craft({ w: f32([2, 3], 0, 20) }, 24), /tensor "w": F32 \[2, 3\] needs 24 bytes \(6 x 4\) but data_offsets \[0, 20\] span 20/);
    rejects(craft({ w: { dtype: 'BF16', shape: [4], data_offsets: [0, 16] } }, 16), /BF16 \[4\] needs 8 bytes/);
  });

  test('overlapping tensors (partial overlap, containment, out of header order)', () => {
    rejects(craft({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12), /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/);
    rejects(craft({ b: f32([4], 0, 16), c: f32([1], 12, 16), a: f32([1], 4, 8) }, 16), /tensors "b" \[0, 16\] and "a" \[4, 8\] overlap/);
    rejects(craft({ x: f32([2], 8, 16), y: f32([3], 0, 12) }, 16), /tensors "y" \[0, 12\] and "x" \[8, 16\] overlap/);
  });

  test('adjacent tensors, gaps, and empty tensors at the same offset are fine', () => {
    const path = file(craft({ a: f32([1], 0, 4), b: f32([1], 4, 8), gap: f32([1], 12, 16), e1: f32([0], 4, 4), e2: f32([0, 3], 4, 4) }, 20));
    assert.equal(openSafetensors(path).size, 5);
  });
});

describe('truncated and missing files', () => {
  const original = () => readFileSync(join(tinyModelsDir, 'tiny-llama', 'model.safetensors'));

  test('a real checkpoint cut short in its data is reported with the tensor that no longer fits', () => {
    const bytes = original();
    rejects(bytes.subarray(0, bytes.byteLength - 10), /data_offsets \[\d+, \d+\] end beyond the \d+-byte data buffer \(truncated file\?\)/);
  });

  test('a real checkpoint cut short in its header', () => {
    rejects(original().subarray(0, 1000), /header length 3160 is larger than the 992 bytes after the length prefix/);
  });

  test('a missing file is not_found; a folder without weights is not_found with a hint', () => {
    assert.throws(() => openSafetensors(join(dir, 'nope.safetensors')), (e: unknown) =>
      e instanceof CheckpointError && e.kind === 'not_found' && /nope\.safetensors: file does not exist/.test(e.message));
    assert.throws(() => openCheckpoint(join(dir, 'no-such-dir')), (e: unknown) => e instanceof CheckpointError && e.kind === 'not_found');
    const empty = join(dir, 'empty-model');
    mkdirSync(empty);
    writeFileSync(join(empty, 'pytorch_model.bin'), 'x');
    assert.throws(() => openCheckpoint(empty), (e: unknown) =>
      e instanceof CheckpointError && e.kind === 'not_found' &&
      /no model\.safetensors or model\.safetensors\.index\.json in this folder \(found pytorch_model\.bin/.test(e.message));
  });

  test('a folder given as a safetensors file', () => {
    assert.throws(() => openSafetensors(dir), /is a directory, not a safetensors file/);
  });
});

describe('tensor lookup', () => {
  test('a missing tensor is missing_tensor, with suggestions for prefix variants', () => {
    const ckpt = openCheckpoint(join(tinyModelsDir, 'tiny-gpt2'));
    assert.throws(() => ckpt.getF32('h.0.attn.c_attn.weight'), (e: unknown) =>
      e instanceof CheckpointError && e.kind === 'missing_tensor' &&
      e.message === 'tiny-gpt2/model.safetensors: tensor "h.0.attn.c_attn.weight" not found (did you mean "transformer.h.0.attn.c_attn.weight"?)');
    assert.throws(() => ckpt.info('lm_head.weight'), /tensor "lm_head.weight" not found \(the checkpoint has 40 tensors\)/);
    assert.throws(() => ckpt.getRaw('transformer.h.9.ln_1.weight'), /did you mean "transformer.h.0.ln_1.weight", "transformer.h.1.ln_1.weight", "transformer.h.2.ln_1.weight"\?/);
    assert.equal(ckpt.has('lm_head.weight'), false);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChunkAssembler,
  DEFAULT_MAX_CHUNK_BYTES,
  DTYPES,
  bytesPerElement,
  chunkBlockElements,
  numel,
  planChunks,
  splitIntoChunks,
  type DType,
  type RawTensor,
  type TensorChunk,
} from '../src/index.js';
import { makeRng } from '@tuned-lens/fixtures';

function randomTensor(dtype: DType, shape: number[], seed: number): RawTensor {
  const rng = makeRng(seed);
  const data = new Uint8Array(numel(shape) * bytesPerElement(dtype));
  for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
  return { dtype, shape, data };
}

function reassemble(chunks: TensorChunk[]): RawTensor {
  const asm = ChunkAssembler.forChunk(chunks[0]);
  for (const c of chunks) asm.add(c);
  assert.ok(asm.isComplete());
  return asm.result();
}

test('random shapes and limits: chunks fit, tile the tensor, and reassemble bit-exactly in any order', () => {
  const rng = makeRng(2024);
  for (let iter = 0; iter < 300; iter++) {
    const dtype = DTYPES[rng.int(0, DTYPES.length - 1)];
    const rank = rng.int(0, 4);
    const shape = Array.from({ length: rank }, () => (rng.next() < 0.05 ? 0 : rng.int(1, rank <= 2 ? 40 : 9)));
    const tensor = randomTensor(dtype, shape, iter);
    const bpe = bytesPerElement(dtype);
    const maxChunkBytes = rng.int(bpe, Math.max(bpe, tensor.data.byteLength + 16));
    const chunks = splitIntoChunks(tensor, { maxChunkBytes });
    const ctx = `${dtype} [${shape}] max ${maxChunkBytes}`;

    let next = 0;
    for (const c of chunks) {
      assert.ok(c.data.byteLength <= maxChunkBytes, ctx);
      assert.equal(c.data.byteLength, c.elementCount * bpe, ctx);
      assert.equal(c.firstElement, next, `${ctx}: in order, no gaps`);
      assert.equal(c.data.buffer, tensor.data.buffer, `${ctx}: a view, not a copy`);
      assert.equal(c.data.byteOffset, tensor.data.byteOffset + c.firstElement * bpe);
      assert.deepEqual(c.shape, shape);
      assert.equal(c.dtype, dtype);
      next += c.elementCount;
    }
    assert.equal(next, numel(shape), `${ctx}: covers every element`);

    // Row-aligned whenever a whole row fits.
    const rowElems = shape.length === 0 ? 1 : numel(shape.slice(1));
    if (rowElems > 0 && rowElems * bpe <= maxChunkBytes) {
      for (const c of chunks) assert.ok(c.wholeRows, `${ctx}: whole rows`);
    }

    const shuffled = rng.shuffle([...chunks]);
    const asm = new ChunkAssembler(dtype, shape);
    for (let i = 0; i < shuffled.length; i++) {
      assert.equal(asm.isComplete(), numel(shape) === 0 || (i > 0 && asm.receivedElements === numel(shape)), ctx);
      asm.add(shuffled[i]);
    }
    assert.ok(asm.isComplete(), ctx);
    assert.deepEqual(asm.missingRows(), []);
    assert.deepEqual(asm.missingElementRanges(), []);
    const out = asm.result();
    assert.deepEqual(out.shape, shape);
    assert.deepEqual(out.data, tensor.data, `${ctx}: bit-exact`);
  }
});

test('default limit is 4 MiB - 64 KiB; [2048, 4096] F32 goes in 252-row chunks', () => {
  assert.equal(DEFAULT_MAX_CHUNK_BYTES, 4 * 1024 * 1024 - 64 * 1024);
  const spans = planChunks('F32', [2048, 4096]);
  assert.equal(spans.length, Math.ceil(2048 / 252));
  for (const s of spans) {
    assert.ok(s.byteLength <= DEFAULT_MAX_CHUNK_BYTES);
    assert.ok(s.wholeRows);
    assert.equal(s.totalRows, 2048);
  }
  assert.deepEqual(
    spans.slice(0, 2).map((s) => [s.rowStart, s.rowCount, s.firstElement, s.elementCount]),
    [[0, 252, 0, 252 * 4096], [252, 252, 252 * 4096, 252 * 4096]],
  );
  assert.equal(spans.at(-1)!.rowStart + spans.at(-1)!.rowCount, 2048);
});

test('a single row bigger than the limit is split within the row', () => {
  // [1, 3_000_000] F32 logits: 12 MB in one row.
  const tensor = randomTensor('F32', [1, 3_000_000], 5);
  const chunks = splitIntoChunks(tensor);
  assert.equal(chunks.length, Math.ceil(12_000_000 / DEFAULT_MAX_CHUNK_BYTES));
  for (const c of chunks) {
    assert.ok(c.data.byteLength <= DEFAULT_MAX_CHUNK_BYTES);
    assert.equal(c.rowStart, 0);
    assert.equal(c.rowCount, 1);
    assert.equal(c.wholeRows, false);
  }
  const shuffled = makeRng(1).shuffle([...chunks]);
  assert.deepEqual(reassemble(shuffled).data, tensor.data);

  // Several huge rows: chunks may straddle a row boundary and report both rows.
  const spans = planChunks('F16', [3, 10], { maxChunkBytes: 14 }); // 7 elements per chunk
  assert.deepEqual(
    spans.map((s) => [s.firstElement, s.elementCount, s.rowStart, s.rowCount, s.wholeRows]),
    [[0, 7, 0, 1, false], [7, 7, 0, 2, false], [14, 7, 1, 2, false], [21, 7, 2, 1, false], [28, 2, 2, 1, false]],
  );
});

test('blocks: the largest trailing sub-tensor that fits', () => {
  assert.equal(chunkBlockElements([2, 3, 1000], 5000), 3000);
  assert.equal(chunkBlockElements([2, 3, 1000], 2999), 1000);
  assert.equal(chunkBlockElements([2, 3, 1000], 999), 1);
  assert.equal(chunkBlockElements([], 10), 1);
  // [B, T, d] whose [T, d] rows do not fit are cut on whole d-vectors.
  const spans = planChunks('F32', [2, 3, 1000], { maxChunkBytes: 4 * 2500 });
  assert.deepEqual(spans.map((s) => [s.firstElement, s.elementCount]), [[0, 2000], [2000, 2000], [4000, 2000]]);
  assert.deepEqual(spans.map((s) => [s.rowStart, s.rowCount]), [[0, 1], [0, 2], [1, 1]]);
});

test('empty tensors travel as one empty chunk; rank 0 is one row', () => {
  for (const shape of [[0], [0, 8], [3, 0]]) {
    const chunks = splitIntoChunks(randomTensor('F32', shape, 0));
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0].elementCount, 0);
    const asm = ChunkAssembler.forChunk(chunks[0]);
    assert.ok(asm.isComplete(), 'nothing to wait for');
    asm.add(chunks[0]);
    assert.equal(asm.result().data.byteLength, 0);
  }
  const scalar = splitIntoChunks(randomTensor('I64', [], 3));
  assert.equal(scalar.length, 1);
  assert.equal(scalar[0].totalRows, 1);
  assert.deepEqual(reassemble(scalar).shape, []);
  assert.throws(() => planChunks('I64', [4], { maxChunkBytes: 7 }), /at least one I64 element \(8 bytes\), got 7/);
  assert.throws(() => planChunks('F32', [4], { maxChunkBytes: 4.5 }), /maxChunkBytes must be an integer/);
});

test('overlap is rejected, and a rejected chunk changes nothing', () => {
  const tensor = randomTensor('BF16', [6, 4], 9);
  const chunks = splitIntoChunks(tensor, { maxChunkBytes: 16 }); // 2 rows each
  const asm = new ChunkAssembler('BF16', [6, 4]);
  asm.add(chunks[1]);
  assert.throws(() => asm.add(chunks[1]), /BF16 tensor \[6, 4\]: chunk elements \[8, 16\) overlap elements \[8, 16\) already received \(rows 2..3\)/);
  const straddle = { firstElement: 14, elementCount: 4, data: new Uint8Array(8) };
  assert.throws(() => asm.add(straddle), /chunk elements \[14, 18\) overlap elements \[14, 16\)/);
  assert.throws(() => asm.add({ firstElement: 6, elementCount: 4, data: new Uint8Array(8) }), /overlap elements \[8, 10\)/);
  assert.equal(asm.receivedElements, 8);
  assert.equal(asm.chunkCount, 1);
  assert.deepEqual(asm.data.subarray(0, 16), new Uint8Array(16), 'nothing written by rejected chunks');
  asm.add(chunks[0]);
  asm.add(chunks[2]);
  assert.deepEqual(asm.result().data, tensor.data);
});

test('out-of-range elements and rows, bad sizes and metadata disagreement are rejected', () => {
  const asm = new ChunkAssembler('F32', [4, 3]);
  assert.throws(() => asm.add({ firstElement: 10, elementCount: 3, data: new Uint8Array(12) }), {
    message: 'F32 tensor [4, 3]: chunk elements [10, 13) are out of range (tensor has 12 elements)',
  });
  assert.throws(() => asm.add({ rowStart: 3, rowCount: 2, data: new Uint8Array(24) }), /chunk rows \[3, 5\) are out of range \(tensor has 4 rows\)/);
  assert.throws(() => asm.add({ firstElement: 9, elementCount: 3, rowStart: 4, rowCount: 1, data: new Uint8Array(12) }), /rows \[4, 5\) are out of range/);
  assert.throws(() => asm.add({ firstElement: 3, elementCount: 3, rowStart: 0, rowCount: 1, data: new Uint8Array(12) }), /chunk rows \[0, \+1\) disagree with its elements \[3, 6\), which touch rows \[1, 2\)/);
  assert.throws(() => asm.add({ firstElement: -1, elementCount: 3, data: new Uint8Array(12) }), /firstElement must be a non-negative safe integer, got -1/);
  assert.throws(() => asm.add({ firstElement: 0, elementCount: 1.5, data: new Uint8Array(6) }), /elementCount must be a non-negative safe integer/);
  assert.throws(() => asm.add({ firstElement: 0, data: new Uint8Array(12) }), /both firstElement and elementCount/);
  assert.throws(() => asm.add({ data: new Uint8Array(12) }), /must give firstElement and elementCount \(or rowStart and rowCount\)/);
  assert.throws(() => asm.add({ firstElement: 0, elementCount: 3, data: new Uint8Array(11) }), {
    message: 'F32 tensor [4, 3]: chunk elements [0, 3) need 12 bytes (3 x 4), got 11',
  });
  assert.throws(() => asm.add({ dtype: 'F16', firstElement: 0, elementCount: 3, data: new Uint8Array(6) }), /chunk has dtype F16, expected F32/);
  assert.throws(() => asm.add({ shape: [3, 4], firstElement: 0, elementCount: 3, data: new Uint8Array(12) }), /chunk has shape \[3, 4\], expected \[4, 3\]/);
  assert.throws(() => asm.add({ totalRows: 5, firstElement: 0, elementCount: 3, data: new Uint8Array(12) }), /chunk says totalRows 5, the tensor has 4/);
  assert.throws(() => asm.add({ firstElement: 0, elementCount: 3, data: [1, 2] as unknown as Uint8Array }), /chunk data must be a Uint8Array/);
  assert.equal(asm.receivedElements, 0);
  assert.equal(asm.chunkCount, 0);
});

test('completeness: missingRows, missingElementRanges, result() while incomplete', () => {
  const tensor = randomTensor('F16', [5, 4], 11);
  const asm = new ChunkAssembler('F16', [5, 4]);
  assert.deepEqual(asm.missingRows(), [0, 1, 2, 3, 4]);
  const bytes = (first: number, count: number) => tensor.data.subarray(2 * first, 2 * (first + count));
  asm.add({ rowStart: 0, rowCount: 2, data: bytes(0, 8) }); // rows 0-1, row-only form
  asm.add({ firstElement: 14, elementCount: 2, data: bytes(14, 2) }); // second half of row 3
  asm.add({ firstElement: 17, elementCount: 1, data: bytes(17, 1) }); // inside row 4
  assert.equal(asm.isComplete(), false);
  assert.deepEqual(asm.missingElementRanges(), [
    { firstElement: 8, elementCount: 6 },
    { firstElement: 16, elementCount: 1 },
    { firstElement: 18, elementCount: 2 },
  ]);
  assert.deepEqual(asm.missingRows(), [2, 3, 4], 'row 4 listed once though two gaps touch it');
  assert.throws(() => asm.result(), /F16 tensor \[5, 4\] is incomplete: 11 of 20 elements received; missing rows 2, 3, 4/);
  asm.add({ firstElement: 8, elementCount: 6, data: bytes(8, 6) });
  asm.add({ firstElement: 16, elementCount: 1, data: bytes(16, 1) });
  asm.add({ firstElement: 18, elementCount: 2, data: bytes(18, 2) });
  assert.ok(asm.isComplete());
  assert.deepEqual(asm.result().data, tensor.data);
  assert.equal(asm.chunkCount, 6);
});

test('assembler options: target buffer and size limit', () => {
  const target = new Uint8Array(16);
  const asm = new ChunkAssembler('I32', [2, 2], { target });
  asm.add({ firstElement: 0, elementCount: 4, data: new Uint8Array(16).fill(3) });
  assert.equal(asm.result().data, target);
  assert.deepEqual(target, new Uint8Array(16).fill(3));
  assert.throws(() => new ChunkAssembler('I32', [2, 2], { target: new Uint8Array(15) }), /target buffer must be 16 bytes, got 15/);
  assert.throws(() => new ChunkAssembler('F32', [1 << 20, 1 << 12], { maxTotalBytes: 1 << 30 }), /F32 tensor \[1048576, 4096\] is 17179869184 bytes, above the limit of 1073741824/);
  assert.throws(() => new ChunkAssembler('F32', [-3]), /dim 0 is -3/);
});

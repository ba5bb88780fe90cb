// The memory a load needs, estimated from safetensors headers: byte counts per dtype on
// the tiny fixtures (F32 / F16 / BF16), the plan's terms, a sharded checkpoint, and that
// no weight byte is read (a 16 GiB sparse checkpoint is sized from its header).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { openCheckpoint, writeSafetensors, type TensorToWrite } from '@tuned-lens/formats';
import { estimateFromTensors, estimateLoadMemory, loadPlanFor, ONNX_LOAD_PLAN, TFJS_LOAD_PLAN, TFJS_WASM_LOAD_PLAN, type LoadPlan } from '../src/memory/index.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A plan with round numbers, so each term can be checked by hand. */
const plan: LoadPlan = {
  name: 'test',
  keptBytesPerElement: { F32: 4, F16: 4, BF16: 4 },
  keptAs: 'widened to f32',
  checkpointCopies: 1,
  paramsCopies: 1,
  engineCopies: 0,
  transientCopies: 0.5,
  transientHeadCopies: 1,
  inMemoryModel: { upToBytes: 1 * GiB, keptCopies: 1, transientCopies: 1 },
  unembeddingCopies: 3,
  tiedHeadCopies: 1,
  overheadBytes: 100 * MiB,
};

/** Element counts of a checkpoint, read the slow way (every tensor's info). */
function census(dir: string) {
  const ckpt = openCheckpoint(dir);
  let numel = 0;
  const shapes: number[][] = [];
  for (const n of ckpt.names()) {
    const { shape } = ckpt.info(n);
    numel += shape.reduce((a, b) => a * b, 1);
    shapes.push(shape);
  }
  return { numel, bytes: ckpt.byteLength, dtype: ckpt.storageDtype, shapes };
}

describe('estimateLoadMemory on the tiny fixtures', () => {
  for (const [model, dtype, bytesPer, tied] of [
    ['tiny-gpt2', 'F32', 4, true],
    ['tiny-gpt-neox', 'F16', 2, false],
    ['tiny-llama', 'BF16', 2, false],
  ] as const) {
    test(`${model} (${dtype}): stored and kept bytes, head, every term of the plan`, () => {
      const dir = join(tinyModelsDir, model);
      const c = census(dir);
      const e = estimateLoadMemory(dir, plan);
      assert.equal(c.dtype, dtype);
      assert.equal(e.parameters, c.numel);
      assert.equal(e.storedBytes, c.bytes);
      assert.equal(e.storedBytes, c.numel * bytesPer);
      assert.deepEqual(e.storedByDtype, [[dtype, c.bytes]]);
      assert.equal(e.keptBytes, 4 * c.numel, 'every float tensor widened to f32');
      assert.equal(e.lmHeadElements, 4096 * 64, 'the largest matrix: [vocab 4096, d 64]');
      assert.equal(e.tiedHead, tied);

      const S = e.storedBytes, K = e.keptBytes, H = 4096 * 64 * 4;
      const kept = K /* params */ + K /* in-memory engine copy */ + (tied ? H : 0);
      assert.equal(e.phases.load, kept + S + K /* ModelProto */ + 0.5 * K + H /* decoded head */);
      assert.equal(e.phases.afterLoad, kept + S + 3 * H);
      assert.equal(e.totalBytes, Math.max(e.phases.load, e.phases.afterLoad) + 100 * MiB);
      for (const phase of ['load', 'afterLoad'] as const) {
        assert.equal(e.breakdown[phase].reduce((n, t) => n + t.bytes, 0), e.phases[phase], `${phase} terms add up`);
      }
    });
  }

  test('a plan keeping 16-bit weights 16-bit (the change under way) only edits the plan', () => {
    const dir = join(tinyModelsDir, 'tiny-llama');
    const e = estimateLoadMemory(dir, { ...plan, keptBytesPerElement: { F32: 4, F16: 2, BF16: 2 }, keptAs: 'as stored' });
    assert.equal(e.keptBytes, e.storedBytes);
    assert.equal(e.breakdown.load[1].what, 'params as stored');
  });

  test('above the in-memory threshold there is no serialised model and no in-memory engine copy', () => {
    const dir = join(tinyModelsDir, 'tiny-llama');
    const small = estimateLoadMemory(dir, plan);
    const big = estimateLoadMemory(dir, { ...plan, inMemoryModel: { ...plan.inMemoryModel!, upToBytes: small.keptBytes - 1 } });
    assert.equal(small.phases.load - big.phases.load, 2 * small.keptBytes);
    assert.equal(big.breakdown.load.find((t) => t.what === 'serialised model')!.bytes, 0);
  });

  test('the shipped plans, picked as the engine is (auto: tfjs with tfjs-node-gpu; tfjs: native or wasm)', () => {
    const none = () => false;
    const gpu = (pkg: string) => pkg === '@tensorflow/tfjs-node-gpu';
    const cpu = (pkg: string) => pkg === '@tensorflow/tfjs-node';
    assert.equal(loadPlanFor('onnx', gpu), ONNX_LOAD_PLAN);
    assert.equal(loadPlanFor('auto', none), ONNX_LOAD_PLAN);
    assert.equal(loadPlanFor('auto', cpu), ONNX_LOAD_PLAN);
    assert.equal(loadPlanFor('auto', gpu), TFJS_LOAD_PLAN);
    assert.equal(loadPlanFor('tfjs', cpu), TFJS_LOAD_PLAN);
    assert.equal(loadPlanFor('tfjs', none), TFJS_WASM_LOAD_PLAN);
    const dir = join(tinyModelsDir, 'tiny-gpt2');
    const e = estimateLoadMemory(dir, ONNX_LOAD_PLAN);
    // A tiny model needs little more than the runtime's fixed overhead.
    assert.ok(e.totalBytes > ONNX_LOAD_PLAN.overheadBytes && e.totalBytes < ONNX_LOAD_PLAN.overheadBytes + 20 * MiB, `${e.totalBytes}`);
  });
});

describe('checkpoints the estimate reads only the headers of', () => {
  let root: string;
  before(() => { root = mkdtempSync(join(tmpdir(), 'mem-estimate-')); });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a sharded checkpoint (index + 2 shards) gives the single-file estimate', () => {
    const source = openCheckpoint(join(tinyModelsDir, 'tiny-llama'));
    const dir = join(root, 'sharded');
    const shards: Record<string, Record<string, TensorToWrite>> = { 'model-00001-of-00002.safetensors': {}, 'model-00002-of-00002.safetensors': {} };
    const map: Record<string, string> = {};
    for (const n of source.names()) {
      const shard = /layers\.[01]\.|embed_tokens/.test(n) ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors';
      const { dtype, shape, bytes } = source.getRaw(n);
      shards[shard][n] = { dtype, shape, data: bytes };
      map[n] = shard;
    }
    mkdirSync(dir);
    for (const [file, tensors] of Object.entries(shards)) writeSafetensors(join(dir, file), tensors);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
    const sharded = estimateLoadMemory(dir, plan);
    const single = estimateLoadMemory(join(tinyModelsDir, 'tiny-llama'), plan);
    assert.equal(sharded.storedBytes, single.storedBytes);
    assert.equal(sharded.totalBytes, single.totalBytes);
  });

  test('a 16 GiB checkpoint (sparse file) is sized from its header without reading the data', () => {
    // 4 BF16 matrices of [32768, 65536] = 4 x 4 GiB; the data region is a hole on disk.
    const shape = [32768, 65536];
    const entries: string[] = [];
    const size = shape[0] * shape[1] * 2;
    for (let i = 0; i < 4; i++) entries.push(`"w${i}":{"dtype":"BF16","shape":[${shape}],"data_offsets":[${i * size},${(i + 1) * size}]}`);
    let json = `{${entries.join(',')}}`;
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const file = join(root, 'huge.safetensors');
    const fd = openSync(file, 'w');
    try {
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(json.length));
      writeSync(fd, prefix);
      writeSync(fd, json);
      ftruncateSync(fd, 8 + json.length + 4 * size);
    } finally {
      closeSync(fd);
    }
    const t0 = performance.now();
    const e = estimateLoadMemory(file, plan);
    const ms = performance.now() - t0;
    assert.equal(e.storedBytes, 16 * GiB);
    assert.equal(e.keptBytes, 32 * GiB);
    assert.equal(e.storedByDtype[0][0], 'BF16');
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms: the data must not be read`);
  });
});

test('estimateFromTensors: integer buffers are read with the file but not kept as params', () => {
  const e = estimateFromTensors([
    { dtype: 'F16', shape: [10, 4], bytes: 80 },
    { dtype: 'I64', shape: [1, 8], bytes: 64 },
    { dtype: 'U8', shape: [16], bytes: 16 },
  ], plan);
  assert.equal(e.storedBytes, 160);
  assert.equal(e.parameters, 40);
  assert.equal(e.keptBytes, 160);
  assert.deepEqual(e.storedByDtype.map(([d]) => d), ['F16', 'I64', 'U8']);
  assert.equal(e.lmHeadElements, 40);
  assert.equal(e.tiedHead, true);
});

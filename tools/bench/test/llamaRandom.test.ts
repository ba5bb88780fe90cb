/**
 * The streaming llama generator of the scale bench (src/scale/llamaRandom.ts): the header
 * it computes up front must describe the bytes it then streams (our strict reader checks
 * every offset), the folder must load with our loadModel (single file and sharded), the
 * same seed must give the same bytes, and the real shapes must have the real parameter
 * counts. Tiny shapes only: the bench itself generates the big ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '@tuned-lens/models';
import { openCheckpoint } from '@tuned-lens/formats';
import {
  bf16NormalTable, DEFAULT_MAX_SHARD_BYTES, fillNormalBf16, isCachedLlama, llama2_7bShape, llamaTensorPlan, normalQuantile, parameterCount,
  shardPlan, tinyLlamaShape, twinOf, writeRandomLlama, type LlamaShape,
} from '../src/scale/llamaRandom';
import { Sfc32 } from '../src/prng';

const tiny: LlamaShape = { id: 'tiny', hidden: 64, intermediate: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 100, maxPositions: 32, rmsNormEps: 1e-5, ropeTheta: 10000 };

function tmp(t: { after(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'bench-llama-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('a single-file folder: header matches the streamed bytes, HF names, loads with our loadModel', async (t) => {
  const dir = join(tmp(t), 'm');
  const w = writeRandomLlama(dir, tiny, 7);
  assert.equal(w.shards, 1);
  assert.equal(w.params, parameterCount(tiny));

  const raw = readFileSync(join(dir, 'model.safetensors'));
  const n = Number(raw.readBigUInt64LE(0));
  assert.equal(n % 8, 0, 'header padded to 8 bytes');
  const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  assert.deepEqual(names, [...names].sort(), 'data in name order');
  let end = 0;
  for (const k of names) {
    assert.equal(header[k].dtype, 'BF16');
    assert.equal(header[k].data_offsets[0], end, `${k} packed`);
    end = header[k].data_offsets[1];
  }
  assert.equal(8 + n + end, raw.byteLength, 'file ends with the last tensor');

  const ckpt = openCheckpoint(dir);
  assert.deepEqual(ckpt.names().sort(), llamaTensorPlan(tiny).map((p) => p.name).sort());
  assert.deepEqual(ckpt.info('model.layers.1.self_attn.k_proj.weight').shape, [32, 64]);
  assert.deepEqual(ckpt.info('model.layers.0.mlp.down_proj.weight').shape, [64, 96]);
  assert.ok(ckpt.getF32('model.layers.1.post_attention_layernorm.weight').every((x) => x === 1));
  const w0 = ckpt.getF32('lm_head.weight');
  const mean = w0.reduce((a, b) => a + b, 0) / w0.length;
  const std = Math.sqrt(w0.reduce((a, b) => a + (b - mean) ** 2, 0) / w0.length);
  assert.ok(Math.abs(mean) < 0.002 && Math.abs(std - 0.02) < 0.002, `lm_head mean ${mean}, std ${std}`);

  const model = await loadModel(dir);
  assert.equal(model.dims.numLayers, 2);
  assert.equal(model.dims.dModel, 64);
  assert.equal(model.dims.vocabSize, 100);
  assert.equal(model.weightsDtype, 'BF16');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(config.model_type, 'llama');
  assert.equal(config.torch_dtype, 'bfloat16');
  assert.deepEqual(config.architectures, ['LlamaForCausalLM']);
  assert.ok(readdirSync(dir).includes('tokenizer.json'));
  assert.ok(isCachedLlama(dir, tiny, 7));
  assert.ok(!isCachedLlama(dir, tiny, 8), 'another seed is another folder');
});

test('sharded like save_pretrained: index, shard names, same tensors as one file, loads', async (t) => {
  const root = tmp(t);
  const one = join(root, 'one'), many = join(root, 'many');
  writeRandomLlama(one, tiny, 7);
  const maxShardBytes = 40_000;
  const w = writeRandomLlama(many, tiny, 7, { maxShardBytes });
  assert.ok(w.shards >= 3, `${w.shards} shards`);
  const index = JSON.parse(readFileSync(join(many, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
  assert.equal(index.metadata.total_size, parameterCount(tiny) * 2);
  assert.deepEqual(Object.keys(index.weight_map), Object.keys(index.weight_map).sort());
  assert.equal(index.weight_map['model.embed_tokens.weight'], `model-00001-of-0000${w.shards}.safetensors`);
  assert.equal(index.weight_map['lm_head.weight'], `model-0000${w.shards}-of-0000${w.shards}.safetensors`);
  assert.ok(isCachedLlama(many, tiny, 7, maxShardBytes));

  const a = openCheckpoint(one), b = openCheckpoint(many);
  for (const name of a.names()) assert.deepEqual(b.getF32(name), a.getF32(name), `${name}: values do not depend on the file layout`);
  const model = await loadModel(many);
  assert.equal(model.dims.numLayers, 2);
});

test('deterministic: same seed same bytes, other seed other bytes; streams do not depend on chunking', (t) => {
  const root = tmp(t);
  writeRandomLlama(join(root, 'a'), tiny, 7);
  writeRandomLlama(join(root, 'b'), tiny, 7);
  writeRandomLlama(join(root, 'c'), tiny, 8);
  assert.equal(sha(join(root, 'a', 'model.safetensors')), sha(join(root, 'b', 'model.safetensors')));
  assert.notEqual(sha(join(root, 'a', 'model.safetensors')), sha(join(root, 'c', 'model.safetensors')));

  const whole = new Uint16Array(1001);
  fillNormalBf16(whole, new Sfc32(3, 4));
  const pieces = new Uint16Array(1001);
  const rng = new Sfc32(3, 4);
  fillNormalBf16(pieces.subarray(0, 400), rng);
  fillNormalBf16(pieces.subarray(400, 1000), rng);
  fillNormalBf16(pieces.subarray(1000), rng);
  assert.deepEqual(pieces, whole);
});

test('the BF16 normal table is the N(0, 0.02²) quantiles: symmetric, sorted, std 0.02', () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-6);
  assert.ok(Math.abs(normalQuantile(1e-5) + 4.264891) < 1e-5);
  const table = bf16NormalTable();
  const f32 = new Float32Array(new Uint32Array(Array.from(table, (b) => b << 16)).buffer);
  for (let i = 1; i < f32.length; i++) assert.ok(f32[i] >= f32[i - 1], `sorted at ${i}`);
  for (let i = 0; i < 100; i++) assert.equal(f32[i], -f32[f32.length - 1 - i]);
  const variance = f32.reduce((a, x) => a + x * x, 0) / f32.length;
  assert.ok(Math.abs(Math.sqrt(variance) - 0.02) < 1e-4, `std ${Math.sqrt(variance)}`);
});

test('the real shapes: parameter counts of TinyLlama-1.1B and Llama-2-7B; 7B in 3 shards of at most 5 GB, 1.1B in one file', () => {
  assert.equal(parameterCount(tinyLlamaShape), 1_100_048_384);
  assert.equal(parameterCount(llama2_7bShape), 6_738_415_616);
  assert.equal(shardPlan(llamaTensorPlan(tinyLlamaShape), DEFAULT_MAX_SHARD_BYTES).length, 1);
  const shards = shardPlan(llamaTensorPlan(llama2_7bShape), DEFAULT_MAX_SHARD_BYTES);
  assert.deepEqual(shards.map((s) => s.file), ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
  for (const s of shards) assert.ok(s.tensors.reduce((n, x) => n + x.shape.reduce((a, b) => a * b, 1) * 2, 0) <= DEFAULT_MAX_SHARD_BYTES);
  assert.equal(twinOf(llama2_7bShape).layers, 2);
  assert.equal(twinOf(llama2_7bShape).hidden, 4096);
});

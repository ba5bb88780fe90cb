/**
 * The random GPT-2 generator: its folder must be a checkpoint our own loader accepts with
 * the dims it was asked for (the bench times loadModel / the activation service on it),
 * with HF's tensor names, and the same bytes for the same seed (it is cached and reused).
 * Tested on a tiny shape; the GPT-2-small plan is checked by counting parameters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '@tuned-lens/models';
import { openCheckpoint } from '@tuned-lens/formats';
import { ensureRandomGpt2, gpt2SmallShape, gpt2TensorPlan, isCachedCheckpoint, writeRandomGpt2, type Gpt2Shape } from '../src/gpt2Random';
import { fillNormal, randomTokenIds, Sfc32 } from '../src/prng';
import { maxAbsDiff, median } from '../src/common';
import { coretypeCandidates } from '../src/torch';

const tiny: Gpt2Shape = { nLayer: 2, nEmbd: 64, nHead: 4, vocabSize: 100, nPositions: 32 };

test('the generated folder loads with the requested dims and HF GPT-2 names', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bench-gpt2-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'm');
  const { params } = writeRandomGpt2(dir, tiny, 7);

  const model = await loadModel(dir);
  assert.equal(model.dims.numLayers, 2);
  assert.equal(model.dims.dModel, 64);
  assert.equal(model.dims.numHeads, 4);
  assert.equal(model.dims.vocabSize, 100);
  assert.equal(model.dims.contextLength, 32);
  assert.equal(model.weightsDtype, 'F32');

  const ckpt = openCheckpoint(dir);
  const plan = gpt2TensorPlan(tiny);
  assert.deepEqual(ckpt.names(), plan.map((p) => p.name).sort());
  assert.ok(ckpt.names().includes('transformer.h.1.attn.c_attn.weight'));
  assert.ok(!ckpt.has('lm_head.weight'), 'tied LM head is not stored, as save_pretrained does');
  assert.deepEqual(ckpt.info('transformer.h.0.attn.c_attn.weight').shape, [64, 192]);
  assert.deepEqual(ckpt.info('transformer.h.0.mlp.c_proj.weight').shape, [256, 64]);
  assert.equal(plan.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0), params);

  // LayerNorm weights 1, biases 0; matrices ~ N(0, 0.02²)
  assert.ok(ckpt.getF32('transformer.h.1.ln_2.weight').every((v) => v === 1));
  assert.ok(ckpt.getF32('transformer.ln_f.bias').every((v) => v === 0));
  const wte = ckpt.getF32('transformer.wte.weight');
  const mean = wte.reduce((a, v) => a + v, 0) / wte.length;
  const std = Math.sqrt(wte.reduce((a, v) => a + (v - mean) ** 2, 0) / wte.length);
  assert.ok(Math.abs(mean) < 0.002 && Math.abs(std - 0.02) < 0.001, `wte mean ${mean}, std ${std}`);

  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(config.model_type, 'gpt2');
  assert.equal(config.activation_function, 'gelu_new');
  assert.equal(config.tie_word_embeddings, true);
});

test('same seed, same bytes; another seed, other weights; the cache is reused', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bench-gpt2-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeRandomGpt2(join(root, 'a'), tiny, 7);
  writeRandomGpt2(join(root, 'b'), tiny, 7);
  writeRandomGpt2(join(root, 'c'), tiny, 8);
  const bytes = (d: string) => readFileSync(join(root, d, 'model.safetensors'));
  assert.ok(bytes('a').equals(bytes('b')));
  assert.ok(!bytes('a').equals(bytes('c')));

  assert.ok(isCachedCheckpoint(join(root, 'a'), tiny, 7));
  assert.ok(!isCachedCheckpoint(join(root, 'a'), tiny, 8));
  assert.ok(!isCachedCheckpoint(join(root, 'a'), { ...tiny, nLayer: 3 }, 7));
  const dir = ensureRandomGpt2(root, tiny, 7);
  const mtime = statSync(join(dir, 'model.safetensors')).mtimeMs;
  assert.equal(ensureRandomGpt2(root, tiny, 7), dir);
  assert.equal(statSync(join(dir, 'model.safetensors')).mtimeMs, mtime, 'second call reuses the folder');
});

test('the GPT-2-small plan has GPT-2 small\'s 124,439,808 parameters', () => {
  const n = gpt2TensorPlan(gpt2SmallShape).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
  assert.equal(n, 124_439_808);
});

test('seeded token ids and normals are deterministic and in range', () => {
  const a = randomTokenIds(50257, 8, 256, 1234);
  assert.deepEqual(a, randomTokenIds(50257, 8, 256, 1234));
  assert.notDeepEqual(a, randomTokenIds(50257, 8, 256, 1235));
  assert.ok(a.every((v) => v >= 0 && v < 50257));
  const x = fillNormal(new Float32Array(9), new Sfc32(1, 2), 1);
  assert.deepEqual(x, fillNormal(new Float32Array(9), new Sfc32(1, 2), 1));
});

test('helpers: median, maxAbsDiff, OpenBLAS kernel candidates from CPU flags', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(maxAbsDiff(new Float32Array([1, 2]), new Float32Array([1, 2.5])), 0.5);
  assert.equal(maxAbsDiff(new Float32Array([1]), new Float32Array([1, 2])), Infinity);
  assert.equal(maxAbsDiff(new Float32Array([NaN]), new Float32Array([1])), Infinity);
  const avx512 = new Set(['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512cd']);
  assert.deepEqual(coretypeCandidates(avx512), ['SkylakeX', 'Haswell']);
  assert.deepEqual(coretypeCandidates(new Set(['avx2', 'fma'])), ['Haswell']);
  assert.deepEqual(coretypeCandidates(new Set(['sse4_2'])), []);
});

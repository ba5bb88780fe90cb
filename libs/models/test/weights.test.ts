// Checking checkpoints against configs: shapes implied by config fields, all missing
// tensors at once, HF naming variants (with/without the model prefix), tied LM heads.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { smallLmDir, tinyModelsDir } from '@tuned-lens/fixtures';
import { CheckpointError, openCheckpoint, writeSafetensors, type Checkpoint, type TensorToWrite } from '@tuned-lens/formats';
import { loadModelConfig, type ModelConfig } from '../src/config/index.js';
import { expectPresent, expectTensor, expectTensors, resolveTensorName, resolveUnembedding, type TensorSpec } from '../src/weights/index.js';

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'weights-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

const gpt2Dir = join(tinyModelsDir, 'tiny-gpt2');

/** A copy of a checkpoint in `root/<folder>/model.safetensors`, with tensors renamed / reshaped / dropped. */
function variant(
  src: Checkpoint,
  folder: string,
  edit: (name: string, t: TensorToWrite) => [string, TensorToWrite] | null,
  extra: Record<string, TensorToWrite> = {},
): Checkpoint {
  const tensors: Record<string, TensorToWrite> = { ...extra };
  for (const n of src.names()) {
    const { dtype, shape, bytes } = src.getRaw(n);
    const out = edit(n, { dtype, shape, data: bytes });
    if (out) tensors[out[0]] = out[1];
  }
  const dir = join(root, folder);
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return openCheckpoint(dir);
}

/** Everything a model of `c` needs (as the architectures will ask for it), by family. */
function specsFor(c: ModelConfig): TensorSpec[] {
  const d = c.dModel;
  const kv = c.numKvHeads * c.headDim;
  const specs: TensorSpec[] = [];
  const add = (name: string, shape: number[], because: string) => specs.push({ name, shape, because });
  if (c.modelType === 'gpt2') {
    add('transformer.wte.weight', [c.vocabSize, d], `vocab_size ${c.vocabSize}, n_embd ${d}`);
    add('transformer.wpe.weight', [c.contextLength, d], `n_positions ${c.contextLength}, n_embd ${d}`);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `transformer.h.${i}`;
      add(`${p}.attn.c_attn.weight`, [d, 3 * d], `n_embd ${d}`);
      add(`${p}.attn.c_attn.bias`, [3 * d], `n_embd ${d}`);
      add(`${p}.mlp.c_fc.weight`, [d, c.intermediateSize], `n_embd ${d}, n_inner ${c.intermediateSize}`);
      add(`${p}.mlp.c_proj.weight`, [c.intermediateSize, d], `n_embd ${d}, n_inner ${c.intermediateSize}`);
      for (const ln of ['ln_1', 'ln_2']) for (const wb of ['weight', 'bias']) add(`${p}.${ln}.${wb}`, [d], `n_embd ${d}`);
    }
    add('transformer.ln_f.weight', [d], `n_embd ${d}`);
  } else if (c.modelType === 'gpt_neox') {
    add('gpt_neox.embed_in.weight', [c.vocabSize, d], `vocab_size ${c.vocabSize}, hidden_size ${d}`);
    add('embed_out.weight', [c.vocabSize, d], `vocab_size ${c.vocabSize}, hidden_size ${d}`);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `gpt_neox.layers.${i}`;
      add(`${p}.attention.query_key_value.weight`, [3 * d, d], `hidden_size ${d}`);
      add(`${p}.mlp.dense_h_to_4h.weight`, [c.intermediateSize, d], `intermediate_size ${c.intermediateSize}`);
    }
  } else {
    add('model.embed_tokens.weight', [c.vocabSize, d], `vocab_size ${c.vocabSize}, hidden_size ${d}`);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      add(`${p}.self_attn.q_proj.weight`, [c.numHeads * c.headDim, d], `num_attention_heads ${c.numHeads}`);
      add(`${p}.self_attn.k_proj.weight`, [kv, d], `num_key_value_heads ${c.numKvHeads}`);
      add(`${p}.self_attn.v_proj.weight`, [kv, d], `num_key_value_heads ${c.numKvHeads}`);
      add(`${p}.mlp.gate_proj.weight`, [c.intermediateSize, d], `intermediate_size ${c.intermediateSize}`);
    }
    add('model.norm.weight', [d], `hidden_size ${d}`);
  }
  return specs;
}

describe('expectTensor / expectTensors', () => {
  test('every fixture checkpoint matches its own config', () => {
    for (const dir of [...['tiny-gpt2', 'tiny-gpt-neox', 'tiny-llama'].map((m) => join(tinyModelsDir, m)), smallLmDir]) {
      const found = expectTensors(openCheckpoint(dir), specsFor(loadModelConfig(dir)));
      assert.equal(found.length, specsFor(loadModelConfig(dir)).length);
      for (const f of found) assert.equal(f.stored, f.name);
    }
  });

  test('returns the stored name, dtype and shape', () => {
    const f = expectTensor(openCheckpoint(gpt2Dir), 'transformer.h.1.mlp.c_fc.weight', [64, 256], 'n_embd 64');
    assert.deepEqual(f, { name: 'transformer.h.1.mlp.c_fc.weight', stored: 'transformer.h.1.mlp.c_fc.weight', dtype: 'F32', shape: [64, 256] });
  });

  test('a wrong shape names the file, the tensor, both shapes and the config field', () => {
    const bad = variant(openCheckpoint(gpt2Dir), 'tiny-gpt2', (n, t) =>
      n === 'transformer.h.0.attn.c_attn.weight' ? [n, { ...t, shape: [64, 190], data: t.data.subarray(0, 64 * 190 * 4) }] : [n, t]);
    assert.throws(() => expectTensor(bad, 'transformer.h.0.attn.c_attn.weight', [64, 192], 'n_embd 64'), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.equal(e.kind, 'shape_mismatch');
      assert.equal(e.message, 'tiny-gpt2/model.safetensors: transformer.h.0.attn.c_attn.weight has shape [64, 190] but config (n_embd 64) needs [64, 192]');
      return true;
    });
    assert.throws(() => expectTensor(bad, 'transformer.h.0.attn.c_attn.weight', [64, 192]), /has shape \[64, 190\] but the config needs \[64, 192\]/);
  });

  test('several wrong shapes are reported together', () => {
    const cfg = loadModelConfig(gpt2Dir);
    const wrong = { ...cfg, dModel: 32, intermediateSize: 128 } as ModelConfig;
    assert.throws(() => expectTensors(openCheckpoint(gpt2Dir), specsFor(wrong)), (e: unknown) =>
      e instanceof CheckpointError && e.kind === 'shape_mismatch' &&
      /^tiny-gpt2\/model\.safetensors: \d+ tensors have the wrong shape: transformer\.wte\.weight has shape \[4096, 64\] but config \(vocab_size 4096, n_embd 32\) needs \[4096, 32\]; .*; and \d+ more$/.test(e.message));
  });

  test('missing tensors come before shape checks, all listed in one error', () => {
    const ckpt = openCheckpoint(gpt2Dir);
    assert.throws(() => expectTensors(ckpt, [
      { name: 'transformer.h.3.ln_1.weight', shape: [64] },
      { name: 'transformer.wte.weight', shape: [1, 1] },
      { name: 'transformer.h.4.ln_1.weight', shape: [64] },
    ]), (e: unknown) =>
      e instanceof CheckpointError && e.kind === 'missing_tensor' &&
      /^tiny-gpt2\/model\.safetensors: missing 2 tensors: "transformer\.h\.3\.ln_1\.weight", "transformer\.h\.4\.ln_1\.weight" \(the checkpoint has 40 tensors, e\.g\. /.test(e.message));
  });
});

describe('expectPresent', () => {
  test('returns stored names in order, or throws once with every missing name', () => {
    const ckpt = openCheckpoint(join(tinyModelsDir, 'tiny-llama'));
    assert.deepEqual(expectPresent(ckpt, ['model.norm.weight', 'lm_head.weight']), ['model.norm.weight', 'lm_head.weight']);
    const names = Array.from({ length: 12 }, (_, i) => `model.layers.${i + 3}.input_layernorm.weight`);
    assert.throws(() => expectPresent(ckpt, ['model.norm.weight', ...names]), (e: unknown) =>
      e instanceof CheckpointError && e.kind === 'missing_tensor' &&
      e.message.includes('missing 12 tensors: "model.layers.3.input_layernorm.weight", ') && e.message.includes(', and 2 more'));
  });
});

describe('naming variants', () => {
  test('a base-model gpt2 checkpoint without "transformer." resolves from canonical names', () => {
    const bare = variant(openCheckpoint(gpt2Dir), 'gpt2-bare', (n, t) => [n.replace(/^transformer\./, ''), t]);
    assert.ok(bare.has('h.0.attn.c_attn.weight') && !bare.has('transformer.h.0.attn.c_attn.weight'));
    const found = expectTensors(bare, specsFor(loadModelConfig(gpt2Dir)));
    assert.equal(found[0].name, 'transformer.wte.weight');
    assert.equal(found[0].stored, 'wte.weight');
    assert.deepEqual(bare.getF32(found[0].stored), openCheckpoint(gpt2Dir).getF32('transformer.wte.weight'));
  });

  test('unprefixed names resolve in a prefixed checkpoint; custom prefixes; misses are undefined', () => {
    const ckpt = openCheckpoint(gpt2Dir);
    assert.equal(resolveTensorName(ckpt, 'h.0.ln_1.weight'), 'transformer.h.0.ln_1.weight');
    assert.equal(resolveTensorName(ckpt, 'transformer.h.0.ln_1.weight'), 'transformer.h.0.ln_1.weight');
    assert.equal(resolveTensorName(ckpt, 'model.h.0.ln_1.weight'), undefined, 'only the stripped name or an added prefix, never a swapped one');
    assert.equal(resolveTensorName(ckpt, 'h.0.ln_1.weight', []), undefined);
    assert.equal(resolveTensorName(ckpt, 'lm_head.weight'), undefined);
  });
});

describe('resolveUnembedding', () => {
  test('tied: the token embedding (also when a copy of lm_head.weight is stored)', () => {
    const ckpt = openCheckpoint(gpt2Dir);
    assert.equal(resolveUnembedding(ckpt, { head: 'lm_head.weight', embedding: 'transformer.wte.weight', tied: true }), 'transformer.wte.weight');
    const wte = ckpt.getRaw('transformer.wte.weight');
    const copy = variant(ckpt, 'gpt2-head-copy', (n, t) => [n, t], { 'lm_head.weight': { dtype: wte.dtype, shape: wte.shape, data: wte.bytes } });
    assert.ok(copy.has('lm_head.weight'));
    assert.equal(resolveUnembedding(copy, { head: 'lm_head.weight', embedding: 'transformer.wte.weight', tied: true }), 'transformer.wte.weight');
  });

  test('untied: the head, among several candidate names', () => {
    assert.equal(resolveUnembedding(openCheckpoint(join(tinyModelsDir, 'tiny-gpt-neox')), { head: ['lm_head.weight', 'embed_out.weight'], embedding: 'gpt_neox.embed_in.weight', tied: false }), 'embed_out.weight');
    assert.equal(resolveUnembedding(openCheckpoint(join(tinyModelsDir, 'tiny-llama')), { head: 'lm_head.weight', embedding: 'model.embed_tokens.weight', tied: false }), 'lm_head.weight');
  });

  test('untied without a head is an error that explains why the embedding is not used', () => {
    const headless = variant(openCheckpoint(join(tinyModelsDir, 'tiny-llama')), 'llama-headless', (n, t) => (n === 'lm_head.weight' ? null : [n, t]));
    assert.throws(() => resolveUnembedding(headless, { head: 'lm_head.weight', embedding: 'model.embed_tokens.weight', tied: false }), (e: unknown) =>
      e instanceof CheckpointError && e.kind === 'missing_tensor' &&
      e.message === 'llama-headless/model.safetensors: LM head "lm_head.weight" not found and the config has tie_word_embeddings false, so the embedding cannot stand in for it');
    assert.equal(resolveUnembedding(headless, { head: 'lm_head.weight', embedding: 'model.embed_tokens.weight', tied: true }), 'model.embed_tokens.weight');
  });
});

// Reading the bundled fixture checkpoints and golden files: dtypes and shapes as the
// fixture README and golden/index.json describe them, zero-copy views, and F16/BF16
// decoding checked element by element against an independent conversion.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesRoot, goldenDir, smallLmDir, tinyModelsDir } from '@tuned-lens/fixtures';
import { decodeTokenIdList } from '@tuned-lens/tensor';
import { openCheckpoint, openSafetensors, SafetensorsFile, dtypeSize, type Checkpoint } from '../src/safetensors/index.js';

// ---- independent references (plain arithmetic on the bit fields, no tables, no libs)

function refF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function refBf16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 7) & 0xff;
  const mant = h & 0x7f;
  if (exp === 0) return sign * mant * 2 ** -133;
  if (exp === 0xff) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 128) * 2 ** (exp - 127);
}

/** The file's header and the raw bytes of `name`, parsed by hand from the file. */
function rawFromFile(path: string, name: string): { dtype: string; shape: number[]; bytes: Buffer } {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const { dtype, shape, data_offsets: [b, e] } = header[name];
  return { dtype, shape, bytes: buf.subarray(8 + n + b, 8 + n + e) };
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const models = {
  'tiny-gpt2': { layers: 3, d: 64, dtype: 'F32', head: undefined },
  'tiny-gpt-neox': { layers: 3, d: 64, dtype: 'F16', head: 'embed_out.weight' },
  'tiny-llama': { layers: 3, d: 64, dtype: 'BF16', head: 'lm_head.weight' },
} as const;

describe('fixture checkpoints', () => {
  for (const [model, spec] of Object.entries(models)) {
    test(`${model}: ${spec.layers} layers, d_model ${spec.d}, ${spec.dtype} storage`, () => {
      const ckpt = openCheckpoint(join(tinyModelsDir, model));
      assert.equal(ckpt.storageDtype, spec.dtype);
      assert.deepEqual(ckpt.metadata, { format: 'pt' });
      assert.equal(ckpt.label, `${model}/model.safetensors`);
      for (const name of ckpt.names()) assert.equal(ckpt.info(name).dtype, spec.dtype, name);
      // Every block index 0..L-1 appears, and none beyond.
      const layers = new Set(ckpt.names().map((n) => /\.(?:h|layers)\.(\d+)\./.exec(n)?.[1]).filter((x) => x !== undefined));
      assert.deepEqual([...layers].map(Number).sort(), [...Array(spec.layers).keys()]);
      if (spec.head) assert.deepEqual(ckpt.info(spec.head).shape, [4096, spec.d]);
      else assert.equal(ckpt.has('lm_head.weight'), false, 'tied head is not stored');
    });
  }

  test('tiny-gpt2: Conv1D weights are stored [in, out]', () => {
    const ckpt = openCheckpoint(join(tinyModelsDir, 'tiny-gpt2'));
    assert.deepEqual(ckpt.info('transformer.wte.weight'), { dtype: 'F32', shape: [4096, 64] });
    assert.deepEqual(ckpt.info('transformer.wpe.weight').shape, [128, 64]);
    assert.deepEqual(ckpt.info('transformer.h.0.attn.c_attn.weight').shape, [64, 192]);
    assert.deepEqual(ckpt.info('transformer.h.2.mlp.c_fc.weight').shape, [64, 256]);
    assert.deepEqual(ckpt.info('transformer.h.2.mlp.c_proj.weight').shape, [256, 64]);
    assert.equal(ckpt.size, 4 + 3 * 12);
  });

  test('tiny-gpt-neox: fused QKV [3d, d], MLP 4d', () => {
    const ckpt = openCheckpoint(join(tinyModelsDir, 'tiny-gpt-neox'));
    assert.deepEqual(ckpt.info('gpt_neox.layers.1.attention.query_key_value.weight'), { dtype: 'F16', shape: [192, 64] });
    assert.deepEqual(ckpt.info('gpt_neox.layers.1.mlp.dense_h_to_4h.weight').shape, [256, 64]);
    assert.deepEqual(ckpt.info('gpt_neox.embed_in.weight').shape, [4096, 64]);
  });

  test('tiny-llama: grouped-query attention, 4 heads and 2 kv heads of 16', () => {
    const ckpt = openCheckpoint(join(tinyModelsDir, 'tiny-llama'));
    assert.deepEqual(ckpt.info('model.layers.0.self_attn.q_proj.weight'), { dtype: 'BF16', shape: [64, 64] });
    assert.deepEqual(ckpt.info('model.layers.0.self_attn.k_proj.weight').shape, [32, 64]);
    assert.deepEqual(ckpt.info('model.layers.0.self_attn.v_proj.weight').shape, [32, 64]);
    assert.deepEqual(ckpt.info('model.layers.0.mlp.gate_proj.weight').shape, [176, 64]);
    assert.deepEqual(ckpt.info('model.norm.weight').shape, [64]);
  });

  test('small-lm: 6 layers, d_model 256, context 256, F16, 5.85M parameters, tied head', () => {
    const ckpt = openCheckpoint(smallLmDir);
    assert.equal(ckpt.storageDtype, 'F16');
    assert.deepEqual(ckpt.info('transformer.wte.weight'), { dtype: 'F16', shape: [4096, 256] });
    assert.deepEqual(ckpt.info('transformer.wpe.weight').shape, [256, 256]);
    assert.ok(ckpt.has('transformer.h.5.ln_2.bias') && !ckpt.has('transformer.h.6.ln_1.weight'));
    assert.equal(ckpt.has('lm_head.weight'), false);
    const params = ckpt.names().reduce((s, n) => s + numel(ckpt.info(n).shape), 0);
    assert.equal(Math.round(params / 1e4) / 100, 5.85);
  });

  test('tensors are views of one buffer per file, aligned to their element size', () => {
    for (const dir of [...Object.keys(models).map((m) => join(tinyModelsDir, m)), smallLmDir]) {
      const ckpt = openCheckpoint(dir);
      const buffers = new Set(ckpt.names().map((n) => ckpt.getRaw(n).bytes.buffer));
      assert.equal(buffers.size, 1, dir);
      for (const n of ckpt.names()) {
        const { dtype, bytes } = ckpt.getRaw(n);
        assert.equal(bytes.byteOffset % dtypeSize(dtype), 0, n);
      }
    }
  });

  test('F32 getF32 is a view of the checkpoint memory (no copy)', () => {
    const ckpt = openCheckpoint(join(tinyModelsDir, 'tiny-gpt2'));
    const raw = ckpt.getRaw('transformer.wte.weight');
    const f = ckpt.getF32('transformer.wte.weight');
    assert.equal(f.buffer, raw.bytes.buffer);
    assert.equal(f.byteOffset, raw.bytes.byteOffset);
    assert.equal(f.length, 4096 * 64);
  });

  test('getF32 of F32 equals the file bytes read as little-endian floats', () => {
    const path = join(tinyModelsDir, 'tiny-gpt2', 'model.safetensors');
    const { bytes } = rawFromFile(path, 'transformer.h.1.attn.c_attn.weight');
    const f = openSafetensors(path).getF32('transformer.h.1.attn.c_attn.weight');
    for (let i = 0; i < f.length; i++) assert.equal(f[i], bytes.readFloatLE(4 * i));
  });

  test('F16 decodes exactly (every element of a tensor against the bit-field formula)', () => {
    const path = join(tinyModelsDir, 'tiny-gpt-neox', 'model.safetensors');
    for (const name of ['gpt_neox.embed_in.weight', 'gpt_neox.layers.2.attention.query_key_value.bias']) {
      const { dtype, bytes } = rawFromFile(path, name);
      assert.equal(dtype, 'F16');
      const f = openSafetensors(path).getF32(name);
      assert.equal(f.length, bytes.length / 2);
      for (let i = 0; i < f.length; i++) assert.equal(f[i], refF16(bytes.readUInt16LE(2 * i)), `${name}[${i}]`);
    }
  });

  test('BF16 decodes exactly (every element of a tensor against the bit-field formula)', () => {
    const path = join(tinyModelsDir, 'tiny-llama', 'model.safetensors');
    for (const name of ['model.embed_tokens.weight', 'model.layers.1.self_attn.k_proj.weight', 'model.norm.weight']) {
      const { dtype, bytes } = rawFromFile(path, name);
      assert.equal(dtype, 'BF16');
      const f = openSafetensors(path).getF32(name);
      assert.equal(f.length, bytes.length / 2);
      for (let i = 0; i < f.length; i++) assert.equal(f[i], refBf16(bytes.readUInt16LE(2 * i)), `${name}[${i}]`);
    }
  });

  test('a few hand-checked half values decode as expected', () => {
    // 0x3c00 = 1, 0xc000 = -2, 0x7bff = 65504, 0x0001 = 2^-24 (F16); 0x3f80 = 1, 0xc049 = -3.140625 (BF16).
    assert.deepEqual([0x3c00, 0xc000, 0x7bff, 0x0001].map(refF16), [1, -2, 65504, 2 ** -24]);
    assert.deepEqual([0x3f80, 0xc049].map(refBf16), [1, -3.140625]);
  });

  test('the data buffer is read on demand when above maxResidentBytes, with the same values', () => {
    const path = join(tinyModelsDir, 'tiny-llama', 'model.safetensors');
    const lazy = SafetensorsFile.read(path, { maxResidentBytes: 1000 });
    const eager = SafetensorsFile.read(path);
    assert.equal(lazy.resident, false);
    assert.equal(eager.resident, true);
    for (const name of ['model.norm.weight', 'lm_head.weight']) {
      assert.deepEqual(lazy.bytes(lazy.entries.get(name)!), eager.bytes(eager.entries.get(name)!));
    }
  });
});

interface GoldenIndex {
  sequences: Record<string, number[]>;
  models: Record<string, {
    num_hidden_layers: number;
    num_hidden_states: number;
    hidden_size: number;
    vocab_size: number;
    files: Record<string, { path: string; length: number; logits_abs_max: number; last_token_top5: number[]; hidden_state_rms: number[] }>;
  }>;
}

describe('golden files', () => {
  const index = JSON.parse(readFileSync(join(goldenDir, 'index.json'), 'utf8')) as GoldenIndex;

  test('index.json lists the three tiny models with seq7 and seq32', () => {
    assert.deepEqual(Object.keys(index.models).sort(), ['tiny-gpt-neox', 'tiny-gpt2', 'tiny-llama']);
    for (const m of Object.values(index.models)) assert.deepEqual(Object.keys(m.files).sort(), ['seq32', 'seq7']);
  });

  for (const [model, info] of Object.entries(index.models)) {
    for (const [seq, file] of Object.entries(info.files)) {
      test(`${model}/${seq}: tensors, dtypes, shapes and summary values as in index.json`, () => {
        const ckpt = openSafetensors(join(fixturesRoot, file.path));
        const T = file.length;
        const L = info.num_hidden_layers;
        assert.equal(info.num_hidden_states, L + 1);
        const expected = ['input_ids', 'logits', ...Array.from({ length: L + 1 }, (_, i) => `hidden_states.${i}`)].sort();
        assert.deepEqual(ckpt.names(), expected);
        assert.equal(ckpt.metadata.model, model);

        assert.deepEqual(ckpt.info('input_ids'), { dtype: 'I64', shape: [1, T] });
        assert.deepEqual(decodeTokenIdList(ckpt.getRaw('input_ids').bytes, 'I64'), index.sequences[seq]);

        const logits = ckpt.getF32('logits');
        assert.deepEqual(ckpt.info('logits'), { dtype: 'F32', shape: [1, T, info.vocab_size] });
        let absMax = 0;
        for (const v of logits) absMax = Math.max(absMax, Math.abs(v));
        assert.ok(Math.abs(absMax - file.logits_abs_max) < 1e-5 * file.logits_abs_max, `max |logit| ${absMax}`);
        const last = logits.subarray((T - 1) * info.vocab_size);
        const top5 = [...last.keys()].sort((a, b) => last[b] - last[a]).slice(0, 5);
        assert.deepEqual(top5, file.last_token_top5);

        for (let i = 0; i <= L; i++) {
          assert.deepEqual(ckpt.info(`hidden_states.${i}`), { dtype: 'F32', shape: [1, T, info.hidden_size] });
          const h = ckpt.getF32(`hidden_states.${i}`);
          const rms = Math.sqrt(h.reduce((s, v) => s + v * v, 0) / h.length);
          assert.ok(Math.abs(rms - file.hidden_state_rms[i]) < 1e-5 * file.hidden_state_rms[i], `rms of hidden_states.${i}: ${rms}`);
        }
      });
    }
  }
});

// config.json parsing of qwen3, gemma2 and phi3: the fixture configs as transformers 5
// writes them (rope_parameters, layer_types), the same models in the transformers 4 layout,
// the defaults of each config class, and the refusals with the field they name.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { archConfigFrom, ConfigError, loadModelConfig, parseModelConfig, UnsupportedModelError, type ConfigErrorKind, type ModelConfig } from '../src/index';
import { longropeTables } from '../src/architectures/phi3/longrope';

type Json = Record<string, unknown>;
const json = (model: string) => JSON.parse(readFileSync(join(tinyModelsDir, model, 'config.json'), 'utf8')) as Json;
const without = (j: Json, ...keys: string[]) => Object.fromEntries(Object.entries(j).filter(([k]) => !keys.includes(k)));
/** A parsed config without `raw`, to compare two spellings of the same model. */
const meaning = (c: ModelConfig) => ({ ...c, raw: undefined, torchDtype: undefined });

function assertConfigError(fn: () => unknown, kind: ConfigErrorKind, field: string | undefined, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    assert.equal(e.kind, kind);
    assert.equal(e.field, field);
    assert.match(e.message, re);
    return true;
  });
}

describe('qwen3, gemma2, phi3 fixture configs (transformers 5 layout)', () => {
  test('qwen3: explicit head_dim 24, GQA, untied, rope_theta inside rope_parameters', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-qwen3'));
    assert.ok(c.modelType === 'qwen3');
    assert.deepEqual([c.dModel, c.numHeads, c.numKvHeads, c.headDim, c.rope.rotaryDim, c.rope.theta, c.tieWordEmbeddings, c.qkvBias], [64, 4, 2, 24, 24, 1e6, false, false]);
    assert.deepEqual([c.layerTypes, c.slidingWindow, c.rope.scaling], [['full_attention', 'full_attention', 'full_attention'], null, null]);
    const w = loadModelConfig(join(tinyModelsDir, 'tiny-qwen3-window-tied'));
    assert.ok(w.modelType === 'qwen3');
    assert.deepEqual([w.numKvHeads, w.tieWordEmbeddings, w.qkvBias, w.attnOutBias, w.mlpBias], [1, true, true, true, false]);
    assert.deepEqual([w.layerTypes, w.slidingWindow], [['full_attention', 'sliding_attention', 'sliding_attention'], 5]);
  });

  test('gemma2: layer types, window, query_pre_attn_scalar, both softcaps (or null = off)', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-gemma2'));
    assert.ok(c.modelType === 'gemma2');
    assert.deepEqual([c.layerTypes, c.slidingWindow], [['sliding_attention', 'full_attention', 'sliding_attention'], 5]);
    assert.deepEqual([c.queryPreAttnScalar, c.attnLogitSoftcapping, c.finalLogitSoftcapping, c.activation, c.tieWordEmbeddings], [24, 2, 8, 'gelu_pytorch_tanh', true]);
    const n = loadModelConfig(join(tinyModelsDir, 'tiny-gemma2-nocap'));
    assert.ok(n.modelType === 'gemma2');
    assert.deepEqual([n.attnLogitSoftcapping, n.finalLogitSoftcapping, n.layerTypes[0], n.tieWordEmbeddings, n.qkvBias], [null, null, 'full_attention', false, true]);
  });

  test('phi3: whole-head rotary without scaling; partial rotary + longrope resolved as transformers does', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-phi3'));
    assert.ok(c.modelType === 'phi3');
    assert.deepEqual([c.headDim, c.rope.rotaryDim, c.rope.scaling, c.slidingWindow, c.normEps, c.activation], [16, 16, null, null, 1e-5, 'silu']);
    const l = loadModelConfig(join(tinyModelsDir, 'tiny-phi3-longrope'));
    assert.ok(l.modelType === 'phi3');
    assert.deepEqual([l.numKvHeads, l.rope.rotaryDim, l.partialRotaryFactor, l.slidingWindow], [2, 8, 0.5, 9]);
    // factor = max_position_embeddings 64 / original 16 = 4
    assert.deepEqual(l.rope.scaling, {
      type: 'longrope', shortFactor: [1, 1.25, 1.75, 2.5], longFactor: [1.5, 3, 7, 19], originalMaxPositionEmbeddings: 16,
      attentionFactor: Math.sqrt(1 + Math.log(4) / Math.log(16)),
    });
  });
});

describe('the transformers 4 layout of the same models means the same', () => {
  test('top-level rope_theta, no layer_types (derived per family), phi3 rope_scaling "su"', () => {
    const v4 = (model: string, extra: Json) => parseModelConfig({ ...without(json(model), 'rope_parameters', 'layer_types', 'dtype'), ...extra });
    const v5 = (model: string) => loadModelConfig(join(tinyModelsDir, model));
    assert.deepEqual(meaning(v4('tiny-qwen3', { rope_theta: 1e6 })), meaning(v5('tiny-qwen3')));
    // qwen3: sliding from max_window_layers (1) on, when use_sliding_window
    assert.deepEqual(meaning(v4('tiny-qwen3-window-tied', { rope_theta: 10000 })), meaning(v5('tiny-qwen3-window-tied')));
    // gemma2: sliding on even layers
    assert.deepEqual(meaning(v4('tiny-gemma2', { rope_theta: 10000 })), meaning(v5('tiny-gemma2')));
    const l = json('tiny-phi3-longrope');
    const rp = l.rope_parameters as Json;
    const su = v4('tiny-phi3-longrope', { rope_theta: 10000, rope_scaling: { type: 'su', short_factor: rp.short_factor, long_factor: rp.long_factor } });
    assert.deepEqual(meaning(su), meaning(v5('tiny-phi3-longrope')));
  });

  test('llama too reads rope_theta and the scaling from rope_parameters', () => {
    const llama = without(json('tiny-qwen3'), 'rope_parameters');
    const c = parseModelConfig({ ...llama, model_type: 'llama', rope_parameters: { rope_type: 'default', rope_theta: 500000 } });
    assert.ok(c.modelType === 'llama' && c.rope.theta === 500000 && c.rope.scaling === null);
    const s = parseModelConfig({ ...llama, model_type: 'llama', rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 10 } });
    assert.ok(s.modelType === 'llama');
    assert.deepEqual([s.rope.theta, s.rope.scaling], [10, { type: 'linear', factor: 2 }]);
  });
});

describe('defaults of the config classes', () => {
  const minimal: Json = { hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100 };
  test('qwen3: head_dim 128, no window, full attention everywhere, theta 10000, untied', () => {
    const c = parseModelConfig({ ...minimal, model_type: 'qwen3' });
    assert.ok(c.modelType === 'qwen3');
    assert.deepEqual([c.headDim, c.numKvHeads, c.slidingWindow, c.layerTypes, c.rope.theta, c.tieWordEmbeddings, c.contextLength], [128, 4, null, ['full_attention', 'full_attention'], 10000, false, 32768]);
    // use_sliding_window without sliding_window: 4096, from max_window_layers (28) on
    const w = parseModelConfig({ ...minimal, model_type: 'qwen3', use_sliding_window: true, max_window_layers: 1 });
    assert.ok(w.modelType === 'qwen3');
    assert.deepEqual([w.slidingWindow, w.layerTypes], [4096, ['full_attention', 'sliding_attention']]);
  });

  test('gemma2: head_dim 256, query_pre_attn_scalar 256, window 4096, softcaps 50 and 30, tied', () => {
    const c = parseModelConfig({ ...minimal, model_type: 'gemma2' });
    assert.ok(c.modelType === 'gemma2');
    assert.deepEqual(
      [c.headDim, c.queryPreAttnScalar, c.slidingWindow, c.attnLogitSoftcapping, c.finalLogitSoftcapping, c.tieWordEmbeddings, c.layerTypes],
      [256, 256, 4096, 50, 30, true, ['sliding_attention', 'full_attention']],
    );
  });

  test('phi3: rms_norm_eps 1e-5, whole-head rotary, no window, context 4096', () => {
    const c = parseModelConfig({ ...minimal, model_type: 'phi3' });
    assert.ok(c.modelType === 'phi3');
    assert.deepEqual([c.normEps, c.rope.rotaryDim, c.slidingWindow, c.contextLength, c.tieWordEmbeddings], [1e-5, 16, null, 4096, false]);
  });
});

describe('refusals name the field', () => {
  const longrope = () => json('tiny-phi3-longrope');
  const withRope = (j: Json, patch: Json) => ({ ...j, rope_parameters: { ...(j.rope_parameters as Json), ...patch } });

  test('phi3: longrope factors must be rotaryDim / 2 numbers', () => {
    assertConfigError(() => parseModelConfig(withRope(longrope(), { short_factor: [1, 2, 3] })), 'invalid', 'rope_parameters', /rope_parameters\.short_factor has 3 entries but the rotary dims \(8\) need 4/);
    assertConfigError(() => parseModelConfig(withRope(longrope(), { long_factor: 'x' })), 'invalid', 'rope_parameters', /rope_parameters\.long_factor must be a list of 4 numbers > 0 for longrope/);
    assertConfigError(() => parseModelConfig(withRope(longrope(), { long_factor: undefined })), 'invalid', 'rope_parameters', /long_factor must be a list/);
  });

  test('phi3: rope types other than longrope (or su / yarn, read as longrope) are refused', () => {
    for (const type of ['dynamic', 'linear', 'llama3']) {
      assertConfigError(() => parseModelConfig(withRope(longrope(), { rope_type: type, type })), 'unsupported', 'rope_parameters', new RegExp(`type "${type}" is not supported for phi3 \\(supported: longrope`));
    }
    const yarn = parseModelConfig(withRope(longrope(), { rope_type: 'yarn', type: 'yarn' }));
    assert.ok(yarn.modelType === 'phi3' && yarn.rope.scaling?.type === 'longrope');
  });

  test('phi3: a rotary width that is not even is refused', () => {
    const v4 = without(json('tiny-phi3'), 'rope_parameters');
    assertConfigError(() => parseModelConfig({ ...v4, partial_rotary_factor: 0.1875 }), 'invalid', 'partial_rotary_factor', /head_dim 16 x partial_rotary_factor 0\.1875 gives 3 rotary dims, which must be even/);
    assertConfigError(() => parseModelConfig(withRope(json('tiny-phi3'), { partial_rotary_factor: 0.1875 })), 'invalid', 'rope_parameters', /head_dim 16 x rope_parameters\.partial_rotary_factor 0\.1875 gives 3/);
    // as transformers: the rope dict's factor wins over the top-level one
    const both = parseModelConfig({ ...withRope(json('tiny-phi3'), { partial_rotary_factor: 0.5 }), partial_rotary_factor: 0.25 });
    assert.ok(both.modelType === 'phi3' && both.rope.rotaryDim === 8);
    assertConfigError(() => parseModelConfig(withRope(longrope(), { partial_rotary_factor: 1.5 })), 'invalid', 'rope_parameters', /rope_parameters\.partial_rotary_factor must be a number in \(0, 1\], got 1\.5/);
  });

  test('qwen3 / gemma2: rope scaling is refused (yarn at parse time, linear at load)', () => {
    assertConfigError(() => parseModelConfig(withRope(json('tiny-qwen3'), { rope_type: 'yarn', factor: 4 })), 'unsupported', 'rope_parameters', /rope_parameters type "yarn" is not supported \(supported: linear, llama3, or none\)/);
    const linear = parseModelConfig(withRope(json('tiny-gemma2'), { rope_type: 'linear', factor: 2 }));
    assert.throws(() => archConfigFrom(linear, 'tiny-gemma2/config.json'), (e: unknown) => e instanceof UnsupportedModelError && /tiny-gemma2\/config\.json: rope scaling linear is not supported for gemma2/.test(e.message));
    assertConfigError(() => parseModelConfig(withRope(json('tiny-qwen3'), { rope_theta: 'big' })), 'invalid', 'rope_parameters', /rope_parameters\.rope_theta must be a finite number > 0, got "big"/);
    assertConfigError(() => parseModelConfig({ ...json('tiny-qwen3'), rope_parameters: { full_attention: { rope_theta: 1 }, sliding_attention: { rope_theta: 2 } } }), 'unsupported', 'rope_parameters', /per layer type \(full_attention, sliding_attention\) is not supported/);
  });

  test('layer_types: unknown kinds, wrong length, sliding layers without a window', () => {
    assertConfigError(() => parseModelConfig({ ...json('tiny-gemma2'), layer_types: ['sliding_attention', 'chunked_attention', 'full_attention'] }), 'unsupported', 'layer_types', /layer_types \["chunked_attention"\] are not supported/);
    assertConfigError(() => parseModelConfig({ ...json('tiny-gemma2'), layer_types: ['full_attention'] }), 'invalid', 'layer_types', /layer_types has 1 entries but num_hidden_layers is 3/);
    assertConfigError(() => parseModelConfig({ ...json('tiny-gemma2'), sliding_window: null }), 'invalid', 'layer_types', /sliding_attention layers but there is no sliding window \(sliding_window is null\)/);
    assertConfigError(() => parseModelConfig({ ...json('tiny-qwen3-window-tied'), use_sliding_window: false }), 'invalid', 'layer_types', /no sliding window \(use_sliding_window is false\)/);
  });

  test('gemma2: bidirectional attention is refused', () => {
    assertConfigError(() => parseModelConfig({ ...json('tiny-gemma2'), use_bidirectional_attention: true }), 'unsupported', 'use_bidirectional_attention', /use_bidirectional_attention true .* is not supported/);
  });
});

test('longrope tables: short factors up to original_max_position_embeddings tokens, long beyond, both times the attention factor', () => {
  const s = { shortFactor: [1, 2], longFactor: [3, 5], originalMaxPositionEmbeddings: 6, attentionFactor: 1.25 };
  for (const [seq, factors] of [[6, s.shortFactor], [7, s.longFactor]] as const) {
    const { cos, sin } = longropeTables(seq, 4, 100, s);
    assert.deepEqual(cos.shape, [seq, 4]);
    for (let t = 0; t < seq; t++) {
      for (let k = 0; k < 2; k++) {
        const angle = t / (factors[k] * 100 ** (k / 2));
        for (const j of [k, k + 2]) {
          assert.ok(Math.abs(cos.data[t * 4 + j] - 1.25 * Math.cos(angle)) < 1e-6, `seq ${seq} cos[${t}, ${j}]`);
          assert.ok(Math.abs(sin.data[t * 4 + j] - 1.25 * Math.sin(angle)) < 1e-6, `seq ${seq} sin[${t}, ${j}]`);
        }
      }
    }
  }
});

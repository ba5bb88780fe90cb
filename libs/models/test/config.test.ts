// config.json -> ModelConfig: the fixture configs, the llama family variants, HF
// defaults, and every error with the field it names.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { smallLmDir, tinyModelsDir } from '@tuned-lens/fixtures';
import {
  ConfigError, loadModelConfig, parseModelConfig, SUPPORTED_MODEL_TYPES, type ConfigErrorKind, type ModelConfig,
} from '../src/config/index.js';

const fixtureJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
const gpt2Json = () => fixtureJson(join(tinyModelsDir, 'tiny-gpt2'));
const llamaJson = () => fixtureJson(join(tinyModelsDir, 'tiny-llama'));

/** The common fields, without `raw` and family extras, for compact comparisons. */
function common(c: ModelConfig) {
  const { modelType, numLayers, dModel, numHeads, numKvHeads, headDim, vocabSize, contextLength, intermediateSize, normType, normEps, activation, tieWordEmbeddings, qkvBias, attnOutBias, mlpBias } = c;
  return { modelType, numLayers, dModel, numHeads, numKvHeads, headDim, vocabSize, contextLength, intermediateSize, normType, normEps, activation, tieWordEmbeddings, qkvBias, attnOutBias, mlpBias };
}

describe('fixture configs', () => {
  test('tiny-gpt2: n_inner null -> 4 * n_embd, tied, gelu_new', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-gpt2'));
    assert.deepEqual(common(c), {
      modelType: 'gpt2', numLayers: 3, dModel: 64, numHeads: 4, numKvHeads: 4, headDim: 16, vocabSize: 4096, contextLength: 128,
      intermediateSize: 256, normType: 'layernorm', normEps: 1e-5, activation: 'gelu_new', tieWordEmbeddings: true,
      qkvBias: true, attnOutBias: true, mlpBias: true,
    });
    assert.equal(c.modelType === 'gpt2' && c.scaleAttnWeights && !c.scaleAttnByInverseLayerIdx, true);
    assert.equal(c.bosTokenId, 4095);
    assert.equal(c.eosTokenId, 4095);
    assert.equal(c.torchDtype, 'float32');
    assert.equal(c.raw.n_ctx, 128);
  });

  test('tiny-gpt-neox: rotary_pct 0.25 -> 4 rotary dims of 16, parallel residual, untied', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-gpt-neox'));
    assert.deepEqual(common(c), {
      modelType: 'gpt_neox', numLayers: 3, dModel: 64, numHeads: 4, numKvHeads: 4, headDim: 16, vocabSize: 4096, contextLength: 128,
      intermediateSize: 256, normType: 'layernorm', normEps: 1e-5, activation: 'gelu', tieWordEmbeddings: false,
      qkvBias: true, attnOutBias: true, mlpBias: true,
    });
    assert.ok(c.modelType === 'gpt_neox');
    assert.deepEqual(c.rope, { theta: 10000, rotaryDim: 4, scaling: null });
    assert.equal(c.rotaryPct, 0.25);
    assert.equal(c.useParallelResidual, true);
  });

  test('tiny-llama: 4 heads, 2 kv heads, RMSNorm 1e-6, silu, no biases', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-llama'));
    assert.deepEqual(common(c), {
      modelType: 'llama', numLayers: 3, dModel: 64, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 4096, contextLength: 128,
      intermediateSize: 176, normType: 'rmsnorm', normEps: 1e-6, activation: 'silu', tieWordEmbeddings: false,
      qkvBias: false, attnOutBias: false, mlpBias: false,
    });
    assert.ok(c.modelType === 'llama');
    assert.deepEqual(c.rope, { theta: 10000, rotaryDim: 16, scaling: null });
    assert.equal(c.slidingWindow, null);
    assert.equal(c.torchDtype, 'bfloat16');
  });

  test('small-lm: gpt2, 6 layers, d 256, 8 heads, context 256, tied', () => {
    const c = loadModelConfig(join(smallLmDir, 'config.json'));
    assert.deepEqual(common(c), {
      modelType: 'gpt2', numLayers: 6, dModel: 256, numHeads: 8, numKvHeads: 8, headDim: 32, vocabSize: 4096, contextLength: 256,
      intermediateSize: 1024, normType: 'layernorm', normEps: 1e-5, activation: 'gelu_new', tieWordEmbeddings: true,
      qkvBias: true, attnOutBias: true, mlpBias: true,
    });
  });
});

describe('families and defaults', () => {
  test('gpt2 defaults: n_inner, epsilon, activation, tying', () => {
    const c = parseModelConfig({ model_type: 'gpt2', n_layer: 2, n_embd: 32, n_head: 2, n_positions: 64, vocab_size: 100, n_inner: 48 });
    assert.equal(c.intermediateSize, 48);
    assert.equal(c.normEps, 1e-5);
    assert.equal(c.activation, 'gelu_new');
    assert.equal(c.tieWordEmbeddings, true);
    assert.equal(c.bosTokenId, null);
  });

  test('gpt_neox: renamed fields (partial_rotary_factor, rope_theta), sequential residual, no attention bias', () => {
    const j: Record<string, unknown> = { ...fixtureJson(join(tinyModelsDir, 'tiny-gpt-neox')), use_parallel_residual: false, attention_bias: false };
    delete j.rotary_pct;
    delete j.rotary_emb_base;
    const c = parseModelConfig({ ...j, partial_rotary_factor: 0.5, rope_theta: 500 });
    assert.ok(c.modelType === 'gpt_neox');
    assert.deepEqual(c.rope, { theta: 500, rotaryDim: 8, scaling: null });
    assert.equal(c.useParallelResidual, false);
    assert.equal(c.qkvBias, false);
  });

  test('llama: attention_bias and mlp_bias, explicit head_dim, llama3 rope scaling, several eos ids', () => {
    const c = parseModelConfig({
      ...llamaJson(), attention_bias: true, mlp_bias: true, head_dim: 32, eos_token_id: [1, 2],
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    assert.ok(c.modelType === 'llama');
    assert.equal(c.headDim, 32);
    assert.deepEqual([c.qkvBias, c.attnOutBias, c.mlpBias], [true, true, true]);
    assert.deepEqual(c.rope.scaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    assert.equal(c.rope.rotaryDim, 32);
    assert.deepEqual(c.eosTokenId, [1, 2]);
  });

  test('llama: num_key_value_heads defaults to num_attention_heads; rope_scaling linear and "default"', () => {
    const j = llamaJson();
    delete j.num_key_value_heads;
    const c = parseModelConfig({ ...j, rope_scaling: { type: 'linear', factor: 2 } });
    assert.equal(c.numKvHeads, 4);
    assert.ok(c.modelType === 'llama');
    assert.deepEqual(c.rope.scaling, { type: 'linear', factor: 2 });
    const d = parseModelConfig({ ...j, rope_scaling: { rope_type: 'default' } });
    assert.ok(d.modelType === 'llama' && d.rope.scaling === null);
  });

  test('mistral: sliding window defaults to 4096, null means full attention', () => {
    const j: Record<string, unknown> = { ...llamaJson(), model_type: 'mistral' };
    delete j.max_position_embeddings;
    delete j.sliding_window;
    const c = parseModelConfig(j);
    assert.ok(c.modelType === 'mistral');
    assert.equal(c.slidingWindow, 4096);
    assert.equal(c.contextLength, 131072);
    const d = parseModelConfig({ ...j, sliding_window: null });
    assert.ok(d.modelType === 'mistral' && d.slidingWindow === null);
  });

  test('qwen2: q/k/v biases but none on o_proj; use_sliding_window is refused', () => {
    const c = parseModelConfig({ ...llamaJson(), model_type: 'qwen2', tie_word_embeddings: true });
    assert.deepEqual([c.qkvBias, c.attnOutBias, c.mlpBias, c.tieWordEmbeddings], [true, false, false, true]);
    assertConfigError(() => parseModelConfig({ ...llamaJson(), model_type: 'qwen2', use_sliding_window: true }), 'unsupported', 'use_sliding_window', /use_sliding_window true is not supported/);
  });

  test('gemma: head_dim 256 by default, gelu_pytorch_tanh whatever hidden_act says, tied', () => {
    const j: Record<string, unknown> = { ...llamaJson(), model_type: 'gemma', hidden_act: 'gelu' };
    delete j.tie_word_embeddings;
    const c = parseModelConfig(j);
    assert.ok(c.modelType === 'gemma');
    assert.deepEqual([c.headDim, c.rope.rotaryDim, c.activation, c.tieWordEmbeddings, c.normType], [256, 256, 'gelu_pytorch_tanh', true, 'rmsnorm']);
    assert.equal(parseModelConfig({ ...j, hidden_activation: 'gelu_new', head_dim: 16 }).activation, 'gelu_new');
  });
});

function assertConfigError(fn: () => unknown, kind: ConfigErrorKind, field: string | undefined, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    assert.equal(e.kind, kind);
    assert.equal(e.field, field);
    assert.match(e.message, re);
    return true;
  });
}

describe('errors', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('config.json missing: not_found, naming the folder', () => {
    assertConfigError(() => loadModelConfig(dir), 'not_found', undefined, /config\.json: missing \(looked for .*config\.json\)/);
  });

  test('config.json not JSON: invalid, with the parser message', () => {
    const sub = join(dir, 'badjson');
    mkdirSync(sub);
    writeFileSync(join(sub, 'config.json'), '{"model_type": "gpt2",');
    assertConfigError(() => loadModelConfig(sub), 'invalid', undefined, /^badjson\/config\.json: not valid JSON \(.+\)/);
  });

  test('not an object, or no model_type / a non-string one', () => {
    assertConfigError(() => parseModelConfig([1]), 'invalid', undefined, /must be a JSON object, got \[1\]/);
    assertConfigError(() => parseModelConfig({ n_layer: 3 }), 'invalid', 'model_type', /no "model_type" field \(supported: gpt2, gpt_neox, llama, mistral, qwen2, gemma, phi, opt, gpt_neo, gptj, bloom, qwen3, gemma2, phi3\)/);
    assertConfigError(() => parseModelConfig({ model_type: 7 }), 'invalid', 'model_type', /"model_type" must be a string, got 7/);
  });

  test('unknown model_type: unsupported, listing the supported ones (or the list passed in)', () => {
    assertConfigError(() => parseModelConfig({ model_type: 'bert' }), 'unsupported', 'model_type', /model_type "bert" is not supported \(supported: gpt2, gpt_neox, llama, mistral, qwen2, gemma, phi, opt, gpt_neo, gptj, bloom, qwen3, gemma2, phi3\)/);
    assertConfigError(() => parseModelConfig(llamaJson(), { supportedModelTypes: ['gpt2'] }), 'unsupported', 'model_type', /model_type "llama" is not supported \(supported: gpt2\)/);
    assertConfigError(() => parseModelConfig({ model_type: 'mamba' }, { supportedModelTypes: ['mamba'] }), 'unsupported', 'model_type', /"mamba" has no config parser/);
    assert.deepEqual([...SUPPORTED_MODEL_TYPES], ['gpt2', 'gpt_neox', 'llama', 'mistral', 'qwen2', 'gemma', 'phi', 'opt', 'gpt_neo', 'gptj', 'bloom', 'qwen3', 'gemma2', 'phi3']);
  });

  test('a required field missing (or null) is named', () => {
    for (const field of ['n_layer', 'n_embd', 'n_head', 'n_positions', 'vocab_size']) {
      const j = gpt2Json();
      delete j[field];
      assertConfigError(() => parseModelConfig(j), 'invalid', field, new RegExp(`required field "${field}" is missing`));
      assertConfigError(() => parseModelConfig({ ...j, [field]: null }), 'invalid', field, new RegExp(`required field "${field}" is missing`));
    }
    const j = llamaJson();
    delete j.intermediate_size;
    assertConfigError(() => parseModelConfig(j), 'invalid', 'intermediate_size', /required field "intermediate_size" is missing/);
  });

  test('a field of the wrong type or range is named with what was found', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...gpt2Json(), n_layer: '3' }, 'n_layer', /field "n_layer" must be an integer >= 1, got "3"/],
      [{ ...gpt2Json(), n_embd: 64.5 }, 'n_embd', /must be an integer >= 1, got 64\.5/],
      [{ ...gpt2Json(), n_head: 0 }, 'n_head', /must be an integer >= 1, got 0/],
      [{ ...gpt2Json(), layer_norm_epsilon: -1 }, 'layer_norm_epsilon', /must be a finite number > 0, got -1/],
      [{ ...gpt2Json(), tie_word_embeddings: 'yes' }, 'tie_word_embeddings', /must be a boolean, got "yes"/],
      [{ ...gpt2Json(), activation_function: 3 }, 'activation_function', /must be a non-empty string, got 3/],
      [{ ...gpt2Json(), bos_token_id: -1 }, 'bos_token_id', /must be a token id/],
      [{ ...gpt2Json(), n_head: 5 }, 'n_head', /n_embd 64 is not divisible by n_head 5/],
      [{ ...llamaJson(), num_key_value_heads: 3 }, 'num_key_value_heads', /num_attention_heads 4 is not a multiple of num_key_value_heads 3/],
      [{ ...llamaJson(), rope_theta: 'big' }, 'rope_theta', /field "rope_theta" must be a finite number > 0, got "big"/],
      [{ ...fixtureJson(join(tinyModelsDir, 'tiny-gpt-neox')), rotary_pct: 1.5 }, 'rotary_pct', /must be in \(0, 1\], got 1\.5/],
      [{ ...llamaJson(), rope_scaling: 'linear' }, 'rope_scaling', /"rope_scaling" must be an object or null/],
      [{ ...llamaJson(), rope_scaling: { type: 'linear' } }, 'rope_scaling', /rope_scaling\.factor must be a finite number > 0 for type "linear"/],
      [{ ...llamaJson(), rope_scaling: { factor: 2 } }, 'rope_scaling', /needs a string "rope_type"/],
    ];
    for (const [json, field, re] of cases) assertConfigError(() => parseModelConfig(json), 'invalid', field, re);
  });

  test('unsupported rope scaling types are refused, listing the supported ones', () => {
    for (const type of ['dynamic', 'yarn', 'longrope']) {
      assertConfigError(() => parseModelConfig({ ...llamaJson(), rope_scaling: { rope_type: type, factor: 4 } }), 'unsupported', 'rope_scaling',
        new RegExp(`rope_scaling type "${type}" is not supported \\(supported: linear, llama3, or none\\)`));
    }
  });

  test('messages start with the file label', () => {
    const sub = join(dir, 'my-model');
    mkdirSync(sub);
    writeFileSync(join(sub, 'config.json'), JSON.stringify({ ...gpt2Json(), n_layer: '3' }));
    assert.throws(() => loadModelConfig(sub), { message: 'my-model/config.json: field "n_layer" must be an integer >= 1, got "3"' });
  });
});

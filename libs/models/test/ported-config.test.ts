// config.json parsing of the ported families (gemma, phi, opt, gpt_neo, gptj, bloom): the
// fixture configs, HF defaults, the errors with the field they name, and the registry's
// answer for a model_type it does not know.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { architectureFor, ConfigError, loadModelConfig, parseModelConfig, supportedModelTypes, type ConfigErrorKind } from '../src/index';

const json = (model: string) => JSON.parse(readFileSync(join(tinyModelsDir, model, 'config.json'), 'utf8')) as Record<string, unknown>;

function assertConfigError(fn: () => unknown, kind: ConfigErrorKind, field: string | undefined, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    assert.equal(e.kind, kind);
    assert.equal(e.field, field);
    assert.match(e.message, re);
    return true;
  });
}

describe('ported fixture configs', () => {
  test('gemma: head_dim independent of hidden / heads, GQA or MQA, attention_bias, tied', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-gemma'));
    assert.ok(c.modelType === 'gemma');
    assert.deepEqual([c.dModel, c.numHeads, c.numKvHeads, c.headDim, c.rope.rotaryDim, c.tieWordEmbeddings], [48, 4, 2, 16, 16, true]);
    const m = loadModelConfig(join(tinyModelsDir, 'tiny-gemma-mqa-bias'));
    assert.ok(m.modelType === 'gemma');
    assert.deepEqual([m.dModel, m.numHeads, m.numKvHeads, m.headDim, m.qkvBias, m.attnOutBias, m.mlpBias], [32, 2, 1, 24, true, true, false]);
  });

  test('phi: rotary dims int(head_dim * partial_rotary_factor), qk_layernorm, GQA', () => {
    const a = loadModelConfig(join(tinyModelsDir, 'tiny-phi'));
    assert.ok(a.modelType === 'phi');
    assert.deepEqual([a.headDim, a.rope.rotaryDim, a.qkLayernorm, a.activation, a.tieWordEmbeddings], [8, 4, false, 'gelu_new', false]);
    const b = loadModelConfig(join(tinyModelsDir, 'tiny-phi-qk-norm'));
    assert.ok(b.modelType === 'phi');
    assert.deepEqual([b.numKvHeads, b.rope.rotaryDim, b.rope.theta, b.qkLayernorm], [3, 6, 5000, true]);
  });

  test('opt: pre-LN with final norm vs post-LN with projections and no final norm', () => {
    const a = loadModelConfig(join(tinyModelsDir, 'tiny-opt'));
    assert.ok(a.modelType === 'opt');
    assert.deepEqual([a.doLayerNormBefore, a.finalLayerNorm, a.wordEmbedProjDim, a.intermediateSize, a.activation, a.qkvBias], [true, true, 48, 96, 'relu', true]);
    const b = loadModelConfig(join(tinyModelsDir, 'tiny-opt-post-ln'));
    assert.ok(b.modelType === 'opt');
    assert.deepEqual([b.doLayerNormBefore, b.finalLayerNorm, b.wordEmbedProjDim, b.layerNormAffine, b.qkvBias, b.mlpBias], [false, false, 32, false, false, false]);
    const c = parseModelConfig({ ...json('tiny-opt'), _remove_final_layer_norm: true });
    assert.ok(c.modelType === 'opt' && !c.finalLayerNorm);
  });

  test('gpt_neo: attention_types expanded per layer, window, intermediate null -> 4d', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-gpt-neo'));
    assert.ok(c.modelType === 'gpt_neo');
    assert.deepEqual([c.attentionLayers, c.windowSize, c.intermediateSize], [['global', 'local', 'global'], 5, 160]);
  });

  test('gptj: rotary_dim, n_inner null -> 4 n_embd, untied', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-gptj'));
    assert.ok(c.modelType === 'gptj');
    assert.deepEqual([c.rope.rotaryDim, c.headDim, c.intermediateSize, c.tieWordEmbeddings], [8, 12, 192, false]);
    const j = json('tiny-gptj');
    delete j.rotary_dim;
    const d = parseModelConfig({ ...j, n_embd: 512, n_head: 4 });
    assert.ok(d.modelType === 'gptj' && d.rope.rotaryDim === 64);
  });

  test('bloom: n_embed wins over hidden_size (as in transformers), 4d MLP, post-LN residual flag', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-bloom-post-ln-residual'));
    assert.ok(c.modelType === 'bloom');
    assert.deepEqual([c.numHeads, c.headDim, c.intermediateSize, c.residualPostLayernorm, c.contextLength], [3, 16, 192, true, 2048]);
    const d = parseModelConfig({ ...json('tiny-bloom'), n_embed: 96 });
    assert.deepEqual([d.dModel, d.headDim], [96, 16]);
  });
});

describe('ported config errors', () => {
  test('a required field missing is named, per family', () => {
    const required: Record<string, string[]> = {
      'tiny-gemma': ['hidden_size', 'intermediate_size', 'num_hidden_layers', 'vocab_size'],
      'tiny-phi': ['hidden_size', 'intermediate_size', 'num_attention_heads', 'num_hidden_layers', 'vocab_size'],
      'tiny-opt': ['hidden_size', 'ffn_dim', 'num_attention_heads', 'num_hidden_layers', 'vocab_size'],
      'tiny-gpt-neo': ['hidden_size', 'num_heads', 'num_layers', 'vocab_size'],
      'tiny-gptj': ['n_embd', 'n_head', 'n_layer', 'vocab_size'],
      'tiny-bloom': ['hidden_size', 'n_head', 'n_layer', 'vocab_size'],
    };
    for (const [model, fields] of Object.entries(required)) {
      for (const field of fields) {
        const j = json(model);
        delete j[field];
        assertConfigError(() => parseModelConfig(j), 'invalid', field, new RegExp(`required field "${field}" is missing`));
      }
    }
  });

  test('phi: a rotary width that is not even is refused', () => {
    const phi = parseModelConfig({ ...json('tiny-phi'), partial_rotary_factor: 0.3 }); // int(8 * 0.3) = 2, as transformers
    assert.ok(phi.modelType === 'phi' && phi.rope.rotaryDim === 2);
    assertConfigError(() => parseModelConfig({ ...json('tiny-phi'), partial_rotary_factor: 0.375 }), 'invalid', 'partial_rotary_factor', /gives 3 rotary dims, which must be even/);
    assertConfigError(() => parseModelConfig({ ...json('tiny-phi'), num_key_value_heads: 2 }), 'invalid', 'num_key_value_heads', /num_attention_heads 5 is not a multiple of num_key_value_heads 2/);
  });

  test('gpt_neo: attention_types must expand to num_layers and agree with attention_layers', () => {
    assertConfigError(() => parseModelConfig({ ...json('tiny-gpt-neo'), num_layers: 4 }), 'invalid', 'attention_types', /expands to 3 layers but num_layers is 4/);
    assertConfigError(() => parseModelConfig({ ...json('tiny-gpt-neo'), attention_layers: ['local', 'local', 'global'] }), 'invalid', 'attention_layers', /disagrees with attention_types/);
    assertConfigError(() => parseModelConfig({ ...json('tiny-gpt-neo'), attention_types: [[['sparse'], 3]] }), 'invalid', 'attention_types', /must be a list of/);
  });

  test('gptj: rotary_dim must be even and fit in a head; null is refused', () => {
    assertConfigError(() => parseModelConfig({ ...json('tiny-gptj'), rotary_dim: 14 }), 'invalid', 'rotary_dim', /rotary_dim 14 must be even and at most the head size 12/);
    assertConfigError(() => parseModelConfig({ ...json('tiny-gptj'), rotary_dim: null }), 'unsupported', 'rotary_dim', /rotary_dim null/);
  });

  test('bloom: the width must split into heads', () => {
    assertConfigError(() => parseModelConfig({ ...json('tiny-bloom'), n_head: 5 }), 'invalid', 'n_head', /hidden_size 48 is not divisible by n_head 5/);
  });

  test('an unknown model_type lists every supported family, in the parser and in the registry', () => {
    const all = 'gpt2, gpt_neox, llama, mistral, qwen2, gemma, phi, opt, gpt_neo, gptj, bloom, qwen3, gemma2, phi3';
    assertConfigError(() => parseModelConfig({ ...json('tiny-gemma'), model_type: 'falcon' }), 'unsupported', 'model_type', new RegExp(`model_type "falcon" is not supported \\(supported: ${all}\\)`));
    assert.throws(() => architectureFor('falcon'), /model_type "falcon" is not supported; supported: bloom, gemma, gemma2, gpt2, gpt_neo, gpt_neox, gptj, llama, mistral, opt, phi, phi3, qwen2, qwen3$/);
    assert.deepEqual(supportedModelTypes(), ['bloom', 'gemma', 'gemma2', 'gpt2', 'gpt_neo', 'gpt_neox', 'gptj', 'llama', 'mistral', 'opt', 'phi', 'phi3', 'qwen2', 'qwen3']);
  });
});

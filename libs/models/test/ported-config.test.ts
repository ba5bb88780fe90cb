// config.json parsing of the ported families (gemma): the
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
  test('gemma: head_dim 16 with hidden 48 / 4 heads, GQA, tied', () => {
    const c = loadModelConfig(join(tinyModelsDir, 'tiny-gemma'));
    assert.ok(c.modelType === 'gemma');
    assert.deepEqual([c.dModel, c.numHeads, c.numKvHeads, c.headDim, c.rope.rotaryDim, c.tieWordEmbeddings], [48, 4, 2, 16, 16, true]);
  });

});

describe('ported config errors', () => {
  test('a required field missing is named, per family', () => {
    const required: Record<string, string[]> = {
      'tiny-gemma': ['hidden_size', 'intermediate_size', 'num_hidden_layers', 'vocab_size'],
    };
    for (const [model, fields] of Object.entries(required)) {
      for (const field of fields) {
        const j = json(model);
        delete j[field];
        assertConfigError(() => parseModelConfig(j), 'invalid', field, new RegExp(`required field "${field}" is missing`));
      }
    }
  });

  test('an unknown model_type lists every supported family, in the parser and in the registry', () => {
    const all = 'gpt2, gpt_neox, llama, mistral, qwen2, gemma';
    assertConfigError(() => parseModelConfig({ ...json('tiny-gemma'), model_type: 'falcon' }), 'unsupported', 'model_type', new RegExp(`model_type "falcon" is not supported \\(supported: ${all}\\)`));
    assert.throws(() => architectureFor('falcon'), /model_type "falcon" is not supported; supported: gemma, gpt2, gpt_neox, llama, mistral, qwen2$/);
    assert.deepEqual(supportedModelTypes(), ['gemma', 'gpt2', 'gpt_neox', 'llama', 'mistral', 'qwen2']);
  });
});

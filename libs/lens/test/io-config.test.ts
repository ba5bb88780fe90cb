// config.json in the original's layout: published configs parse, the original's defaults
// apply, unknown keys are warnings, bad fields are errors naming the field, another
// lens_type or a v0.0.x config is refused, and writing matches Python's json.dump.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lensConfigToJson, makeLensConfig, parseLensConfig, readLensConfig, writeLensConfig } from '../src/io/index.js';
import { expectError } from './expectLensError.js';

const root = mkdtempSync(join(tmpdir(), 'io-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

// The published Llama-2-7b lens config (hash abbreviated in the docs; any string is opaque).
const llama = {
  base_model_name_or_path: 'meta-llama/Llama-2-7b-hf', d_model: 4096, num_hidden_layers: 32, bias: true,
  base_model_revision: null, unembed_hash: '3313b622836b', lens_type: 'linear_tuned_lens',
};


describe('parsing', () => {
  test('a published config', () => {
    const { config, warnings } = parseLensConfig(llama);
    assert.deepEqual(config, {
      baseModelNameOrPath: 'meta-llama/Llama-2-7b-hf', dModel: 4096, numHiddenLayers: 32, bias: true,
      baseModelRevision: null, unembedHash: '3313b622836b', lensType: 'linear_tuned_lens', unembedSha256: null,
    });
    assert.deepEqual(warnings, []);
  });

  test("optional fields take the original's defaults", () => {
    const { config } = parseLensConfig({ base_model_name_or_path: 'gpt2', d_model: 768, num_hidden_layers: 12 });
    assert.equal(config.bias, true);
    assert.equal(config.baseModelRevision, null);
    assert.equal(config.unembedHash, null);
    assert.equal(config.lensType, 'linear_tuned_lens');
  });

  test('unknown keys are ignored with a warning each', () => {
    const { config, warnings } = parseLensConfig({ ...llama, future_key: 1, note: 'x' });
    assert.equal(config.dModel, 4096);
    assert.deepEqual(warnings, ["Ignoring config key 'future_key'", "Ignoring config key 'note'"]);
  });

  test('our tuned_lens_ts block', () => {
    const sha = 'ab'.repeat(32);
    assert.equal(parseLensConfig({ ...llama, tuned_lens_ts: { version: 1, unembed_sha256: sha } }).config.unembedSha256, sha);
    const newer = parseLensConfig({ ...llama, tuned_lens_ts: { version: 2, unembed_sha256: null, extra: true } });
    assert.deepEqual(newer.warnings, [
      '"tuned_lens_ts" has version 2, newer than 1: reading only the fields this version knows',
      "Ignoring config key 'tuned_lens_ts.extra'",
    ]);
    expectError(() => parseLensConfig({ ...llama, tuned_lens_ts: { version: 1, unembed_sha256: 'ABC' } }), 'invalid', /"tuned_lens_ts\.unembed_sha256" must be 64 lowercase hex digits/);
    expectError(() => parseLensConfig({ ...llama, tuned_lens_ts: { unembed_sha256: null } }), 'invalid', /"tuned_lens_ts\.version" must be a positive integer, got nothing/);
    expectError(() => parseLensConfig({ ...llama, tuned_lens_ts: 'v1' }), 'invalid', /"tuned_lens_ts" must be an object/);
  });
});

describe('errors name the field', () => {
  const without = (key: string): Record<string, unknown> => Object.fromEntries(Object.entries(llama).filter(([k]) => k !== key));

  test('missing required fields', () => {
    expectError(() => parseLensConfig(without('d_model'), 'lens/config.json'), 'invalid', /^lens\/config\.json: missing required field "d_model"$/);
    expectError(() => parseLensConfig({ lens_type: 'linear_tuned_lens' }), 'invalid', /missing required fields "base_model_name_or_path", "d_model", "num_hidden_layers"/);
  });

  test('wrong types and ranges', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ d_model: '4096' }, /"d_model" must be a positive integer, got "4096"/],
      [{ d_model: 0 }, /"d_model" must be a positive integer, got 0/],
      [{ d_model: 40.5 }, /"d_model" must be a positive integer, got 40\.5/],
      [{ num_hidden_layers: -1 }, /"num_hidden_layers" must be a positive integer/],
      [{ base_model_name_or_path: '' }, /"base_model_name_or_path" must be a non-empty string/],
      [{ bias: 'yes' }, /"bias" must be true or false, got "yes"/],
      [{ base_model_revision: 3 }, /"base_model_revision" must be a string or null, got 3/],
      [{ unembed_hash: ['x'] }, /"unembed_hash" must be a string or null/],
      [{ lens_type: 7 }, /"lens_type" must be a string, got 7/],
    ];
    for (const [patch, pattern] of cases) expectError(() => parseLensConfig({ ...llama, ...patch }), 'invalid', pattern);
    expectError(() => parseLensConfig([llama]), 'invalid', /must be a JSON object/);
    expectError(() => parseLensConfig(null), 'invalid', /must be a JSON object, got null/);
  });

  test('another lens_type, or a tuned-lens v0.0.x config, is refused as unsupported', () => {
    expectError(() => parseLensConfig({ ...llama, lens_type: 'mlp_tuned_lens' }), 'unsupported', /"lens_type" is "mlp_tuned_lens"; only "linear_tuned_lens" lenses are supported/);
    expectError(() => parseLensConfig({ d_model: 768, include_input: true, identity_init: true }), 'unsupported', /tuned-lens v0\.0\.x config \(keys include_input, identity_init\)/);
  });
});

describe('reading and writing files', () => {
  test("the JSON text is exactly Python's json.dump: one line, ', ' and ': ', ASCII escapes", () => {
    const config = makeLensConfig({ baseModelNameOrPath: 'org/modèle', dModel: 8, numHiddenLayers: 2, unembedHash: 'h' });
    assert.equal(
      lensConfigToJson(config),
      '{"base_model_name_or_path": "org/mod\\u00e8le", "d_model": 8, "num_hidden_layers": 2, "bias": true, "base_model_revision": null, ' +
        '"unembed_hash": "h", "lens_type": "linear_tuned_lens", "tuned_lens_ts": {"version": 1, "unembed_sha256": null}}',
    );
  });

  test('write then read round trips, atomically', () => {
    const dir = mkdtempSync(join(root, 't-'));
    const path = join(dir, 'config.json');
    const config = makeLensConfig({ baseModelNameOrPath: 'gpt2', dModel: 768, numHiddenLayers: 12, unembedSha256: 'cd'.repeat(32), baseModelRevision: 'main' });
    writeLensConfig(path, config);
    assert.deepEqual(readLensConfig(path), { config, warnings: [] });
    assert.deepEqual(readdirSync(dir), ['config.json']);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).tuned_lens_ts.unembed_sha256, 'cd'.repeat(32));
  });

  test('a config we would refuse is not written', () => {
    const dir = mkdtempSync(join(root, 't-'));
    const bad = { ...makeLensConfig({ baseModelNameOrPath: 'gpt2', dModel: 8, numHiddenLayers: 1 }), dModel: -3 };
    expectError(() => writeLensConfig(join(dir, 'config.json'), bad), 'invalid', /"d_model" must be a positive integer/);
    assert.deepEqual(readdirSync(dir), []);
    expectError(() => makeLensConfig({ baseModelNameOrPath: 'gpt2', dModel: 8, numHiddenLayers: 0 }), 'invalid', /"num_hidden_layers"/);
  });

  test('missing files and invalid JSON', () => {
    const dir = mkdtempSync(join(root, 't-'));
    expectError(() => readLensConfig(join(dir, 'config.json')), 'not_found', /config\.json: does not exist/);
    writeFileSync(join(dir, 'config.json'), '{"d_model": 7,');
    expectError(() => readLensConfig(join(dir, 'config.json')), 'corrupt', /config\.json: not valid JSON/);
  });
});

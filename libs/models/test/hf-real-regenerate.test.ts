// The committed qwen3/gemma2/phi3 fixtures (tiny checkpoints + goldens) are what
// hf_real.py writes with the real transformers: regenerated into a temp dir with the venv,
// checkpoints must be byte-identical, configs equal as JSON (transformers_version aside,
// which is reported when it differs), goldens equal up to float64 summation-order noise.
// Skipped, with the reason, where the venv cannot import transformers (CI has only
// Debian's torch): the committed files are then used as they are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturesRoot, hfRealGoldenIndex, hfRealTinyModelNames, tinyModelsDir } from '@tuned-lens/fixtures';
import { openCheckpoint } from '@tuned-lens/formats';

const PYTHON = process.env.TUNED_LENS_TRANSFORMERS_PYTHON ?? '/opt/torchvenv/bin/python';
const script = fileURLToPath(new URL('./golden/hf_real.py', import.meta.url));
const probe = spawnSync(PYTHON, ['-c', 'import torch, transformers; print(transformers.__version__)'], { encoding: 'utf8' });
const version = probe.status === 0 ? probe.stdout.trim() : undefined;
const skip = version
  ? false
  : `${PYTHON} cannot import torch and transformers (${(probe.error?.message ?? probe.stderr.trim().split('\n').pop()) || 'unknown error'}); set TUNED_LENS_TRANSFORMERS_PYTHON to a python with transformers 5 to check the committed goldens`;

type Index = { transformers_version: string; models: Record<string, { files: Record<string, { path: string }> }> };
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

test('hf_real.py reproduces the committed qwen3/gemma2/phi3 checkpoints and goldens', { skip, timeout: 600_000 }, () => {
  const index = json(hfRealGoldenIndex) as unknown as Index;
  const out = mkdtempSync(join(tmpdir(), 'hf-real-'));
  try {
    const run = spawnSync(PYTHON, [script, out], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(run.status, 0, `hf_real.py failed: ${run.stderr}`);
    const fresh = json(join(out, 'golden', 'hf-real-index.json')) as unknown as Index;
    const versions = `committed with transformers ${index.transformers_version}, regenerated with ${version}`;
    assert.deepEqual(Object.keys(fresh.models), [...hfRealTinyModelNames], 'models of hf_real.py vs the fixtures list');
    for (const model of hfRealTinyModelNames) {
      const want = readFileSync(join(tinyModelsDir, model, 'model.safetensors'));
      const got = readFileSync(join(out, 'tiny-models', model, 'model.safetensors'));
      assert.ok(want.equals(got), `${model}/model.safetensors differs from what hf_real.py writes (${versions})`);
      const { transformers_version: _a, ...wantConfig } = json(join(tinyModelsDir, model, 'config.json'));
      const { transformers_version: _b, ...gotConfig } = json(join(out, 'tiny-models', model, 'config.json'));
      assert.deepEqual(gotConfig, wantConfig, `${model}/config.json differs from what hf_real.py writes (${versions})`);
      assert.deepEqual(Object.keys(fresh.models[model].files), Object.keys(index.models[model].files), `${model}: sequences`);
      for (const { path } of Object.values(index.models[model].files)) {
        const a = openCheckpoint(join(fixturesRoot, path));
        const b = openCheckpoint(join(out, path));
        assert.deepEqual([...b.names()].sort(), [...a.names()].sort(), `${path}: tensor names`);
        for (const name of a.names()) {
          if (name === 'input_ids') continue;
          const x = a.getF32(name), y = b.getF32(name);
          assert.equal(x.length, y.length, `${path} ${name}: length`);
          for (let i = 0; i < x.length; i++) {
            assert.ok(Math.abs(x[i] - y[i]) <= 1e-6 * (1 + Math.abs(x[i])), `${path} ${name}[${i}]: committed ${x[i]}, regenerated ${y[i]} (${versions})`);
          }
        }
      }
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

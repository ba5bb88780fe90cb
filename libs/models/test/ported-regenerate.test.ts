// The committed ported fixtures (tiny checkpoints + goldens) are what hf_port.py
// writes: regenerated into a temp dir with Debian's torch, checkpoints and configs must
// be byte-identical and goldens equal up to float64 summation-order noise. Skipped, with
// the reason, when /usr/bin/python3 has no torch (the committed files are then used as is).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturesRoot, portedGoldenIndex, portedTinyModelNames, tinyModelsDir } from '@tuned-lens/fixtures';
import { openCheckpoint } from '@tuned-lens/formats';

const PYTHON = '/usr/bin/python3';
const script = fileURLToPath(new URL('./golden/hf_port.py', import.meta.url));
const env = { ...process.env, GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.hugetlb=1' };
const probe = spawnSync(PYTHON, ['-c', 'import torch'], { env, encoding: 'utf8' });
const skip = probe.status === 0 ? false : `${PYTHON} cannot import torch (${(probe.error?.message ?? probe.stderr.trim().split('\n').pop()) || 'unknown error'}); install python3-torch to check the committed goldens`;

test('hf_port.py reproduces the committed ported checkpoints and goldens', { skip }, () => {
  const out = mkdtempSync(join(tmpdir(), 'hf-port-'));
  try {
    const run = spawnSync(PYTHON, [script, out], { env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(run.status, 0, `hf_port.py failed: ${run.stderr}`);
    const index = JSON.parse(readFileSync(portedGoldenIndex, 'utf8')) as {
      models: Record<string, { num_hidden_layers: number; files: Record<string, { path: string }> }>;
    };
    const fresh = JSON.parse(readFileSync(join(out, 'golden', 'ported-index.json'), 'utf8')) as typeof index;
    for (const model of portedTinyModelNames) {
      for (const file of ['config.json', 'model.safetensors']) {
        const want = readFileSync(join(tinyModelsDir, model, file));
        const got = readFileSync(join(out, 'tiny-models', model, file));
        assert.ok(want.equals(got), `${model}/${file} differs from what hf_port.py writes`);
      }
      assert.deepEqual(Object.keys(fresh.models[model].files), Object.keys(index.models[model].files), `${model}: sequences`);
      for (const { path } of Object.values(index.models[model].files)) {
        const want = openCheckpoint(join(fixturesRoot, path));
        const got = openCheckpoint(join(out, path));
        assert.deepEqual([...got.names()].sort(), [...want.names()].sort(), `${path}: tensor names`);
        for (const name of want.names()) {
          if (name === 'input_ids') continue;
          const a = want.getF32(name), b = got.getF32(name);
          assert.equal(a.length, b.length, `${path} ${name}: length`);
          for (let i = 0; i < a.length; i++) {
            assert.ok(Math.abs(a[i] - b[i]) <= 1e-6 * (1 + Math.abs(a[i])), `${path} ${name}[${i}]: committed ${a[i]}, regenerated ${b[i]}`);
          }
        }
      }
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

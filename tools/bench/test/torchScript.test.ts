/**
 * The PyTorch baseline script (python/torch_forward.py) against our own code:
 * - its json + numpy.frombuffer safetensors parsing gives bit-identical f32 values to our
 *   reader (F32, F16 incl. subnormals and infinities, BF16), on a fixture and a file
 *   written here;
 * - its hand-written GPT-2 forward reproduces the golden hidden states (HF, float64) of
 *   the tiny-gpt2 fixture, so the baseline computes what transformers computes.
 * Skipped with a message when /usr/bin/python3 has no torch (the bench installs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint, writeSafetensors } from '@tuned-lens/formats';
import { goldenDir, tinyModelsDir } from '@tuned-lens/fixtures';
import { systemPython, torchScript } from '../src/common';
import { probeTorch, torchEnv } from '../src/torch';

const probe = probeTorch();
const skip = probe.ok ? false : `skipped: ${systemPython} has no torch (${probe.why}); the bench installs python3-torch`;
if (skip) console.log(`# ${skip}`);

function python(args: string[]): string {
  const r = spawnSync(systemPython, [torchScript, ...args], { encoding: 'utf8', env: torchEnv(1), maxBuffer: 64 * 2 ** 20 });
  assert.equal(r.status, 0, `torch_forward.py ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

/** Our reader's view of a file in the shape of the script's --parse-report. */
function ourReport(file: string): Record<string, { dtype: string; shape: number[]; sha256: string }> {
  const ckpt = openCheckpoint(file);
  const out: Record<string, { dtype: string; shape: number[]; sha256: string }> = {};
  for (const name of ckpt.names()) {
    const info = ckpt.info(name);
    const f32 = ckpt.getF32(name);
    out[name] = { dtype: info.dtype, shape: info.shape, sha256: createHash('sha256').update(new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength)).digest('hex') };
  }
  return out;
}

test('safetensors parsing agrees with ours bit for bit (tiny-gpt2 fixture and F32/F16/BF16)', { skip }, (t) => {
  const fixture = join(tinyModelsDir, 'tiny-gpt2', 'model.safetensors');
  assert.deepEqual(JSON.parse(python(['--parse-report', fixture])), ourReport(fixture));

  const dir = mkdtempSync(join(tmpdir(), 'bench-parse-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mixed.safetensors');
  const awkward = new Float32Array([0, -0, 1.5, -2.25, 65504, 1e-7, 6e-8, Infinity, -Infinity, 3.14159, 1e30]);
  writeSafetensors(file, {
    'a.f32': { dtype: 'F32', shape: [3, 5], data: new Float32Array(15).map((_, i) => Math.sin(i) * 100) },
    'b.f16': { dtype: 'F16', shape: [awkward.length], data: awkward },
    'c.bf16': { dtype: 'BF16', shape: [awkward.length], data: awkward },
    'd.scalar': { dtype: 'F32', shape: [], data: new Float32Array([42]) },
  }, { format: 'pt' });
  assert.deepEqual(JSON.parse(python(['--parse-report', file])), ourReport(file));
});

test('the torch GPT-2 forward reproduces the golden hidden states of tiny-gpt2', { skip }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-fwd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const index = JSON.parse(readFileSync(join(goldenDir, 'index.json'), 'utf8')) as { sequences: Record<string, number[]> };
  const ids = Int32Array.from(index.sequences.seq32);
  writeFileSync(join(dir, 'ids.i32'), new Uint8Array(ids.buffer));
  const out = JSON.parse(python([
    join(tinyModelsDir, 'tiny-gpt2'), '--ids', join(dir, 'ids.i32'), '--batch', '1', '--seq', String(ids.length),
    '--repeats', '1', '--warmup', '0', '--dump-all', join(dir, 'hs'),
  ]));
  assert.equal(out.hidden_states, 4);
  assert.deepEqual(out.hidden_shape, [1, 32, 64]);
  const golden = openCheckpoint(join(goldenDir, 'tiny-gpt2', 'seq32.safetensors'));
  for (let i = 0; i < 4; i++) {
    const b = readFileSync(join(dir, 'hs', `hidden_states.${i}.f32`));
    const ours = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    const ref = golden.getF32(`hidden_states.${i}`);
    assert.equal(ours.length, ref.length);
    let max = 0;
    for (let k = 0; k < ref.length; k++) max = Math.max(max, Math.abs(ours[k] - ref[k]));
    assert.ok(max < 1e-4, `hidden_states.${i}: max |diff| ${max}`);
  }
});

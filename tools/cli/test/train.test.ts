// `tuned-lens train` as a user runs it: the installed bin, embedded services on loopback,
// the tiny GPT-2 fixture, the original's flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tinyModelsDir, valCorpus } from '@tuned-lens/fixtures';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'node_modules/.bin/tuned-lens');
const model = join(tinyModelsDir, 'tiny-gpt2');
const work = mkdtempSync(join(tmpdir(), 'cli-train-'));

function run(args: string[]) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('train with muon, a token shift, shuffled documents and a checkpoint folder; --log-level shows the services\' logs', () => {
  const out = join(work, 'lens'), cks = join(work, 'cks');
  const r = run([
    '--log-level', 'INFO', 'train', '--model', model, '--data', valCorpus, '--output', out,
    '--num-steps', '3', '--tokens_per_step', '512', '--max-seq-len', '128', '--per-gpu-batch-size', '2',
    '--optimizer', 'muon', '--token-shift', '1', '--dataset-shuffle', '--dataset_shuffle_seed', '7',
    '--checkpoint-freq', '1', '--checkpoint-dir', cks,
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /lens written to .*per-step log: train_log\.jsonl/);
  for (const f of ['config.json', 'params.pt', 'params.safetensors', 'train_log.jsonl']) assert.ok(existsSync(join(out, f)), f);
  const log = readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; lr: number });
  assert.deepEqual(log.map((x) => x.step), [0, 1, 2]);
  assert.ok(Math.abs(log[0].lr - 0.01) < 1e-12, `muon's base lr is 0.01 x lr_scale, got ${log[0].lr}`);
  assert.deepEqual(readdirSync(cks).sort(), ['step-000001.safetensors', 'step-000002.safetensors']);
  assert.ok(!existsSync(join(out, 'checkpoints')));
  assert.match(r.err, / INFO  lens-training: job started/, 'INFO logs of the embedded services');
});

test('train usage errors exit 2 naming the flag', () => {
  const opt = run(['train', '--model', model, '--data', valCorpus, '--output', join(work, 'x'), '--optimizer', 'lion']);
  assert.equal(opt.code, 2);
  assert.match(opt.err, /--optimizer must be sgd, adam or muon, got "lion"/);
  const level = run(['--log-level', 'LOUD', 'train']);
  assert.equal(level.code, 2);
  assert.match(level.err, /--log-level must be one of DEBUG, INFO, WARNING, ERROR, got "LOUD"/);
  const shift = run(['train', '--model', model, '--data', valCorpus, '--output', join(work, 'y'), '--token-shift', 'x']);
  assert.equal(shift.code, 2);
  assert.match(shift.err, /--token-shift must be an integer/);
});

// `tuned-lens eval` as a user runs it: the installed bin, a real process, the tokenizer,
// activation and evaluation services on loopback. (The metrics themselves are checked
// against an independent float64 computation in services/evaluation/test.)
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { tinyModelsDir, valCorpus } from '@tuned-lens/fixtures';
import { makeLensConfig, writeLensFolder } from '@tuned-lens/lens';
import { loadModel } from '@tuned-lens/models';
import { runBin } from './runBin';

const model = join(tinyModelsDir, 'tiny-gpt2');
const work = mkdtempSync(join(tmpdir(), 'cli-eval-'));
const corpus = join(work, 'corpus.jsonl');

const run = runBin;

before(async () => {
  writeFileSync(corpus, readFileSync(valCorpus, 'utf8').split('\n').filter(Boolean).slice(0, 20).join('\n') + '\n');
  const m = await loadModel(model);
  const w = m.unembedding().lmHead;
  const sha = createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest('hex');
  mkdirSync(join(work, 'lenses'));
  const lens = (name: string, fields: object) => writeLensFolder(join(work, 'lenses', name), {
    config: makeLensConfig({ baseModelNameOrPath: 'tiny-gpt2', dModel: 64, numHiddenLayers: 3, ...fields }),
    translators: Array.from({ length: 3 }, (_, i) => ({ weight: new Float32Array(64 * 64).map((_, k) => (k % 65 === 0 ? -0.1 * i : 0)), bias: new Float32Array(64).fill(0.01 * i) })),
  });
  lens('tiny', { unembedSha256: sha });
  lens('foreign', { unembedSha256: '0'.repeat(64) });
});

/** Rows of one printed table (after its title line) as layer -> numbers. */
function table(out: string, title: string): Map<string, number[]> {
  const lines = out.split('\n');
  const at = lines.indexOf(title);
  assert.ok(at >= 0, `no "${title}" table in:\n${out}`);
  const rows = new Map<string, number[]>();
  for (const line of lines.slice(at + 3)) {
    if (!line.trim()) break;
    const [name, ...rest] = line.split(/\s+\|?\s*/).filter(Boolean);
    rows.set(name, rest.map((x) => (x === '-' ? NaN : Number(x))));
  }
  return rows;
}

test('eval with a tuned lens: the table, aggregate_metrics.json (bits/byte) and the nats file agree', async () => {
  const out = join(work, 'results');
  // the original's underscore spellings
  const r = await run(['eval', '--model', model, '--data', corpus, '--lens', join(work, 'lenses', 'tiny'), '--output', out,
    '--max_seq_len', '32', '--tokens', '256', '--per_gpu_batch_size', '2', '--layer_transfer', '--engine', 'onnx']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^model: {2}tiny-gpt2$/m);
  assert.match(r.out, /256 tokens in 4 batches/);
  assert.match(r.out, /^lenses: logit, tuned \(/m);
  const nats = JSON.parse(readFileSync(join(out, 'aggregate_metrics_nats.json'), 'utf8'));
  const bpb = JSON.parse(readFileSync(join(out, 'aggregate_metrics.json'), 'utf8'));
  const ratio = Number(/nats_to_bpb ([\d.]+)/.exec(r.out)![1]);
  for (const [title, json] of [['nats per token', nats], ['bits per byte', bpb]] as const) {
    const rows = table(r.out, title);
    assert.deepEqual([...rows.keys()], ['0', '1', '2', 'model']);
    for (let l = 0; l < 3; l++) {
      const [lk, lc, le, tk, tc, te] = rows.get(String(l))!;
      const want = [json.logit.kl, json.logit.ce, json.logit.entropy, json.tuned.kl, json.tuned.ce, json.tuned.entropy].map((m) => m[`layer_${l}`]);
      [lk, lc, le, tk, tc, te].forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 6e-5, `${title} layer ${l} column ${i}: ${x} vs ${want[i]}`));
    }
    const [, ce, ent] = rows.get('model')!;
    assert.ok(Math.abs(ce - json.baseline.ce.final) < 6e-5 && Math.abs(ent - json.baseline.entropy.final) < 6e-5);
  }
  for (const lens of ['logit', 'tuned']) {
    for (const m of ['ce', 'entropy', 'kl']) {
      for (let l = 0; l < 3; l++) {
        const x = nats[lens][m][`layer_${l}`];
        assert.ok(Math.abs(bpb[lens][m][`layer_${l}`] - x * ratio) < 1e-5 * (1 + x), `${lens}.${m}.${l} bpb = nats x nats_to_bpb`);
      }
    }
  }
  assert.deepEqual(Object.keys(bpb.tuned.layer_transfer.kl), ['layer_0', 'layer_1', 'layer_2']);
  assert.match(r.out, /wrote .*aggregate_metrics\.json, .*aggregate_metrics_nats\.json/);
});

test('eval errors: usage (exit 2), a lens for another model (exit 1 with the status), a missing lens (exit 2, before any service starts)', async () => {
  const usage = await run(['eval', '--model', model]);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /--model DIR, --data FILE and --output DIR are required/);
  const foreign = await run(['eval', '--model', model, '--data', corpus, '--lens', join(work, 'lenses', 'foreign'), '--output', join(work, 'f'), '--max-seq-len', '16', '--tokens', '16']);
  assert.equal(foreign.code, 1);
  assert.match(foreign.err, /evaluation failed: lens "foreign": the lens is for another model .*another unembedding/);
  assert.ok(!existsSync(join(work, 'f', 'aggregate_metrics.json')));
  const missing = await run(['eval', '--model', model, '--data', corpus, '--lens', join(work, 'lenses', 'nope'), '--output', join(work, 'g')]);
  // A local path is checked before any service starts: a usage error quoting it.
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--lens ".*lenses\/nope": no such folder/);
});

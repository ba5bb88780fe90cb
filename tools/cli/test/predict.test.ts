// `tuned-lens predict` as a user runs it: the installed bin, a real process, the three
// services on loopback. The table and the plot come from the same frames --json prints.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { makeLensConfig, writeLensFolder } from '@tuned-lens/lens';
import { loadModel } from '@tuned-lens/models';
import { runBin } from './runBin';

const model = join(tinyModelsDir, 'tiny-gpt2');
const work = mkdtempSync(join(tmpdir(), 'cli-predict-'));
const lens = join(work, 'tiny-lens');
const text = 'The cat sat on the mat and looked at the dog.';

const run = runBin;

before(async () => {
  const m = await loadModel(model);
  const w = m.unembedding().lmHead;
  writeLensFolder(lens, {
    config: makeLensConfig({
      baseModelNameOrPath: 'tiny-gpt2', dModel: 64, numHiddenLayers: 3,
      unembedSha256: createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest('hex'),
    }),
    translators: Array.from({ length: 3 }, (_, i) => ({ weight: new Float32Array(64 * 64).map((_, k) => (k % 65 === 0 ? 0.2 * i : 0)), bias: new Float32Array(64).fill(0.05) })),
  });
});

test('predict: per-lens tables of top-1 tokens (rows = layers then output), summaries, and the plots', async () => {
  const html = join(work, 'traj.html');
  const r = await run(['predict', '--model', model, '--lens', lens, '--lenses', 'logit,tuned', '--text', text, '--plot', html, '--top-k', '3', '--width', '200', '--engine', 'onnx']);
  assert.equal(r.code, 0, r.err);
  const n = Number(/^model: tiny-gpt2, 3 layers; (\d+) tokens$/m.exec(r.out)?.[1]);
  assert.ok(n >= 11, r.out);
  const ids = { length: n };
  for (const name of ['logit lens', 'tuned lens (tiny-lens)']) {
    const at = r.out.split('\n').findIndex((l) => l.startsWith(`${name}: top-1 prediction per layer`));
    assert.ok(at >= 0, r.out);
    const lines = r.out.split('\n').slice(at + 1, at + 8);
    assert.match(lines[0], /^pos {5}\| 0 {7}\| 1 /);
    assert.equal(lines[1].split('|').length, ids.length + 1, 'one column per position (wide enough for one block)');
    assert.deepEqual(lines.slice(3).map((l) => l.split('|')[0].trim()), ['layer 0', 'layer 1', 'layer 2', 'output']);
  }
  assert.match(r.out, /^layer +CE +KL +entropy +top-1 = next$/m);
  assert.match(r.err, new RegExp(`wrote ${join(work, 'traj-logit.html')}`));
  assert.match(r.err, new RegExp(`wrote ${join(work, 'traj-tuned.html')}`));
  const page = readFileSync(join(work, 'traj-tuned.html'), 'utf8');
  assert.match(page, /^<!doctype html>/);
  assert.doesNotMatch(page.replace('xmlns="http://www.w3.org/2000/svg"', ''), /https?:\/\/|<link|src=/, 'self-contained');
  assert.equal([...page.matchAll(/<g class="cell"/g)].length, 4 * ids.length);
});

test('predict --json frames agree with the table; --plot FILE.svg; the default lens with --lens is tuned', async () => {
  const svg = join(work, 'traj.svg');
  const r = await run(['predict', '--model', model, '--lens', lens, '--text', text, '--layers', '2', '--json', '--plot', svg, '--stat', 'forward_kl']);
  assert.equal(r.code, 0, r.err);
  const frames = r.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(frames[0].metadata && frames.at(-1).done);
  assert.deepEqual(frames[0].metadata.lenses, ['LENS_KIND_TUNED']);
  assert.deepEqual(frames[0].metadata.layers, [2, 3]);
  const positions = frames.filter((f) => f.position).map((f) => f.position);
  assert.equal(positions.length, frames[0].metadata.tokenIds.length);
  assert.ok(positions.every((p: { cells: Array<{ lens: string }> }) => p.cells.map((c) => c.lens).join() === 'LENS_KIND_TUNED,LENS_KIND_MODEL'));
  const page = readFileSync(svg, 'utf8');
  assert.match(page, /^<svg xmlns/);
  assert.match(page, /Forward KL/);
  // the top-1 of layer 2 at position 0 is the label of that cell
  const top = positions[0].cells[0].top[0].text as string;
  const label = top.replace(/ /g, '·').replace(/\n/g, '↵');
  assert.ok(page.includes(`>${label.length > 7 ? label.slice(0, 6) + '…' : label}</text></g>`), `cell label ${label}`);
});

test('predict errors: empty text, top-k, layers, too long without --truncate (exit 1 with the status), usage (exit 2)', async () => {
  const cases: Array<[string[], number, RegExp]> = [
    [['--text', ''], 1, /INVALID_ARGUMENT: input: empty text/],
    [['--text', 'hi', '--top-k', '101'], 1, /INVALID_ARGUMENT: top_k must be 1\.\.100/],
    [['--text', 'hi', '--layers', '3'], 1, /INVALID_ARGUMENT: layer 3 is out of range: lensed layers are 0\.\.2/],
    [['--text', 'word '.repeat(200)], 1, /INVALID_ARGUMENT: input: 20\d tokens, more than the model's context of 128; shorten the input or set truncate/],
    [['--text', 'hi', '--lenses', 'tuned'], 2, /--lenses tuned needs --lens DIR/],
    [['--text', 'hi', '--plot', 'x.png'], 2, /--plot FILE must end in \.html or \.svg/],
    [['--text', 'hi', '--stat', 'nope'], 2, /--stat must be one of entropy, cross_entropy, forward_kl, max_probability, rank/],
    [[], 2, /give exactly one of --text or --ids/],
  ];
  for (const [args, code, re] of cases) {
    const r = await run(['predict', '--model', model, ...args]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re, args.join(' '));
  }
  const ok = await run(['predict', '--model', model, '--text', 'word '.repeat(200), '--truncate', '--layers', '0', '--width', '60']);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /128 tokens \(the first 7\d cut off\)/);
});

/**
 * Lens quality against the reference: trains lenses for the bundled small-lm with the
 * reference lens's budget (250 steps x 4096 tokens of corpus/train.jsonl, seq 256, seed 42,
 * micro-batches of 4), evaluates them on ALL of corpus/val.jsonl with `tuned-lens eval`,
 * evaluates the reference lens the same way, and compares per layer with the reference's
 * own numbers (reference-lens/val_eval.json, computed by its PyTorch implementation).
 *
 * Everything runs as a user would: the `tuned-lens` command in child processes.
 *
 * Targets (issue 11): SGD (the original recipe) mean tuned-lens KL ratio <= 1.05 and no
 * layer above 1.15; Muon mean KL <= 0.75x the SGD reference's.
 *
 *   npm run bench:lens-quality                       # sgd and muon (~20 min on 2 cores)
 *   npm run bench:lens-quality -- --optimizers sgd   # one recipe
 *   npm run bench:lens-quality -- --reuse            # evaluate lenses already trained in --work
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { referenceLensDir, smallLmDir, trainCorpus, valCorpus } from '@tuned-lens/fixtures';
import { benchRoot, HUGETLB } from './common';
import { cpuDescription, gitCommit, relOrAbs, saveResults } from './runInfo';

const cli = join(benchRoot, '..', 'cli', 'bin', 'tuned-lens.mjs');

interface PerLayer { kl: number[]; ce: number[]; entropy: number[] }
interface Row { name: string; optimizer?: string; trainSeconds?: number; evalSeconds: number; tuned: PerLayer; logit: PerLayer }

const { values } = parseArgs({
  options: {
    optimizers: { type: 'string', default: 'sgd,muon' },
    work: { type: 'string', default: '/tmp/tuned-lens-lens-quality' },
    reuse: { type: 'boolean', default: false },
    'num-steps': { type: 'string', default: '250' },
    'lr-scale': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: npm run bench:lens-quality -- [--optimizers sgd,muon] [--work DIR] [--reuse] [--num-steps N] [--lr-scale X]');
  process.exit(0);
}

const say = (line: string) => console.log(line);

/** Runs the CLI; returns wall seconds. Its progress goes to our stderr. */
function tunedLens(args: string[]): number {
  const t0 = performance.now();
  say(`$ tuned-lens ${args.join(' ')}`);
  const run = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, GLIBC_TUNABLES: HUGETLB } });
  if (run.status !== 0) throw new Error(`tuned-lens ${args[0]} exited with ${run.status}`);
  return (performance.now() - t0) / 1000;
}

/** Per-layer nats from our eval's aggregate_metrics_nats.json. */
function readEval(dir: string, lens: 'tuned' | 'logit'): PerLayer {
  const m = JSON.parse(readFileSync(join(dir, 'aggregate_metrics_nats.json'), 'utf8')) as Record<string, Record<string, Record<string, number>>>;
  const series = (stat: string) => Object.entries(m[lens][stat]).filter(([k]) => k.startsWith('layer_')).sort(([a], [b]) => Number(a.slice(6)) - Number(b.slice(6))).map(([, v]) => v);
  return { kl: series('kl'), ce: series('ce'), entropy: series('entropy') };
}

function evaluate(lensDir: string, outDir: string): { seconds: number; tuned: PerLayer; logit: PerLayer } {
  const seconds = tunedLens(['eval', '--model', smallLmDir, '--data', valCorpus, '--lens', lensDir, '--output', outDir, '--max-seq-len', '256']);
  return { seconds, tuned: readEval(outDir, 'tuned'), logit: readEval(outDir, 'logit') };
}

const reference = JSON.parse(readFileSync(join(referenceLensDir, 'val_eval.json'), 'utf8')) as {
  tuned_lens: { kl_to_final_nats: number[]; ce_next_token_nats: number[] }; logit_lens: { kl_to_final_nats: number[] };
};
const refKl = reference.tuned_lens.kl_to_final_nats;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const started = new Date();
// The commit trained and evaluated (taken now: the tree may change while the bench runs).
const commit = gitCommit();

const rows: Row[] = [];
const refEval = evaluate(referenceLensDir, join(values.work, 'reference-eval'));
rows.push({ name: 'reference lens (evaluated by us)', evalSeconds: refEval.seconds, tuned: refEval.tuned, logit: refEval.logit });
for (const optimizer of values.optimizers!.split(',').map((s) => s.trim()).filter(Boolean)) {
  const lensDir = join(values.work, `lens-${optimizer}`);
  let trainSeconds: number | undefined;
  if (!(values.reuse && existsSync(join(lensDir, 'params.safetensors')))) {
    trainSeconds = tunedLens([
      'train', '--model', smallLmDir, '--data', trainCorpus, '--output', lensDir, '--optimizer', optimizer,
      '--num-steps', values['num-steps']!, '--tokens-per-step', '4096', '--max-seq-len', '256', '--per-gpu-batch-size', '4', '--seed', '42',
      ...(values['lr-scale'] ? ['--lr-scale', values['lr-scale']] : []),
    ]);
  }
  const ev = evaluate(lensDir, join(values.work, `eval-${optimizer}`));
  rows.push({ name: `ours, ${optimizer}`, optimizer, trainSeconds, evalSeconds: ev.seconds, tuned: ev.tuned, logit: ev.logit });
}

// Tables: tuned-lens KL per layer, ratio to the reference's own val numbers.
const layers = refKl.map((_, l) => l);
const fmt = (x: number, d = 4) => x.toFixed(d);
const lines: string[] = [];
lines.push(`# Lens quality vs the reference lens (small-lm, val.jsonl, nats)`, '');
lines.push(`${started.toISOString()}, commit ${commit ?? '?'}, ${cpuDescription()}. Budget: ${values['num-steps']} steps x 4096 tokens, seq 256, seed 42.`, '');
lines.push(`| lens | ${layers.map((l) => `layer ${l}`).join(' | ')} | mean KL | mean ratio | max ratio | train s | eval s |`);
lines.push(`|---|${layers.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|`);
lines.push(`| reference (its val_eval.json) | ${refKl.map((x) => fmt(x)).join(' | ')} | ${fmt(mean(refKl))} | 1 | 1 | | |`);
const verdicts: string[] = [];
for (const r of rows) {
  const ratios = r.tuned.kl.map((x, l) => x / refKl[l]);
  lines.push(`| ${r.name} | ${r.tuned.kl.map((x, l) => `${fmt(x)} (${ratios[l].toFixed(3)}x)`).join(' | ')} | ${fmt(mean(r.tuned.kl))} | ${mean(ratios).toFixed(3)} | ${Math.max(...ratios).toFixed(3)} | ${r.trainSeconds?.toFixed(0) ?? ''} | ${r.evalSeconds.toFixed(0)} |`);
  if (r.optimizer === 'sgd') {
    const ok = mean(ratios) <= 1.05 && Math.max(...ratios) <= 1.15;
    verdicts.push(`SGD vs reference: mean ratio ${mean(ratios).toFixed(3)} (target <= 1.05), max ${Math.max(...ratios).toFixed(3)} (target <= 1.15): ${ok ? 'MET' : 'NOT MET'}`);
  }
  if (r.optimizer === 'muon') {
    const ratio = mean(r.tuned.kl) / mean(refKl);
    verdicts.push(`Muon vs SGD reference: mean KL ${fmt(mean(r.tuned.kl))} = ${ratio.toFixed(3)}x the reference's ${fmt(mean(refKl))} (target <= 0.75); per layer ${ratios.map((x) => x.toFixed(2)).join(' ')}: ${ratio <= 0.75 ? 'MET' : 'NOT MET'}`);
  }
  if (r.name.startsWith('reference')) {
    const worst = Math.max(...ratios.map((x) => Math.abs(x - 1)));
    verdicts.push(`our eval of the reference lens vs its own val_eval.json: max relative difference ${worst.toExponential(2)}`);
  }
}
lines.push('', ...verdicts.map((v) => `- ${v}`), '');
const markdown = lines.join('\n');
saveResults(join(benchRoot, 'results'), 'lens-quality', started, { started: started.toISOString(), commit, cpu: cpuDescription(), work: relOrAbs(values.work), reference, rows }, markdown, say);

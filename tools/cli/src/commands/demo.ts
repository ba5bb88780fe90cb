/**
 * `tuned-lens demo` (= `npm start`): the whole pipeline on the bundled model and corpus,
 * no arguments. It starts the four services in this process on loopback ports and
 * drives them over real gRPC, the same calls a cluster deployment gets:
 *
 *   1. tokenizer + activation (small-lm) + lens-training + evaluation services, health;
 *   2. train a tuned lens on the training corpus (budget of a few minutes here);
 *   3. evaluate logit vs tuned lens on the validation corpus: the per-layer table and
 *      aggregate_metrics.json;
 *   4. predict a sample sentence through LensService and write the trajectory heatmap.
 *
 * Outputs go to ./tuned-lens-demo (or --output DIR).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkHealth } from '@tuned-lens/grpc-kit';
import { serviceNames } from '@tuned-lens/proto';
import { fixturesRoot, smallLmDir } from '@tuned-lens/fixtures';
import { startLensTrainingServer } from '@tuned-lens/lens-training-service';
import { intOption, parse } from '../args';
import { embeddedLogger, engineOption, startEmbeddedActivation, startEmbeddedTokenizer } from '../embedded';
import { startEmbeddedEvaluation, evalCommand } from './eval';
import { predictCommand } from './predict';
import { trainCommand } from './train';

const SAMPLE = 'And God said, Let there be light: and there was light.';

const help = `usage: tuned-lens demo [--output DIR] [--steps N] [--eval-tokens N] [--engine NAME]

Runs the whole pipeline on the bundled small-lm model and corpus (see README):
  --output DIR       where the lens, metrics and plot go (default ./tuned-lens-demo)
  --steps N          training steps of 4096 tokens (default 30)
  --eval-tokens N    validation tokens to evaluate (default 65536)
  --engine NAME      auto, onnx or tfjs (default auto)`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    output: { type: 'string', default: 'tuned-lens-demo' },
    steps: { type: 'string' },
    'eval-tokens': { type: 'string' },
    engine: { type: 'string', default: 'auto' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(help); return 0; }
  const steps = intOption(values.steps, 'steps', 30);
  const evalTokens = intOption(values['eval-tokens'], 'eval-tokens', 65536);
  const engine = engineOption(values.engine);
  const out = resolve(values.output!);
  const lensDir = join(out, 'lens');
  rmSync(lensDir, { recursive: true, force: true }); // a fresh lens, not a resumed one
  mkdirSync(out, { recursive: true });
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;

  console.log(`== 1. services (model: bundled small-lm, 6 layers, d 256; engine: ${engine})`);
  const tokenizer = await startEmbeddedTokenizer(smallLmDir, [join(fixturesRoot, 'corpus')]);
  const activation = await startEmbeddedActivation(smallLmDir, engine);
  const training = await startLensTrainingServer({ roots: [out], engine, logger: embeddedLogger('lens-training') });
  const evaluation = await startEmbeddedEvaluation({
    activation: activation.address, tokenizer: tokenizer.address, lensRoots: [out], outputRoots: [out], engine,
  });
  const services = [
    ['tokenizer', tokenizer.address, serviceNames.tokenizer],
    ['activation', activation.address, serviceNames.activation],
    ['lens-training', training.address, serviceNames.training],
    ['evaluation', evaluation.address, serviceNames.evaluation],
  ] as const;
  try {
    for (const [name, address, service] of services) console.log(`  ${name.padEnd(14)} ${address}  ${await checkHealth(address, service)}`);

    console.log(`\n== 2. train a tuned lens: ${steps} steps x 4096 tokens of corpus/train.jsonl (${elapsed()})`);
    let code = await trainCommand([
      '--training-endpoint', training.address, '--tokenizer-endpoint', tokenizer.address, '--activation-endpoint', activation.address,
      '--data', 'train.jsonl', '--output', lensDir, '--num-steps', String(steps), '--tokens-per-step', '4096',
      '--max-seq-len', '256', '--per-gpu-batch-size', '8',
    ]);
    if (code !== 0) return code;

    console.log(`\n== 3. evaluate logit vs tuned lens on ${evalTokens} tokens of corpus/val.jsonl (${elapsed()})`);
    code = await evalCommand([
      '--endpoint', evaluation.address, '--data', 'val.jsonl', '--lens', 'lens', '--output', 'eval',
      '--max-seq-len', '256', '--tokens', String(evalTokens), '--per-gpu-batch-size', '8',
    ]);
    if (code !== 0) return code;

    console.log(`\n== 4. what each layer predicts for ${JSON.stringify(SAMPLE)} (${elapsed()})`);
    code = await predictCommand([
      '--endpoint', evaluation.address, '--lens', 'lens', '--lenses', 'logit,tuned', '--text', SAMPLE,
      '--plot', join(out, 'trajectory.html'), '--width', '150',
    ]);
    if (code !== 0) return code;

    console.log(`\ndone in ${elapsed()}: lens in ${lensDir}, metrics in ${join(out, 'eval')}, plots ${join(out, 'trajectory-*.html')}`);
    return 0;
  } finally {
    for (const s of [evaluation, training, activation, tokenizer]) await s.shutdown(2000);
  }
}

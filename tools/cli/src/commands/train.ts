/**
 * `tuned-lens train`: fit a tuned lens with the original recipe. Without endpoints the
 * tokenizer, activation and lens-training services run embedded on loopback (real
 * gRPC, the same code path as a cluster); with endpoints the job goes to running
 * services. Progress: step, per-layer loss, tokens/s; Ctrl-C cancels the job (its last
 * checkpoint stays, and the same command resumes it).
 */
import { basename, dirname, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { trainingV1 } from '@tuned-lens/proto';
import { clientTlsFromEnv } from '@tuned-lens/grpc-kit';
import { TrainingClient } from '@tuned-lens/clients';
import { followJob } from '../followJob';
import { startLensTrainingServer } from '@tuned-lens/lens-training-service';
import { intOption, parse, UsageError, existingFile, existingModelDir, existingDir } from '../args';
import { embeddedLogger, engineOption, startEmbeddedActivation, startEmbeddedTokenizer } from '../embedded';
import { Progress } from '../progress';

const help = `usage: tuned-lens train --model DIR --data FILE.jsonl --output DIR [options]

The original tuned-lens train flags (defaults in brackets; underscore spellings work too):
  --num-steps N            optimiser steps [250]
  --tokens-per-step N      tokens per step, a multiple of the sequence length [262144]
  --max-seq-len N          chunk length, capped by the model's context [2048]
  --per-gpu-batch-size N   sequences per forward pass [1]
  --loss kl|ce             [kl]
  --optimizer sgd|adam|muon  [sgd]; muon: Muon for the translator matrices + AdamW for
                           the biases (tuned-lens PR #141), lower KL at the same budget
  --lr-scale X             [1.0]; SGD lr = lr_scale * (1 - momentum), Adam lr = lr_scale * 1e-3,
                           Muon lr = lr_scale * 0.01
  --momentum X             [0.9]
  --weight-decay X         [1e-3; 0.01 for muon]
  --warmup-steps N         [0 for SGD and Muon, min(0.2 * steps, 1000) for Adam]
  --seed N                 seed of the chunk order: one permutation of all chunks [42]
  --dataset-shuffle        shuffle documents before tokenization [off]
  --dataset-shuffle-seed N [42]
  --token-shift N          lens at position t vs the target at t + N [0 for kl, 1 for ce]
  --checkpoint-freq N      checkpoint every N steps [off]
  --checkpoint-dir DIR     where checkpoints go [OUTPUT/checkpoints]
  --lens DIR               warm start from a lens folder (also --lens-name-or-path)
  --bias-only              train only the translator biases
  --save-f16               store the lens params in float16
Where it runs:
  --engine onnx|tfjs|auto  compute engine of the embedded services [auto]
  --training-endpoint H:P  submit to a running lens-training service (then --output is a path on it)
  --activation-endpoint H:P  activation services the job reads from (repeatable)
  --tokenizer-endpoint H:P tokenizer service the job reads from (then --data is a path on it)`;

/** The original CLI's dotted flags (simple_parsing prefixes) as ours. */
const aliases: Record<string, string> = { '--model.name': '--model', '--data.name': '--data', '--lens-name-or-path': '--lens', '-l': '--lens', '-o': '--output' };

export async function trainCommand(argv: string[]): Promise<number> {
  const args = argv.map((a) => {
    const [k, ...rest] = a.split('=');
    const key = aliases[k.replaceAll('_', '-')] ?? aliases[k];
    return key ? [key, ...rest].join('=') : a;
  });
  const { values } = parse(args, {
    model: { type: 'string' }, data: { type: 'string' }, output: { type: 'string' },
    'num-steps': { type: 'string' }, 'tokens-per-step': { type: 'string' }, 'max-seq-len': { type: 'string' },
    'per-gpu-batch-size': { type: 'string' }, loss: { type: 'string', default: 'kl' }, optimizer: { type: 'string', default: 'sgd' },
    'lr-scale': { type: 'string' }, momentum: { type: 'string' }, 'weight-decay': { type: 'string' }, 'warmup-steps': { type: 'string' },
    seed: { type: 'string' }, 'checkpoint-freq': { type: 'string' }, 'checkpoint-dir': { type: 'string' },
    'dataset-shuffle': { type: 'boolean', default: false }, 'dataset-shuffle-seed': { type: 'string' }, 'token-shift': { type: 'string' }, lens: { type: 'string' }, 'bias-only': { type: 'boolean', default: false },
    'save-f16': { type: 'boolean', default: false }, engine: { type: 'string', default: 'auto' },
    'training-endpoint': { type: 'string' }, 'activation-endpoint': { type: 'string', multiple: true }, 'tokenizer-endpoint': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(help); return 0; }
  if (!values.output) throw new UsageError('--output DIR is required (see --help)');
  if (!values.data) throw new UsageError('--data FILE is required (see --help)');
  const remoteData = Boolean(values['tokenizer-endpoint']);
  const remoteModel = Boolean(values['activation-endpoint']?.length);
  if (!remoteModel && !values.model) throw new UsageError('--model DIR is required unless --activation-endpoint is given');
  // Local paths are checked before any service starts (a typo costs no start-up).
  if ((!remoteData || !remoteModel) && values.model) existingModelDir(values.model);
  if (!remoteData) existingFile(values.data, 'data');
  if (values.lens && !values['training-endpoint']) existingDir(values.lens, 'lens');
  if (!['kl', 'ce'].includes(values.loss!)) throw new UsageError(`--loss must be kl or ce, got "${values.loss}"`);
  const optimizers: Record<string, trainingV1.Optimizer> = {
    sgd: trainingV1.Optimizer.OPTIMIZER_SGD, adam: trainingV1.Optimizer.OPTIMIZER_ADAM, muon: trainingV1.Optimizer.OPTIMIZER_MUON,
  };
  const optimizer = optimizers[values.optimizer!.toLowerCase()];
  if (optimizer === undefined) throw new UsageError(`--optimizer must be sgd, adam or muon, got "${values.optimizer}"`);
  const num = (flag: string, v: string | undefined) => {
    if (v === undefined) return 0;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, got "${v}"`);
    return n;
  };
  const engine = engineOption(values.engine);
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const output = values['training-endpoint'] ? values.output : resolve(values.output);
    const tokenizerEndpoint = values['tokenizer-endpoint'] ?? (await (async () => {
      const dataFile = resolve(values.data!);
      const s = await startEmbeddedTokenizer(resolve(values.model!), [dirname(dataFile)]);
      cleanups.push(() => s.shutdown(1000));
      return s.address;
    })());
    const activationEndpoints = values['activation-endpoint'] ?? [await (async () => {
      const s = await startEmbeddedActivation(resolve(values.model!), engine);
      cleanups.push(() => s.shutdown(1000));
      return s.address;
    })()];
    const trainingEndpoint = values['training-endpoint'] ?? (await (async () => {
      mkdirSync(dirname(output), { recursive: true });
      const roots = [dirname(output), ...(values.lens ? [dirname(resolve(values.lens))] : []), ...(values['checkpoint-dir'] ? [dirname(resolve(values['checkpoint-dir']))] : [])];
      const s = await startLensTrainingServer({ roots, engine, logger: embeddedLogger('lens-training') });
      cleanups.push(() => s.shutdown(5000));
      return s.address;
    })());
    const client = new TrainingClient(trainingEndpoint, { tls: values['training-endpoint'] ? clientTlsFromEnv() : undefined });
    cleanups.unshift(async () => client.close());
    const config: trainingV1.TrainConfig = trainingV1.TrainConfig.fromPartial({
      activationEndpoints,
      tokenizerEndpoint,
      dataPath: remoteData ? values.data : basename(values.data),
      outputPath: output,
      numSteps: intOption(values['num-steps'], 'num-steps', 0, 0),
      tokensPerStep: intOption(values['tokens-per-step'], 'tokens-per-step', 0, 0),
      maxSeqLen: intOption(values['max-seq-len'], 'max-seq-len', 0, 0),
      perGpuBatchSize: intOption(values['per-gpu-batch-size'], 'per-gpu-batch-size', 0, 0),
      loss: values.loss === 'ce' ? trainingV1.Loss.LOSS_CE : trainingV1.Loss.LOSS_KL,
      optimizer,
      lrScale: num('lr-scale', values['lr-scale']),
      momentum: num('momentum', values.momentum),
      weightDecay: num('weight-decay', values['weight-decay']),
      weightDecaySet: values['weight-decay'] !== undefined,
      warmupSteps: intOption(values['warmup-steps'], 'warmup-steps', 0, 0),
      seed: intOption(values.seed, 'seed', 0, 0),
      checkpointFreq: intOption(values['checkpoint-freq'], 'checkpoint-freq', 0, 0),
      lensInitPath: values.lens ? (values['training-endpoint'] ? values.lens : resolve(values.lens)) : '',
      biasOnly: values['bias-only'],
      saveF16: values['save-f16'],
      datasetShuffle: values['dataset-shuffle'],
      datasetShuffleSeed: intOption(values['dataset-shuffle-seed'], 'dataset-shuffle-seed', 0, 0),
      checkpointDir: values['checkpoint-dir'] ? (values['training-endpoint'] ? values['checkpoint-dir'] : resolve(values['checkpoint-dir'])) : '',
      tokenShift: values['token-shift'] === undefined ? undefined : intOption(values['token-shift'], 'token-shift', 0, -1_000_000),
    });
    const jobId = await client.start(config);
    console.error(`job ${jobId} started on ${trainingEndpoint}`);
    const progress = new Progress('train');
    const last = await followJob(client, jobId, {
      onInterrupt: () => console.error('\ncancelling (the last checkpoint stays)...'),
      onStatus: (s) => {
        if (s.state !== trainingV1.JobState.JOB_STATE_RUNNING || s.step === 0) return;
        const losses = s.layerLosses.map((l) => l.nats.toFixed(3)).join(' ');
        progress.update(`step ${s.step}/${s.numSteps} [${bar(s.step / s.numSteps)}] loss ${losses} | ${Math.round(s.tokensPerSecond)} tok/s`);
      },
    });
    if (last.state !== trainingV1.JobState.JOB_STATE_SUCCEEDED) {
      progress.done('stopped');
      throw new Error(last.message || 'the job ended without a message');
    }
    progress.done(`${last.step} steps, ${last.tokensSeen} tokens`);
    console.log(`lens written to ${values.output} (config.json, params.pt, params.safetensors); per-step log: train_log.jsonl`);
    console.log(`final per-layer loss (nats): ${last.layerLosses.map((l) => `${l.layer}:${l.nats.toFixed(4)}`).join(' ')}`);
    return 0;
  } finally {
    for (const c of cleanups) await c();
  }
}

function bar(frac: number, width = 20): string {
  const n = Math.max(0, Math.min(width, Math.round(frac * width)));
  return '#'.repeat(n) + '.'.repeat(width - n);
}

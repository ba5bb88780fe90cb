/**
 * The training config of a job: the original `tuned-lens train` flags with its
 * defaults, checked up front so a bad job fails at StartJob with INVALID_ARGUMENT
 * instead of minutes later.
 */
import { trainingV1 } from '@tuned-lens/proto';
import { invalidArgument } from '@tuned-lens/grpc-kit';
import { defaultWarmupSteps, type LossKind, type OptimizerConfig } from '@tuned-lens/lens';

export interface JobConfig {
  activationEndpoints: string[];
  tokenizerEndpoint: string;
  dataPath: string;
  outputPath: string;
  numSteps: number;
  tokensPerStep: number;
  maxSeqLen: number;
  batchSize: number;
  loss: LossKind;
  optimizer: OptimizerConfig;
  warmupSteps: number;
  seed: number;
  checkpointFreq: number;
  lensInitPath: string;
  biasOnly: boolean;
  saveF16: boolean;
}

export function resolveJobConfig(c: trainingV1.TrainConfig): JobConfig {
  if (c.activationEndpoints.length === 0) throw invalidArgument('activation_endpoints is empty: give at least one activation service host:port');
  if (!c.tokenizerEndpoint) throw invalidArgument('tokenizer_endpoint is empty: give the tokenizer service host:port');
  if (!c.dataPath) throw invalidArgument('data_path is empty: name the training corpus (jsonl or jsonl.zst) on the tokenizer server');
  if (!c.outputPath) throw invalidArgument('output_path is empty: name the folder for the lens');
  const positive = (v: number, name: string, dflt: number) => {
    if (v === 0) return dflt;
    if (!Number.isInteger(v) || v < 0) throw invalidArgument(`${name} must be a positive integer, got ${v}`);
    return v;
  };
  const kind = c.optimizer === trainingV1.Optimizer.OPTIMIZER_ADAM ? 'adam' : 'sgd';
  const momentum = c.momentum === 0 ? 0.9 : c.momentum;
  if (!(momentum >= 0 && momentum < 1)) throw invalidArgument(`momentum must be in [0, 1), got ${c.momentum}`);
  const lrScale = c.lrScale === 0 ? 1 : c.lrScale;
  if (!(lrScale > 0)) throw invalidArgument(`lr_scale must be positive, got ${c.lrScale}`);
  const weightDecay = c.weightDecaySet ? c.weightDecay : 1e-3;
  if (!(weightDecay >= 0)) throw invalidArgument(`weight_decay must be >= 0, got ${c.weightDecay}`);
  const gradClip = c.gradClip === 0 ? 1 : c.gradClip;
  const numSteps = positive(c.numSteps, 'num_steps', 250);
  const warmupSteps = c.warmupSteps === 0 ? defaultWarmupSteps(kind, numSteps) : c.warmupSteps;
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || warmupSteps >= numSteps) throw invalidArgument(`warmup_steps must be in 0..num_steps-1, got ${c.warmupSteps}`);
  if (c.checkpointFreq < 0) throw invalidArgument(`checkpoint_freq must be >= 0, got ${c.checkpointFreq}`);
  return {
    activationEndpoints: c.activationEndpoints,
    tokenizerEndpoint: c.tokenizerEndpoint,
    dataPath: c.dataPath,
    outputPath: c.outputPath,
    numSteps,
    tokensPerStep: positive(c.tokensPerStep, 'tokens_per_step', 2 ** 18),
    maxSeqLen: positive(c.maxSeqLen, 'max_seq_len', 2048),
    batchSize: positive(c.perGpuBatchSize, 'per_gpu_batch_size', 1),
    loss: c.loss === trainingV1.Loss.LOSS_CE ? 'ce' : 'kl',
    optimizer: { kind, lrScale, momentum, weightDecay, maxGradNorm: gradClip },
    warmupSteps,
    seed: c.seed || 42,
    checkpointFreq: c.checkpointFreq,
    lensInitPath: c.lensInitPath,
    biasOnly: c.biasOnly,
    saveF16: c.saveF16,
  };
}

/**
 * The part of the config a checkpoint must agree with to be resumed (the same data,
 * schedule and recipe); endpoints and paths may change between runs.
 */
export function resumeFingerprint(c: JobConfig, seqLen: number): string {
  return JSON.stringify({
    data: c.dataPath, steps: c.numSteps, tokensPerStep: c.tokensPerStep, seqLen, batch: c.batchSize, loss: c.loss,
    optimizer: c.optimizer, warmup: c.warmupSteps, seed: c.seed, biasOnly: c.biasOnly,
  });
}

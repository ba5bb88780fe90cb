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
  /** Documents shuffled before tokenization (--dataset_shuffle), with this seed. */
  datasetShuffle: boolean;
  datasetShuffleSeed: number;
  /** Checkpoint folder as the client named it; '' = <outputPath>/checkpoints. */
  checkpointPath: string;
  /** Target position = lens position + tokenShift (0 for KL, 1 for CE unless set). */
  tokenShift: number;
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
  const kind = optimizerKind(c.optimizer);
  const momentum = c.momentum === 0 ? 0.9 : c.momentum;
  if (!(momentum >= 0 && momentum < 1)) throw invalidArgument(`momentum must be in [0, 1), got ${c.momentum}`);
  const lrScale = c.lrScale === 0 ? 1 : c.lrScale;
  if (!(lrScale > 0)) throw invalidArgument(`lr_scale must be positive, got ${c.lrScale}`);
  // Muon's recipe (PR #141) decays 10x harder than the original's SGD/Adam.
  const weightDecay = c.weightDecaySet ? c.weightDecay : kind === 'muon' ? 0.01 : 1e-3;
  if (!(weightDecay >= 0)) throw invalidArgument(`weight_decay must be >= 0, got ${c.weightDecay}`);
  // 0 is proto3's "unset"; a negative or NaN clip used to turn clipping off silently.
  const gradClip = c.gradClip === 0 ? 1 : c.gradClip;
  if (!(gradClip > 0)) throw invalidArgument(`grad_clip must be positive (the global gradient-norm bound; default 1.0), got ${c.gradClip}`);
  const numSteps = positive(c.numSteps, 'num_steps', 250);
  const warmupSteps = c.warmupSteps === 0 ? defaultWarmupSteps(kind, numSteps) : c.warmupSteps;
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || warmupSteps >= numSteps) throw invalidArgument(`warmup_steps must be in 0..num_steps-1, got ${c.warmupSteps}`);
  if (c.checkpointFreq < 0) throw invalidArgument(`checkpoint_freq must be >= 0, got ${c.checkpointFreq}`);
  const seed32 = (v: number, name: string) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw invalidArgument(`${name} must be an integer in 0..${0xffffffff} (the generator takes 32 bits), got ${v}`);
    return v;
  };
  const loss = lossKind(c.loss);
  const tokenShift = c.tokenShift ?? (loss === 'ce' ? 1 : 0);
  if (!Number.isInteger(tokenShift) || Math.abs(tokenShift) > 1_000_000) throw invalidArgument(`token_shift must be an integer, got ${c.tokenShift}`);
  if (loss === 'ce' && tokenShift === 0) throw invalidArgument('token_shift 0 with the ce loss would train each position to predict its own input token; use 1 (the default) or more');
  return {
    activationEndpoints: c.activationEndpoints,
    tokenizerEndpoint: c.tokenizerEndpoint,
    dataPath: c.dataPath,
    outputPath: c.outputPath,
    numSteps,
    tokensPerStep: positive(c.tokensPerStep, 'tokens_per_step', 2 ** 18),
    maxSeqLen: positive(c.maxSeqLen, 'max_seq_len', 2048),
    batchSize: positive(c.perGpuBatchSize, 'per_gpu_batch_size', 1),
    loss,
    optimizer: { kind, lrScale, momentum, weightDecay, maxGradNorm: gradClip },
    warmupSteps,
    seed: seed32(c.seed || 42, 'seed'),
    checkpointFreq: c.checkpointFreq,
    lensInitPath: c.lensInitPath,
    biasOnly: c.biasOnly,
    saveF16: c.saveF16,
    datasetShuffle: c.datasetShuffle,
    datasetShuffleSeed: seed32(c.datasetShuffleSeed || 42, 'dataset_shuffle_seed'),
    checkpointPath: c.checkpointDir,
    tokenShift,
  };
}

/** Enum values this server does not know (a newer client, or a bad one) are refused, not read as the default. */
function optimizerKind(o: trainingV1.Optimizer): OptimizerConfig['kind'] {
  switch (o) {
    case trainingV1.Optimizer.OPTIMIZER_UNSPECIFIED:
    case trainingV1.Optimizer.OPTIMIZER_SGD: return 'sgd';
    case trainingV1.Optimizer.OPTIMIZER_ADAM: return 'adam';
    case trainingV1.Optimizer.OPTIMIZER_MUON: return 'muon';
    default: throw invalidArgument(`optimizer ${o} is not one this server knows (OPTIMIZER_SGD = 1, OPTIMIZER_ADAM = 2, OPTIMIZER_MUON = 3)`);
  }
}

function lossKind(l: trainingV1.Loss): LossKind {
  switch (l) {
    case trainingV1.Loss.LOSS_UNSPECIFIED:
    case trainingV1.Loss.LOSS_KL: return 'kl';
    case trainingV1.Loss.LOSS_CE: return 'ce';
    default: throw invalidArgument(`loss ${l} is not one this server knows (LOSS_KL = 1, LOSS_CE = 2)`);
  }
}

/**
 * Version of the data order in checkpoints. 2: one torch.randperm of all chunks. A
 * checkpoint without it was written with chunks shuffled in blocks of 1024 (before
 * 2026-12), and resuming it would continue on a different order.
 */
export const DATA_ORDER = 'randperm-all-chunks';

/**
 * The part of the config a checkpoint must agree with to be resumed (the same data,
 * schedule and recipe); endpoints and paths may change between runs.
 */
export function resumeFingerprint(c: JobConfig, seqLen: number): string {
  return JSON.stringify({
    data: c.dataPath, steps: c.numSteps, tokensPerStep: c.tokensPerStep, seqLen, batch: c.batchSize, loss: c.loss,
    optimizer: c.optimizer, warmup: c.warmupSteps, seed: c.seed, biasOnly: c.biasOnly,
    dataOrder: DATA_ORDER, datasetShuffle: c.datasetShuffle ? c.datasetShuffleSeed : false, tokenShift: c.tokenShift,
  });
}

/**
 * Why a checkpoint with fingerprint `written` cannot resume a job with fingerprint
 * `wanted`, for a person to act on; undefined when it can.
 */
export function resumeMismatch(written: string, wanted: string): string | undefined {
  if (written === wanted) return undefined;
  let old: Record<string, unknown> = {};
  try { old = JSON.parse(written) as Record<string, unknown>; } catch { /* unreadable: generic message */ }
  if (old.dataOrder !== DATA_ORDER) {
    return 'was written before the training data order changed (chunks were shuffled within blocks of 1024; now one seeded permutation of all chunks), so resuming it would continue on another order';
  }
  const now = JSON.parse(wanted) as Record<string, unknown>;
  const differ = Object.keys(now).filter((k) => JSON.stringify(now[k]) !== JSON.stringify(old[k]));
  return `was written by a job with another config (${differ.join(', ')} differ${differ.length === 1 ? 's' : ''})`;
}

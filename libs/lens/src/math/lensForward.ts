/**
 * Lens forward programs for evaluation and predictions. A logit lens is the tuned lens
 * with a zero translator (fed as zero inputs), so one compiled program serves both.
 */
import type { Ops, TensorProgram } from '@tuned-lens/engine';
import { unembed, unembeddingParams, type Unembedding } from './unembed';

const lensInputs = {
  h: { dtype: 'f32' as const, rank: 2 },
  weight: { dtype: 'f32' as const, rank: 2 },
  bias: { dtype: 'f32' as const, rank: 1 },
};

function lensLogProbs<T>(ops: Ops<T>, u: Unembedding): T {
  const h = ops.input('h');
  const z = ops.add(ops.add(h, ops.matmulTransposeB(h, ops.input('weight'))), ops.input('bias'));
  return ops.logSoftmax(unembed(ops, u, z));
}

/**
 * Per-row sums over N rows of one layer (the caller divides by its counts):
 * 'kl_sum' = sum_n KL(p_model || q_lens), 'entropy_sum' = sum_n H(q_lens),
 * 'ce_sum' = sum_n -log q_lens[label_n] over rows whose label is in 0..V-1 (labels of -1,
 * the last position of each sequence, contribute nothing).
 * Inputs: h [N, d], weight [d, d], bias [d], target_logp [N, V], labels [N] i32.
 */
export function lensMetricsProgram(u: Unembedding): TensorProgram {
  return {
    name: 'lens-metrics',
    params: unembeddingParams(u),
    inputs: { ...lensInputs, target_logp: { dtype: 'f32', rank: 2 }, labels: { dtype: 'i32', rank: 1 } },
    outputs: ['kl_sum', 'entropy_sum', 'ce_sum'],
    fn<T>(ops: Ops<T>) {
      const logq = lensLogProbs(ops, u);
      const logp = ops.input('target_logp');
      ops.output('kl_sum', ops.sumAll(ops.mul(ops.exp(logp), ops.sub(logp, logq))));
      ops.output('entropy_sum', ops.neg(ops.sumAll(ops.mul(ops.exp(logq), logq))));
      ops.output('ce_sum', ops.neg(ops.sumAll(ops.mul(ops.oneHot(ops.input('labels'), u.vocabSize), logq))));
    },
  };
}

/**
 * The model's own next-token cross-entropy and entropy from its log-distribution.
 * Inputs: target_logp [N, V], labels [N] i32 (-1 = none). Outputs 'entropy_sum', 'ce_sum'.
 */
export function baselineMetricsProgram(u: Unembedding): TensorProgram {
  return {
    name: 'baseline-metrics',
    params: new Map(),
    inputs: { target_logp: { dtype: 'f32', rank: 2 }, labels: { dtype: 'i32', rank: 1 } },
    outputs: ['entropy_sum', 'ce_sum'],
    fn<T>(ops: Ops<T>) {
      const logp = ops.input('target_logp');
      ops.output('entropy_sum', ops.neg(ops.sumAll(ops.mul(ops.exp(logp), logp))));
      ops.output('ce_sum', ops.neg(ops.sumAll(ops.mul(ops.oneHot(ops.input('labels'), u.vocabSize), logp))));
    },
  };
}

/** log q_lens [N, V] for rows of h (predictions take top-k and statistics from it). */
export function lensLogProbsProgram(u: Unembedding): TensorProgram {
  return {
    name: 'lens-logprobs',
    params: unembeddingParams(u),
    inputs: lensInputs,
    outputs: ['logq'],
    fn<T>(ops: Ops<T>) {
      ops.output('logq', lensLogProbs(ops, u));
    },
  };
}

/**
 * One translator's loss and gradients, written out explicitly over engine-neutral ops
 * (so both engines train; no autograd needed). The same program serves every layer: a
 * layer is just a different (h, W, b).
 *
 * Forward (N tokens, rows of h):
 *   z = h + h W^T + b                     (translator, residual form, W [d, d] out x in)
 *   logq = log_softmax(W_U final_norm(z) + b_U)
 *   KL:  loss = 1/N sum_n sum_v p (log p - log q)        (p = the model's distribution)
 *   CE:  loss = -1/N sum_n log q[label_n]
 * Backward:
 *   dlogits = (q - p) / N    (CE: p = one_hot(label))
 *   dn = dlogits W_U;  dz = final_norm'(z) dn;  dW = dz^T h;  db = sum_n dz
 * Everything is f32 whatever the model dtype (FIX for the original's fp16 NaNs, #123).
 */
import type { Ops, TensorProgram } from '@tuned-lens/engine';
import { finalNormBackward, unembed, unembeddingParams, type Unembedding } from './unembed';

export type LossKind = 'kl' | 'ce';

/**
 * Inputs: 'h' [N, d], 'weight' [d, d], 'bias' [d], 'inv_count' [1] (= 1/N over the whole
 * micro-batch, so losses and gradients of several calls add up to the mean), and
 * 'target_logp' [N, V] (KL) or 'labels' [N] i32 (CE).
 * Outputs: 'loss' [] (this call's share of the mean), 'grad_weight' [d, d], 'grad_bias' [d].
 */
export function lensStepProgram(u: Unembedding, loss: LossKind): TensorProgram {
  const inputs: TensorProgram['inputs'] = {
    h: { dtype: 'f32', rank: 2 },
    weight: { dtype: 'f32', rank: 2 },
    bias: { dtype: 'f32', rank: 1 },
    inv_count: { dtype: 'f32', rank: 1 },
    ...(loss === 'kl' ? { target_logp: { dtype: 'f32' as const, rank: 2 } } : { labels: { dtype: 'i32' as const, rank: 1 } }),
  };
  return {
    name: `lens-step-${loss}`,
    params: unembeddingParams(u),
    inputs,
    outputs: ['loss', 'grad_weight', 'grad_bias'],
    fn<T>(ops: Ops<T>) {
      const h = ops.input('h');
      const invN = ops.input('inv_count');
      const z = ops.add(ops.add(h, ops.matmulTransposeB(h, ops.input('weight'))), ops.input('bias'));
      const logq = ops.logSoftmax(unembed(ops, u, z));
      let p: T, perToken: T;
      if (loss === 'kl') {
        const logp = ops.input('target_logp');
        p = ops.exp(logp);
        perToken = ops.sumLast(ops.mul(p, ops.sub(logp, logq)));
      } else {
        p = ops.oneHot(ops.input('labels'), u.vocabSize);
        perToken = ops.neg(ops.sumLast(ops.mul(p, logq)));
      }
      ops.output('loss', ops.mul(ops.sumAll(perToken), invN));
      const dlogits = ops.mul(ops.sub(ops.exp(logq), p), invN);
      const dn = ops.matmulTransposeB(dlogits, ops.param('u.head'));
      const dz = finalNormBackward(ops, u, z, dn);
      ops.output('grad_weight', ops.matmul(ops.transpose(dz, [1, 0]), h));
      ops.output('grad_bias', ops.sumRows(dz));
    },
  };
}

/**
 * The model's own log-distribution, the KL target: log_softmax(W_U h_L + b_U) for the
 * HF-convention last hidden state (already through the final norm).
 * Input 'h_final' [N, d]; output 'target_logp' [N, V].
 */
export function targetProgram(u: Unembedding): TensorProgram {
  return {
    name: 'lens-target',
    params: unembeddingParams(u),
    inputs: { h_final: { dtype: 'f32', rank: 2 } },
    outputs: ['target_logp'],
    fn<T>(ops: Ops<T>) {
      ops.output('target_logp', ops.logSoftmax(ops.linear(ops.input('h_final'), ops.param('u.head'), ops.param('u.head_b'))));
    },
  };
}

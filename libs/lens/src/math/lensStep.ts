/**
 * One translator's loss and gradients, written out explicitly over engine-neutral ops
 * (so both engines train; no autograd needed). The same program serves every layer: a
 * layer is just a different (h, W, b).
 *
 * Forward (N tokens, rows of h):
 *   z = h + h W^T + b                     (translator, residual form, W [d, d] out x in)
 *   x = final_norm(z);  logits = x W_U^T + b_U;  logq = logits - lse
 *   KL:  loss = 1/N sum_n sum_v p (log p - log q)        (p = the model's distribution)
 *   CE:  loss = -1/N sum_n log q[label_n]
 * Backward:
 *   dlogits = (q - p) / N    (CE: p = one_hot(label))
 *   dn = dlogits W_U;  dz = final_norm'(z) dn;  dW = dz^T h;  db = sum_n dz
 * Everything is f32 whatever the model dtype (FIX for the original's fp16 NaNs, #123).
 *
 * KL without a [N, vocab] target per layer: everything that depends only on p is the same
 * for every layer, so `klTargetProgram` computes it once per micro-batch:
 *   KL_n = [sum_v p (log p - b_U)] - x . (p W_U) + lse      (since sum_v p = 1)
 *   dn   = (q W_U - p W_U) / N
 * with p W_U [N, d] ('p_head') and sum_v p (log p - b_U) [N, 1] ('p_const'). Each layer's
 * step then makes two passes over [N, vocab] (logSoftmax, exp) instead of eight, and reads
 * no [N, vocab] input. The loss is a difference of logit-sized terms: in f32 that costs
 * ~1e-7 x |logits| absolute per token, far below what a loss is reported with.
 */
import type { Ops, TensorProgram } from '@tuned-lens/engine';
import { finalNorm, finalNormBackward, headBias, unembeddingParams, type Unembedding } from './unembed';

export type LossKind = 'kl' | 'ce';

/**
 * Inputs: 'h' [N, d], 'weight' [d, d], 'bias' [d], 'inv_count' [1] (= 1/N over the whole
 * micro-batch, so losses and gradients of several calls add up to the mean), and
 * 'p_head' [N, d] + 'p_const' [N, 1] from klTargetProgram (KL) or 'labels' [N] i32 (CE).
 * Outputs: 'loss' [] (this call's share of the mean), 'grad_weight' [d, d], 'grad_bias' [d].
 */
export function lensStepProgram(u: Unembedding, loss: LossKind): TensorProgram {
  const inputs: TensorProgram['inputs'] = {
    h: { dtype: 'f32', rank: 2 },
    weight: { dtype: 'f32', rank: 2 },
    bias: { dtype: 'f32', rank: 1 },
    inv_count: { dtype: 'f32', rank: 1 },
    ...(loss === 'kl'
      ? { p_head: { dtype: 'f32' as const, rank: 2 }, p_const: { dtype: 'f32' as const, rank: 2 } }
      : { labels: { dtype: 'i32' as const, rank: 1 } }),
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
      const x = finalNorm(ops, u, z);
      const logits = ops.linear(x, ops.param('u.head'), headBias(ops, u));
      const logq = ops.logSoftmax(logits);
      let perToken: T, dn: T;
      if (loss === 'kl') {
        const pHead = ops.input('p_head');
        // lse per row, read off column 0 (logits - logq is the same in every column)
        const lse = ops.sub(ops.sliceLast(logits, 0, 1), ops.sliceLast(logq, 0, 1));
        perToken = ops.add(ops.sub(ops.input('p_const'), ops.sumLast(ops.mul(x, pHead))), lse);
        dn = ops.mul(ops.sub(ops.matmulTransposeB(ops.exp(logq), ops.param('u.head')), pHead), invN);
      } else {
        const p = ops.oneHot(ops.input('labels'), u.vocabSize);
        perToken = ops.neg(ops.sumLast(ops.mul(p, logq)));
        dn = ops.matmulTransposeB(ops.mul(ops.sub(ops.exp(logq), p), invN), ops.param('u.head'));
      }
      ops.output('loss', ops.mul(ops.sumAll(perToken), invN));
      const dz = finalNormBackward(ops, u, z, dn);
      ops.output('grad_weight', ops.matmul(ops.transpose(dz, [1, 0]), h));
      ops.output('grad_bias', ops.sumRows(dz));
    },
  };
}

/**
 * The per-micro-batch half of the KL step (see the top of this file): p = softmax(W_U h_L
 * + b_U) for the HF-convention last hidden state (already through the final norm), then
 * 'p_head' = p W_U [N, d] and 'p_const' = sum_v p (log p - b_U) [N, 1].
 * Input 'h_final' [N, d].
 */
export function klTargetProgram(u: Unembedding): TensorProgram {
  return {
    name: 'lens-kl-target',
    params: unembeddingParams(u),
    inputs: { h_final: { dtype: 'f32', rank: 2 } },
    outputs: ['p_head', 'p_const'],
    fn<T>(ops: Ops<T>) {
      const bU = headBias(ops, u);
      const logp = ops.logSoftmax(ops.linear(ops.input('h_final'), ops.param('u.head'), bU));
      const p = ops.exp(logp);
      ops.output('p_head', ops.matmulTransposeB(p, ops.param('u.head')));
      ops.output('p_const', ops.sumLast(ops.mul(p, bU ? ops.sub(logp, bU) : logp)));
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
      ops.output('target_logp', ops.logSoftmax(ops.linear(ops.input('h_final'), ops.param('u.head'), headBias(ops, u))));
    },
  };
}

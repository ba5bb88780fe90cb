/**
 * A measured proposal for libs/lens (not applied there): the KL lens step with 2 instead
 * of 8 elementwise passes over the [rows, vocab] logits, by moving everything that
 * depends only on the target distribution p into the once-per-micro-batch target program.
 *
 *   node --import tsx src/train/proposal.ts [--only small-lm|gpt2-small] [--threads 1] [--runs 8]
 *
 * Why it is exact: with x = final_norm(z), logits = x W_Uᵀ + b_U, logq = logits - lse,
 *   KL_n   = Σ_v p (log p - logq) = [Σ_v p (log p - b_U)] - x · (p W_U) + lse
 *   dlogits = (q - p) / N   =>   dn = dlogits W_U = (q W_U - p W_U) / N
 * and p W_U [rows, d] and c = Σ_v p (log p - b_U) [rows, 1] do not depend on the layer.
 * So the target program computes them once (one extra [rows, vocab] x [vocab, d] GEMM per
 * micro-batch), and each layer's step needs only logSoftmax + exp over [rows, vocab]
 * (lse = logits[:, 0] - logq[:, 0]); no [rows, vocab] input per layer either.
 *
 * Prints per-program times (current vs proposed, alternated) and the difference of the
 * loss and gradients. Diagnostic only, on seeded random inputs of the workload's shape.
 */
import { parseArgs } from 'node:util';
import { OnnxEngine, type CompiledProgram, type Ops, type RuntimeInputs, type TensorProgram } from '@tuned-lens/engine';
import { smallLmDir } from '@tuned-lens/fixtures';
import { loadModel } from '@tuned-lens/models';
import { finalNorm, finalNormBackward, lensStepProgram, targetProgram, unembeddingParams, type Unembedding } from '@tuned-lens/lens';
import { ensureRandomGpt2, gpt2SmallShape } from '../gpt2Random';
import { fillNormal, Sfc32 } from '../prng';
import { median } from '../common';
import { lensUnembedding } from './data';

/** Once per micro-batch: p W_U [N, d] and c = Σ_v p (log p - b_U) [N, 1]. */
export function proposedTargetProgram(u: Unembedding): TensorProgram {
  return {
    name: 'lens-target-v2', params: unembeddingParams(u), inputs: { h_final: { dtype: 'f32', rank: 2 } }, outputs: ['p_head', 'p_const'],
    fn<T>(ops: Ops<T>) {
      const logp = ops.logSoftmax(ops.linear(ops.input('h_final'), ops.param('u.head'), ops.param('u.head_b')));
      const p = ops.exp(logp);
      ops.output('p_head', ops.matmulTransposeB(p, ops.param('u.head')));
      ops.output('p_const', ops.sumLast(ops.mul(p, ops.sub(logp, ops.param('u.head_b')))));
    },
  };
}

/** Per layer: the same outputs as lensStepProgram(u, 'kl'), from p_head / p_const instead of target_logp. */
export function proposedStepProgram(u: Unembedding): TensorProgram {
  return {
    name: 'lens-step-kl-v2', params: unembeddingParams(u),
    inputs: {
      h: { dtype: 'f32', rank: 2 }, weight: { dtype: 'f32', rank: 2 }, bias: { dtype: 'f32', rank: 1 }, inv_count: { dtype: 'f32', rank: 1 },
      p_head: { dtype: 'f32', rank: 2 }, p_const: { dtype: 'f32', rank: 2 },
    },
    outputs: ['loss', 'grad_weight', 'grad_bias'],
    fn<T>(ops: Ops<T>) {
      const h = ops.input('h'), invN = ops.input('inv_count'), pW = ops.input('p_head');
      const z = ops.add(ops.add(h, ops.matmulTransposeB(h, ops.input('weight'))), ops.input('bias'));
      const x = finalNorm(ops, u, z);
      const logits = ops.linear(x, ops.param('u.head'), ops.param('u.head_b'));
      const logq = ops.logSoftmax(logits);
      const lse = ops.sub(ops.sliceLast(logits, 0, 1), ops.sliceLast(logq, 0, 1));
      const perToken = ops.add(ops.sub(ops.input('p_const'), ops.sumLast(ops.mul(x, pW))), lse);
      ops.output('loss', ops.mul(ops.sumAll(perToken), invN));
      const dn = ops.mul(ops.sub(ops.matmulTransposeB(ops.exp(logq), ops.param('u.head')), pW), invN);
      const dz = finalNormBackward(ops, u, z, dn);
      ops.output('grad_weight', ops.matmul(ops.transpose(dz, [1, 0]), h));
      ops.output('grad_bias', ops.sumRows(dz));
    },
  };
}

async function timeAlternating(a: () => Promise<unknown>, b: () => Promise<unknown>, runs: number): Promise<{ a: number; b: number; ratio: number }> {
  await a();
  await b();
  const ta: number[] = [], tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    let s = performance.now();
    await a();
    ta.push((performance.now() - s) / 1000);
    s = performance.now();
    await b();
    tb.push((performance.now() - s) / 1000);
  }
  return { a: median(ta), b: median(tb), ratio: median(ta.map((x, i) => x / tb[i])) };
}

const maxDiff = (x: Float32Array, y: Float32Array) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
const maxAbs = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

export async function compareKlStep(u: Unembedding, rows: number, layers: number, threads: number, runs: number): Promise<string> {
  const d = u.dModel, V = u.vocabSize;
  const rng = new Sfc32(4242, 1);
  const h = fillNormal(new Float32Array(rows * d), rng, 1);
  const hFinal = fillNormal(new Float32Array(rows * d), rng, 1);
  const w = fillNormal(new Float32Array(d * d), rng, 0.02);
  const b = fillNormal(new Float32Array(d), rng, 0.02);
  const engine = new OnnxEngine({ intraOpNumThreads: threads });
  const progs: CompiledProgram[] = [];
  const compile = async (p: TensorProgram) => { const c = await engine.compile(p); progs.push(c); return c; };
  try {
    const [t1, s1, t2, s2] = [await compile(targetProgram(u)), await compile(lensStepProgram(u, 'kl')), await compile(proposedTargetProgram(u)), await compile(proposedStepProgram(u))];
    const tin: RuntimeInputs = { h_final: { shape: [rows, d], data: hFinal } };
    const logp = (await t1.run(tin)).target_logp.data;
    const pre = await t2.run(tin);
    const common: RuntimeInputs = { h: { shape: [rows, d], data: h }, weight: { shape: [d, d], data: w }, bias: { shape: [d], data: b }, inv_count: { shape: [1], data: Float32Array.of(1 / rows) } };
    const in1: RuntimeInputs = { ...common, target_logp: { shape: [rows, V], data: logp } };
    const in2: RuntimeInputs = { ...common, p_head: { shape: [rows, d], data: pre.p_head.data }, p_const: { shape: [rows, 1], data: pre.p_const.data } };
    const o1 = await s1.run(in1), o2 = await s2.run(in2);
    const target = await timeAlternating(() => t1.run(tin), () => t2.run(tin), Math.max(3, runs >> 1));
    const step = await timeAlternating(() => s1.run(in1), () => s2.run(in2), runs);
    const now = target.a + layers * step.a, next = target.b + layers * step.b;
    return [
      `| program | current (s) | proposed (s) | current / proposed (median of alternated pairs) |`,
      `|---|---:|---:|---:|`,
      `| KL target, once per micro-batch | ${target.a.toFixed(4)} | ${target.b.toFixed(4)} | ${target.ratio.toFixed(2)} |`,
      `| lens step, per layer | ${step.a.toFixed(4)} | ${step.b.toFixed(4)} | ${step.ratio.toFixed(2)} |`,
      `| full step (target + ${layers} layers) | ${now.toFixed(3)} | ${next.toFixed(3)} | ${(now / next).toFixed(2)} |`,
      '',
      `agreement: loss ${o1.loss.data[0].toPrecision(8)} vs ${o2.loss.data[0].toPrecision(8)};`
        + ` grad_weight max |diff| ${maxDiff(o1.grad_weight.data, o2.grad_weight.data).toExponential(2)} (max |g| ${maxAbs(o1.grad_weight.data).toExponential(2)});`
        + ` grad_bias max |diff| ${maxDiff(o1.grad_bias.data, o2.grad_bias.data).toExponential(2)} (max |g| ${maxAbs(o1.grad_bias.data).toExponential(2)})`,
    ].join('\n');
  } finally {
    for (const p of progs) await p.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, threads: { type: 'string', default: '1' }, runs: { type: 'string', default: '8' }, 'cache-dir': { type: 'string' }, seed: { type: 'string', default: '1234' } } });
  const cacheDir = values['cache-dir'] ?? process.env.TUNED_LENS_BENCH_DIR ?? '/tmp/tuned-lens-bench';
  for (const id of ['small-lm', 'gpt2-small'] as const) {
    if (values.only && values.only !== id) continue;
    const dir = id === 'small-lm' ? smallLmDir : ensureRandomGpt2(cacheDir, gpt2SmallShape, Number(values.seed));
    const model = await loadModel(dir);
    const u = lensUnembedding(model);
    const rows = id === 'small-lm' ? 2048 : 1024;
    console.log(`### ${id}: ${rows} rows, d ${u.dModel}, vocab ${u.vocabSize}, ${model.dims.numLayers} layers, onnx ${values.threads} thread(s)\n`);
    console.log(await compareKlStep(u, rows, model.dims.numLayers, Number(values.threads), Number(values.runs)));
    console.log();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();

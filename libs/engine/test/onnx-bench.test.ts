/**
 * Timing of a GPT-2-small-shaped forward (12 layers, d=768, 12 heads, vocab 50257,
 * random weights) on the ONNX engine. Skipped unless TUNED_LENS_ORT_BENCH=1, since it
 * allocates ~0.5 GB of weights and takes seconds:
 *   TUNED_LENS_ORT_BENCH=1 GLIBC_TUNABLES=glibc.malloc.hugetlb=1 node --import tsx --test test/onnx-bench.test.ts
 * Shape knobs: TUNED_LENS_ORT_BENCH_B / _T (default 8 x 256), TUNED_LENS_ORT_THREADS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxEngine } from '../src/onnx/index.js';
import type { HostArray, Ops, TensorProgram } from '../src/ops.js';

const L = 12, D = 768, H = 12, DH = D / H, V = 50257, NCTX = 1024;

/** Weights ~ U(-a, a) from a cheap xorshift, so the bench spends its time in ORT. */
function weights(shape: number[], a: number, seed: number): HostArray {
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  let s = seed | 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    data[i] = ((s >>> 0) / 4294967296 * 2 - 1) * a;
  }
  return { shape, data };
}

function gpt2Program(): TensorProgram {
  const params = new Map<string, HostArray>();
  let seed = 1;
  const p = (name: string, shape: number[], a = 0.02) => params.set(name, weights(shape, a, seed++));
  const ones = (name: string) => params.set(name, { shape: [D], data: new Float32Array(D).fill(1) });
  p('wte', [V, D]); p('wpe', [NCTX, D]);
  for (let l = 0; l < L; l++) {
    ones(`h${l}.ln1.w`); p(`h${l}.ln1.b`, [D]);
    p(`h${l}.attn.w`, [D, 3 * D]); p(`h${l}.attn.b`, [3 * D]);
    p(`h${l}.proj.w`, [D, D]); p(`h${l}.proj.b`, [D]);
    ones(`h${l}.ln2.w`); p(`h${l}.ln2.b`, [D]);
    p(`h${l}.fc.w`, [D, 4 * D]); p(`h${l}.fc.b`, [4 * D]);
    p(`h${l}.out.w`, [4 * D, D]); p(`h${l}.out.b`, [D]);
  }
  ones('lnf.w'); p('lnf.b', [D]);
  const outputs = [...Array.from({ length: L + 1 }, (_, l) => `hidden.${l}`), 'logits'];
  return {
    name: 'gpt2-bench',
    params,
    inputs: { input_ids: { dtype: 'i32', rank: 2 }, position_ids: { dtype: 'i32', rank: 2 }, causal_bias: { dtype: 'f32', rank: 2 } },
    outputs,
    fn<T>(o: Ops<T>) {
      const heads = (x: T) => o.transpose(o.reshapeTail(x, 2, [H, DH]), [0, 2, 1, 3]);
      let h = o.add(o.embedding(o.param('wte'), o.input('input_ids')), o.embedding(o.param('wpe'), o.input('position_ids')));
      o.output('hidden.0', h);
      for (let l = 0; l < L; l++) {
        const P = (n: string) => o.param(`h${l}.${n}`);
        const a = o.layerNorm(h, P('ln1.w'), P('ln1.b'), 1e-5);
        const qkv = o.linear(a, P('attn.w'), P('attn.b'));
        const [q, k, v] = [0, 1, 2].map((i) => heads(o.sliceLast(qkv, i * D, (i + 1) * D)));
        const scores = o.add(o.scale(o.matmulTransposeB(q, k), 1 / Math.sqrt(DH)), o.input('causal_bias'));
        const ctx = o.reshapeTail(o.transpose(o.matmul(o.softmax(scores), v), [0, 2, 1, 3]), 2, [D]);
        h = o.add(h, o.linear(ctx, P('proj.w'), P('proj.b')));
        const m = o.layerNorm(h, P('ln2.w'), P('ln2.b'), 1e-5);
        h = o.add(h, o.linear(o.gelu(o.linear(m, P('fc.w'), P('fc.b')), 'tanh'), P('out.w'), P('out.b')));
        o.output(`hidden.${l + 1}`, h);
      }
      o.output('logits', o.matmulTransposeB(o.layerNorm(h, o.param('lnf.w'), o.param('lnf.b'), 1e-5), o.param('wte')));
    },
  };
}

const enabled = process.env.TUNED_LENS_ORT_BENCH === '1';

test('GPT-2-small-shaped forward', { skip: !enabled && 'set TUNED_LENS_ORT_BENCH=1' }, async () => {
  const B = Number(process.env.TUNED_LENS_ORT_BENCH_B ?? 8), T = Number(process.env.TUNED_LENS_ORT_BENCH_T ?? 256);
  const ms = (t0: number) => `${(performance.now() - t0).toFixed(0)} ms`;
  const mib = () => `${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB rss`;

  let t0 = performance.now();
  const program = gpt2Program();
  console.log(`weights generated: ${ms(t0)}, ${mib()}`);
  const engine = new OnnxEngine();
  t0 = performance.now();
  const compiled = await engine.compile(program);
  console.log(`compile (trace + encode + all-outputs session), ${engine.threads} threads: ${ms(t0)}, ${mib()}`);

  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % V);
  const pos = Int32Array.from({ length: B * T }, (_, i) => i % T);
  const bias = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) bias[i * T + j] = -1e9;
  const inputs = { input_ids: { shape: [B, T], data: ids }, position_ids: { shape: [B, T], data: pos }, causal_bias: { shape: [T, T], data: bias } };
  const hidden = program.outputs.filter((o) => o !== 'logits');

  for (const [label, outs] of [['all outputs (13 hidden + logits)', undefined], ['hidden states only', hidden]] as const) {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      t0 = performance.now();
      const r = await compiled.run(inputs, outs ? [...outs] : undefined);
      times.push(performance.now() - t0);
      assert.deepEqual(r['hidden.12'].shape, [B, T, D]);
      assert.ok(Number.isFinite(r['hidden.12'].data[0]));
    }
    console.log(`B=${B} T=${T} ${label}: ${times.map((t) => t.toFixed(0)).join(', ')} ms (first includes session creation for a new subset), ${mib()}`);
  }
  await engine.dispose();
});

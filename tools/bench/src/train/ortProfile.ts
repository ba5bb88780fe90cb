/**
 * Inside the onnx engine's lens step: onnxruntime's own per-node profile of the programs
 * TranslatorTrainer runs (libs/lens klTargetProgram and lensStepProgram 'kl'), traced and
 * encoded exactly as OnnxEngine does, on a workload's real shapes, with the session
 * options OnnxEngine uses plus ORT profiling.
 *
 *   node --import tsx src/train/ortProfile.ts [--only small-lm|gpt2-small] [--threads 1] [--runs 5] [--rows N]
 *
 * Prints, per program: wall time of session.run vs the sum of node times, and the time per
 * op type (after ORT's graph optimisation, i.e. fused kernels), with GFLOP/s for MatMul /
 * Gemm / FusedMatMul nodes. Also writes the optimised graph for inspection. Diagnostic
 * only: the bench's numbers come from main.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { OnnxTracer, encodeModel, type IrGraph } from '@tuned-lens/engine';
import { smallLmDir } from '@tuned-lens/fixtures';
import { loadModel } from '@tuned-lens/models';
import { klTargetProgram, lensStepProgram, type Unembedding } from '@tuned-lens/lens';
import { ensureRandomGpt2, gpt2SmallShape } from '../gpt2Random';
import { Sfc32, fillNormal } from '../prng';
import { lensUnembedding } from './data';
import { median } from '../common';

interface NodeEvent { cat: string; name: string; dur: number; args?: { op_name?: string; output_type_shape?: Record<string, number[]>[]; input_type_shape?: Record<string, number[]>[] } }

export interface OpTime { op: string; seconds: number; nodes: number; gflops?: number }

export interface ProgramProfile {
  program: string;
  rows: number;
  wallSeconds: number;
  nodeSeconds: number;
  ops: OpTime[];
}

function shapesOf(list: Record<string, number[]>[] | undefined): number[][] {
  return (list ?? []).map((o) => Object.values(o)[0] ?? []);
}

/** FLOPs of a (Fused)MatMul / Gemm node from its profiled input shapes. */
function matmulFlops(op: string, ins: number[][], outs: number[][]): number {
  const out = outs[0];
  const a = ins[0];
  if (!out || !a) return 0;
  // k: the contracted dim. For MatMul/FusedMatMul with transA the shapes differ; the output
  // has m x n, and k = numel(a) / m' where m' is a's non-contracted size: use numel(a) * n.
  const n = out.at(-1)!;
  const numelA = a.reduce((p, d) => p * d, 1);
  return op === 'Gemm' || op.includes('MatMul') ? 2 * numelA * n : 0;
}

async function profileProgram(label: string, graph: IrGraph, feeds: Record<string, ort.Tensor>, threads: number, runs: number, dir: string): Promise<ProgramProfile> {
  const session = await ort.InferenceSession.create(encodeModel(graph, label), {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: 'sequential', enableCpuMemArena: true, enableMemPattern: true, logSeverityLevel: 3,
    enableProfiling: true, profileFilePrefix: join(dir, label), optimizedModelFilePath: join(dir, `${label}.optimized.onnx`),
  });
  const outputs = graph.outputs.map((o) => o.value);
  await session.run(feeds, outputs); // warm-up
  const walls: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds, outputs);
    walls.push((performance.now() - t0) / 1000);
  }
  session.endProfiling(); // writes <prefix>_<timestamp>.json
  await session.release();
  const name = readdirSync(dir).find((f) => f.startsWith(`${label}_`) && f.endsWith('.json'));
  if (!name) throw new Error(`onnxruntime wrote no profile file for ${label} in ${dir}`);
  const path = join(dir, name);
  const events = JSON.parse(readFileSync(path, 'utf8')) as NodeEvent[];
  const nodeEvents = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  // One group of node events per run; the first is the warm-up. Per node, the median over
  // the timed runs (this VM's load makes single kernel times jumpy).
  const perRun = nodeEvents.length / (runs + 1);
  if (!Number.isInteger(perRun)) throw new Error(`${label}: ${nodeEvents.length} node events do not split into ${runs + 1} runs`);
  const byOp = new Map<string, OpTime & { flops: number }>();
  for (let i = 0; i < perRun; i++) {
    const evs = Array.from({ length: runs }, (_, r) => nodeEvents[(r + 1) * perRun + i]);
    const e = evs[0];
    const op = e.args?.op_name ?? '?';
    const t = byOp.get(op) ?? { op, seconds: 0, nodes: 0, flops: 0 };
    t.seconds += median(evs.map((x) => x.dur)) / 1e6;
    t.nodes += 1;
    t.flops += matmulFlops(op, shapesOf(e.args?.input_type_shape), shapesOf(e.args?.output_type_shape));
    byOp.set(op, t);
  }
  const ops = [...byOp.values()].sort((a, b) => b.seconds - a.seconds).map(({ flops, ...t }) => ({ ...t, gflops: flops ? flops / t.seconds / 1e9 : undefined }));
  const rows = (feeds.h ?? feeds.h_final).dims[0];
  walls.sort((a, b) => a - b);
  return { program: label, rows, wallSeconds: walls[walls.length >> 1], nodeSeconds: ops.reduce((a, o) => a + o.seconds, 0), ops };
}

async function runOnce(graph: IrGraph, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(encodeModel(graph, 'once'), { executionProviders: ['cpu'], logSeverityLevel: 3 });
  try {
    const out = await session.run(feeds, graph.outputs.map((o) => o.value));
    return Object.fromEntries(graph.outputs.map((o) => [o.name, out[o.value]]));
  } finally {
    await session.release();
  }
}

export async function profileLensPrograms(u: Unembedding, rows: number, threads: number, runs: number): Promise<ProgramProfile[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ort-profile-'));
  try {
    const d = u.dModel;
    const rng = new Sfc32(99, 7);
    const h = fillNormal(new Float32Array(rows * d), rng, 1);
    const w = fillNormal(new Float32Array(d * d), rng, 0.01);
    const hFinal = fillNormal(new Float32Array(rows * d), rng, 1);
    const targetGraph = OnnxTracer.trace(klTargetProgram(u));
    const target = await profileProgram('lens-kl-target', targetGraph, { h_final: new ort.Tensor('float32', hFinal, [rows, d]) }, threads, runs, dir);
    // The step's per-micro-batch inputs from a real target distribution.
    const pre = await runOnce(targetGraph, { h_final: new ort.Tensor('float32', hFinal, [rows, d]) });
    const step = await profileProgram('lens-step-kl', OnnxTracer.trace(lensStepProgram(u, 'kl')), {
      h: new ort.Tensor('float32', h, [rows, d]), weight: new ort.Tensor('float32', w, [d, d]), bias: new ort.Tensor('float32', new Float32Array(d), [d]),
      inv_count: new ort.Tensor('float32', Float32Array.of(1 / rows), [1]), p_head: pre.p_head, p_const: pre.p_const,
    }, threads, runs, dir);
    return [target, step];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function profileMarkdown(title: string, ps: ProgramProfile[]): string {
  const lines = [`### ${title}`, ''];
  for (const p of ps) {
    lines.push(`${p.program} (${p.rows} rows): session.run ${p.wallSeconds.toFixed(3)} s, sum of kernels ${p.nodeSeconds.toFixed(3)} s`, '', '| op (after ORT fusion) | nodes | seconds | share | GFLOP/s |', '|---|---:|---:|---:|---:|');
    for (const o of p.ops.filter((x) => x.seconds >= 0.0005)) {
      lines.push(`| ${o.op} | ${o.nodes} | ${o.seconds.toFixed(4)} | ${((100 * o.seconds) / p.nodeSeconds).toFixed(1)}% | ${o.gflops ? o.gflops.toFixed(0) : ''} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, threads: { type: 'string', default: '1' }, runs: { type: 'string', default: '5' }, rows: { type: 'string' }, 'cache-dir': { type: 'string' }, seed: { type: 'string', default: '1234' } } });
  const threads = Number(values.threads), runs = Number(values.runs);
  const cacheDir = values['cache-dir'] ?? process.env.TUNED_LENS_BENCH_DIR ?? '/tmp/tuned-lens-bench';
  for (const id of ['small-lm', 'gpt2-small'] as const) {
    if (values.only && values.only !== id) continue;
    const dir = id === 'small-lm' ? smallLmDir : ensureRandomGpt2(cacheDir, gpt2SmallShape, Number(values.seed));
    const model = await loadModel(dir);
    const u = lensUnembedding(model);
    const rows = values.rows ? Number(values.rows) : id === 'small-lm' ? 2048 : 1024;
    console.log(profileMarkdown(`${id}: ${rows} rows, d ${u.dModel}, vocab ${u.vocabSize}, ${threads} thread(s)`, await profileLensPrograms(u, rows, threads, runs)));
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();

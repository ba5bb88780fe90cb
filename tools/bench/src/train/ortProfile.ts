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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { OnnxTracer, encodeModel, type IrGraph } from '@tuned-lens/engine';
import { loadModel } from '@tuned-lens/models';
import { klTargetProgram, lensStepProgram, type Unembedding } from '@tuned-lens/lens';
import { middleWall, opTableLines, profileSession, timeByOp, type OpTime } from '../onnxProfile';
import { Sfc32, fillNormal } from '../prng';
import { defaultCacheDir, workloadModelDir, WORKLOADS } from '../workloads';
import { lensUnembedding } from './data';

export interface ProgramProfile {
  program: string;
  rows: number;
  wallSeconds: number;
  nodeSeconds: number;
  ops: OpTime[];
}

async function profileProgram(label: string, graph: IrGraph, feeds: Record<string, ort.Tensor>, threads: number, runs: number, dir: string): Promise<ProgramProfile> {
  const p = await profileSession({ model: encodeModel(graph, label), label, dir, feeds, outputs: graph.outputs.map((o) => o.value), threads, runs });
  const ops = timeByOp(p.nodes);
  const rows = (feeds.h ?? feeds.h_final).dims[0];
  return { program: label, rows, wallSeconds: middleWall(p.wallSeconds), nodeSeconds: ops.reduce((a, o) => a + o.seconds, 0), ops };
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
    lines.push(`${p.program} (${p.rows} rows): session.run ${p.wallSeconds.toFixed(3)} s, sum of kernels ${p.nodeSeconds.toFixed(3)} s`, '', ...opTableLines(p.ops, p.nodeSeconds, 0.0005), '');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, threads: { type: 'string', default: '1' }, runs: { type: 'string', default: '5' }, rows: { type: 'string' }, 'cache-dir': { type: 'string' }, seed: { type: 'string', default: '1234' } } });
  const threads = Number(values.threads), runs = Number(values.runs);
  const cacheDir = values['cache-dir'] ?? defaultCacheDir();
  for (const id of WORKLOADS) {
    if (values.only && values.only !== id) continue;
    const dir = workloadModelDir(id, cacheDir, Number(values.seed));
    const model = await loadModel(dir);
    const u = lensUnembedding(model);
    const rows = values.rows ? Number(values.rows) : id === 'small-lm' ? 2048 : 1024;
    console.log(profileMarkdown(`${id}: ${rows} rows, d ${u.dModel}, vocab ${u.vocabSize}, ${threads} thread(s)`, await profileLensPrograms(u, rows, threads, runs)));
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();

/**
 * onnxruntime's own per-node profile of one program: the diagnostics behind the forward
 * (forwardProfile.ts) and the lens programs (train/ortProfile.ts) share it, and the forward
 * diagnostics (forwardProfile.ts, forwardAB.ts) share the forward's inputs.
 *
 * The session gets OnnxEngine's options plus ORT profiling and writes its optimised graph
 * (the fused kernels the times belong to). One warm-up run, then `runs` timed ones; ORT
 * logs one event per node per run, and each node's time is the median over the timed runs
 * (this VM's load makes single kernel times jumpy).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import type { LoadedModel } from '@tuned-lens/models';
import { median } from './common';
import { randomTokenIds } from './prng';

interface NodeEvent { cat: string; name: string; dur: number; args?: { op_name?: string; output_type_shape?: Record<string, number[]>[]; input_type_shape?: Record<string, number[]>[] } }

export interface NodeTime {
  name: string;
  /** Op type after ORT's graph optimisation (e.g. FusedMatMul). */
  op: string;
  seconds: number;
  inputShapes: number[][];
  outputShapes: number[][];
}

export interface SessionProfile {
  /** session.run wall seconds of the timed runs, in order. */
  wallSeconds: number[];
  /** Every node of the optimised graph, in execution order. */
  nodes: NodeTime[];
  optimizedModelFile: string;
  profileFile: string;
}

export interface OpTime { op: string; seconds: number; nodes: number; gflops?: number }

const shapesOf = (list: Record<string, number[]>[] | undefined): number[][] => (list ?? []).map((o) => Object.values(o)[0] ?? []);
const numel = (s: number[]): number => s.reduce((p, d) => p * d, 1);

/**
 * The session options OnnxEngine uses (CPU, all graph optimisations, `threads` intra-op
 * threads), for sessions that are to time like its own. `externalDataFolder`: the folder
 * of the checkpoint files a traced model's weights stay in (its external data), as
 * OnnxEngine tells onnxruntime; leave it out when every weight is inline.
 */
export function engineSessionOptions(threads: number, externalDataFolder?: string): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: 'sequential', enableCpuMemArena: true, enableMemPattern: true, logSeverityLevel: 3,
    ...(externalDataFolder ? { extra: { 'session.model_external_initializers_file_folder_path': externalDataFolder } } : {}),
  };
}

/** Every runtime input a model's forward program may read, as ORT tensors, plus seeded token ids. */
export function forwardFeeds(model: LoadedModel, batch: number, seq: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int32', randomTokenIds(model.dims.vocabSize, batch, seq, 5), [batch, seq]),
  };
  for (const [name, t] of Object.entries(model.runtimeInputs(batch, seq))) {
    feeds[name] = t.data instanceof Int32Array ? new ort.Tensor('int32', t.data, t.shape) : new ort.Tensor('float32', t.data as Float32Array, t.shape);
  }
  return feeds;
}

/** The middle run's wall time (the upper one of the two middles for an even count). */
export function middleWall(walls: readonly number[]): number {
  const sorted = [...walls].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

export interface ProfileRequest {
  /** A serialized ModelProto (encodeModel). */
  model: Uint8Array;
  /** Names the profile and optimised-model files written into `dir`. */
  label: string;
  dir: string;
  feeds: Record<string, ort.Tensor>;
  /** The graph's output values to fetch. */
  outputs: string[];
  threads: number;
  runs: number;
  /** See engineSessionOptions. */
  externalDataFolder?: string;
}

export async function profileSession(r: ProfileRequest): Promise<SessionProfile> {
  const { label, dir, feeds, outputs, runs } = r;
  const optimizedModelFile = join(dir, `${label}.optimized.onnx`);
  const session = await ort.InferenceSession.create(r.model, {
    ...engineSessionOptions(r.threads, r.externalDataFolder), enableProfiling: true, profileFilePrefix: join(dir, label), optimizedModelFilePath: optimizedModelFile,
  });
  await session.run(feeds, outputs); // warm-up
  const wallSeconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds, outputs);
    wallSeconds.push((performance.now() - t0) / 1000);
  }
  session.endProfiling(); // writes <prefix>_<timestamp>.json
  await session.release();
  const name = readdirSync(dir).find((f) => f.startsWith(`${label}_`) && f.endsWith('.json'));
  if (!name) throw new Error(`onnxruntime wrote no profile file for ${label} in ${dir}`);
  const profileFile = join(dir, name);
  const events = (JSON.parse(readFileSync(profileFile, 'utf8')) as NodeEvent[]).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  // One group of node events per run; the first is the warm-up.
  const perRun = events.length / (runs + 1);
  if (!Number.isInteger(perRun)) throw new Error(`${label}: ${events.length} node events do not split into ${runs + 1} runs`);
  const nodes: NodeTime[] = [];
  for (let i = 0; i < perRun; i++) {
    const timed = Array.from({ length: runs }, (_, r) => events[(r + 1) * perRun + i]);
    const e = timed[0];
    nodes.push({
      name: e.name.replace(/_kernel_time$/, ''), op: e.args?.op_name ?? '?', seconds: median(timed.map((x) => x.dur)) / 1e6,
      inputShapes: shapesOf(e.args?.input_type_shape), outputShapes: shapesOf(e.args?.output_type_shape),
    });
  }
  return { wallSeconds, nodes, optimizedModelFile, profileFile };
}

/**
 * FLOPs of a matmul-like node (MatMul, FusedMatMul, Gemm): 2 m k n = 2 numel(A) n, which
 * holds whether or not A is transposed. Attention kernels count 0: their FLOPs do not
 * follow from the profiled shapes alone.
 */
export function matmulFlops(n: NodeTime): number {
  const a = n.inputShapes[0], out = n.outputShapes[0];
  if (!/MatMul|Gemm/.test(n.op) || n.op.includes('Attention') || !a || !out) return 0;
  return 2 * numel(a) * out.at(-1)!;
}

/** Time per op type, slowest first, with GFLOP/s for the matmul-like ones. */
export function timeByOp(nodes: readonly NodeTime[]): OpTime[] {
  const byOp = new Map<string, OpTime & { flops: number }>();
  for (const n of nodes) {
    const t = byOp.get(n.op) ?? { op: n.op, seconds: 0, nodes: 0, flops: 0 };
    t.seconds += n.seconds;
    t.nodes += 1;
    t.flops += matmulFlops(n);
    byOp.set(n.op, t);
  }
  return [...byOp.values()].sort((a, b) => b.seconds - a.seconds).map(({ flops, ...t }) => ({ ...t, gflops: flops ? flops / t.seconds / 1e9 : undefined }));
}

/** The per-op table (ops under minSeconds left out; shares are of `totalSeconds`). */
export function opTableLines(ops: readonly OpTime[], totalSeconds: number, minSeconds = 0): string[] {
  return [
    '| op (after ORT fusion) | nodes | seconds | share | GFLOP/s |',
    '|---|---:|---:|---:|---:|',
    ...ops.filter((o) => o.seconds >= minSeconds).map((o) => `| ${o.op} | ${o.nodes} | ${o.seconds.toFixed(4)} | ${((100 * o.seconds) / totalSeconds).toFixed(1)}% | ${o.gflops ? o.gflops.toFixed(0) : ''} |`),
  ];
}

/**
 * Inside the onnx engine's model forward: onnxruntime's own per-node profile of the
 * hidden-states program ModelRunner runs (traced and encoded as OnnxEngine does, with its
 * session options plus ORT profiling), on a workload's real batch shape.
 *
 *   node --import tsx src/forwardProfile.ts [--only small-lm|gpt2-small] [--threads 1] [--runs 3] [--batch 8] [--seq 256] [--keep DIR]
 *
 * Prints wall time of session.run vs the sum of kernel times, the time per op type after
 * ORT's graph optimisation (fused kernels; GFLOP/s for MatMul / Gemm / FusedMatMul), the
 * slowest single nodes, and the op-type census of the optimised graph, i.e. which fusions
 * fired. `--keep DIR` keeps the optimised model and raw profile there for inspection.
 * Diagnostic only: the bench's numbers come from main.ts.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { OnnxTracer, encodeModel } from '@tuned-lens/engine';
import { smallLmDir } from '@tuned-lens/fixtures';
import { loadModel } from '@tuned-lens/models';
import { ensureRandomGpt2, gpt2SmallShape } from './gpt2Random';
import { randomTokenIds } from './prng';
import { median } from './common';

interface NodeEvent { cat: string; name: string; dur: number; args?: { op_name?: string; output_type_shape?: Record<string, number[]>[]; input_type_shape?: Record<string, number[]>[] } }

interface OpTime { op: string; seconds: number; nodes: number; flops: number }

const shapesOf = (list: Record<string, number[]>[] | undefined): number[][] => (list ?? []).map((o) => Object.values(o)[0] ?? []);
const numel = (s: number[]): number => s.reduce((p, d) => p * d, 1);

/** FLOPs of a matmul-like node: 2 * m * k * n = 2 * numel(out) * k, k from the first input. */
function matmulFlops(op: string, ins: number[][], outs: number[][]): number {
  if (!/MatMul|Gemm|Attention/.test(op) || !ins[0] || !outs[0]) return 0;
  if (op.includes('Attention')) return 0; // its own FLOPs are not derivable from shapes alone here
  // FusedMatMul may transpose A; for the shapes the forward emits, A is never transposed.
  return 2 * numel(outs[0]) * ins[0].at(-1)!;
}

/** Length-delimited fields `field` of a protobuf message (other wire types are skipped). */
function* protoFields(buf: Uint8Array, field: number): Generator<Uint8Array> {
  let i = 0;
  const varint = (): number => {
    let v = 0, mul = 1, b: number;
    do { b = buf[i++]; v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    return v;
  };
  while (i < buf.length) {
    const key = varint();
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      if (key >>> 3 === field) yield buf.subarray(i, i + len);
      i += len;
    } else throw new Error(`unexpected protobuf wire type ${wire}`);
  }
}

/**
 * Op types (domain-qualified when not the default domain) of a serialized ModelProto:
 * ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4, NodeProto.domain = 7.
 * A hand-rolled reader keeps this diagnostic free of a protobuf dependency.
 */
function opCensus(model: Uint8Array): Map<string, number> {
  const counts = new Map<string, number>();
  const text = new TextDecoder();
  for (const graph of protoFields(model, 7)) {
    for (const node of protoFields(graph, 1)) {
      const op = text.decode([...protoFields(node, 4)][0] ?? new Uint8Array());
      const domain = text.decode([...protoFields(node, 7)][0] ?? new Uint8Array());
      const key = domain && domain !== 'ai.onnx' ? `${domain}.${op}` : op;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

async function profileForward(dir: string, batch: number, seq: number, threads: number, runs: number, keep?: string): Promise<void> {
  const model = await loadModel(dir);
  const program = model.program({ logits: false });
  const graph = OnnxTracer.trace(program);
  const work = keep ?? mkdtempSync(join(tmpdir(), 'bench-forward-profile-'));
  mkdirSync(work, { recursive: true });
  try {
    const label = 'forward';
    const optimized = join(work, `${label}.optimized.onnx`);
    const session = await ort.InferenceSession.create(encodeModel(graph, label), {
      executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
      executionMode: 'sequential', enableCpuMemArena: true, enableMemPattern: true, logSeverityLevel: 3,
      enableProfiling: true, profileFilePrefix: join(work, label), optimizedModelFilePath: optimized,
    });
    const ids = randomTokenIds(model.dims.vocabSize, batch, seq, 5);
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int32', ids, [batch, seq]) };
    for (const [name, t] of Object.entries(model.runtimeInputs(batch, seq))) {
      feeds[name] = t.data instanceof Int32Array ? new ort.Tensor('int32', t.data, t.shape) : new ort.Tensor('float32', t.data as Float32Array, t.shape);
    }
    const outputs = graph.outputs.map((o) => o.value);
    await session.run(feeds, outputs); // warm-up
    const walls: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await session.run(feeds, outputs);
      walls.push((performance.now() - t0) / 1000);
    }
    session.endProfiling();
    await session.release();
    const file = readdirSync(work).find((f) => f.startsWith(`${label}_`) && f.endsWith('.json'));
    if (!file) throw new Error(`onnxruntime wrote no profile file in ${work}`);
    const events = (JSON.parse(readFileSync(join(work, file), 'utf8')) as NodeEvent[]).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    const perRun = events.length / (runs + 1);
    if (!Number.isInteger(perRun)) throw new Error(`${events.length} node events do not split into ${runs + 1} runs`);
    const byOp = new Map<string, OpTime>();
    const nodes: { name: string; op: string; seconds: number; shapes: string }[] = [];
    for (let i = 0; i < perRun; i++) {
      const evs = Array.from({ length: runs }, (_, r) => events[(r + 1) * perRun + i]);
      const e = evs[0];
      const op = e.args?.op_name ?? '?';
      const seconds = median(evs.map((x) => x.dur)) / 1e6;
      const ins = shapesOf(e.args?.input_type_shape), outs = shapesOf(e.args?.output_type_shape);
      const t = byOp.get(op) ?? { op, seconds: 0, nodes: 0, flops: 0 };
      t.seconds += seconds;
      t.nodes += 1;
      t.flops += matmulFlops(op, ins, outs);
      byOp.set(op, t);
      nodes.push({ name: e.name.replace(/_kernel_time$/, ''), op, seconds, shapes: `${ins.map((s) => `[${s}]`).join(' ')} -> ${outs.map((s) => `[${s}]`).join(' ')}` });
    }
    const total = [...byOp.values()].reduce((a, o) => a + o.seconds, 0);
    walls.sort((a, b) => a - b);
    console.log(`session.run median ${walls[walls.length >> 1].toFixed(3)} s (runs ${walls.map((w) => w.toFixed(3)).join(' ')}), sum of kernels ${total.toFixed(3)} s\n`);
    console.log('| op (after ORT fusion) | nodes | seconds | share | GFLOP/s |\n|---|---:|---:|---:|---:|');
    for (const o of [...byOp.values()].sort((a, b) => b.seconds - a.seconds)) {
      console.log(`| ${o.op} | ${o.nodes} | ${o.seconds.toFixed(4)} | ${((100 * o.seconds) / total).toFixed(1)}% | ${o.flops ? (o.flops / o.seconds / 1e9).toFixed(0) : ''} |`);
    }
    console.log('\nslowest non-matmul nodes:');
    for (const n of nodes.filter((x) => !/MatMul|Gemm/.test(x.op)).sort((a, b) => b.seconds - a.seconds).slice(0, 12)) {
      console.log(`  ${(n.seconds * 1000).toFixed(2).padStart(8)} ms  ${n.op.padEnd(24)} ${n.name}  ${n.shapes}`);
    }
    const census = opCensus(readFileSync(optimized));
    console.log(`\noptimised graph op types: ${[...census].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (keep) console.log(`\nkept: ${optimized} and ${join(work, file)}`);
  } finally {
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    only: { type: 'string' }, threads: { type: 'string', default: '1' }, runs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '8' }, seq: { type: 'string', default: '256' }, keep: { type: 'string' },
    'cache-dir': { type: 'string' }, seed: { type: 'string', default: '1234' },
  } });
  const cacheDir = values['cache-dir'] ?? process.env.TUNED_LENS_BENCH_DIR ?? '/tmp/tuned-lens-bench';
  for (const id of ['small-lm', 'gpt2-small'] as const) {
    if (values.only && values.only !== id) continue;
    const dir = id === 'small-lm' ? smallLmDir : ensureRandomGpt2(cacheDir, gpt2SmallShape, Number(values.seed));
    console.log(`## ${id}: batch ${values.batch} x ${values.seq}, ${values.threads} thread(s)\n`);
    await profileForward(dir, Number(values.batch), Number(values.seq), Number(values.threads), Number(values.runs), values.keep && join(values.keep, id));
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();

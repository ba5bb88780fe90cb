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
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OnnxTracer, encodeModel } from '@tuned-lens/engine';
import { loadModel } from '@tuned-lens/models';
import { forwardFeeds, middleWall, opTableLines, profileSession, timeByOp } from './onnxProfile';
import { defaultCacheDir, workloadModelDir, WORKLOADS } from './workloads';

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
    const p = await profileSession({
      model: encodeModel(graph, label), label, dir: work, feeds: forwardFeeds(model, batch, seq), outputs: graph.outputs.map((o) => o.value), threads, runs, externalDataFolder: dir,
    });
    const ops = timeByOp(p.nodes);
    const total = ops.reduce((a, o) => a + o.seconds, 0);
    console.log(`session.run median ${middleWall(p.wallSeconds).toFixed(3)} s (runs ${[...p.wallSeconds].sort((a, b) => a - b).map((w) => w.toFixed(3)).join(' ')}), sum of kernels ${total.toFixed(3)} s\n`);
    console.log(opTableLines(ops, total).join('\n'));
    console.log('\nslowest non-matmul nodes:');
    const shapes = (ss: number[][]) => ss.map((s) => `[${s}]`).join(' ');
    for (const n of p.nodes.filter((x) => !/MatMul|Gemm/.test(x.op)).sort((a, b) => b.seconds - a.seconds).slice(0, 12)) {
      console.log(`  ${(n.seconds * 1000).toFixed(2).padStart(8)} ms  ${n.op.padEnd(24)} ${n.name}  ${shapes(n.inputShapes)} -> ${shapes(n.outputShapes)}`);
    }
    const census = opCensus(readFileSync(p.optimizedModelFile));
    console.log(`\noptimised graph op types: ${[...census].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (keep) console.log(`\nkept: ${p.optimizedModelFile} and ${p.profileFile}`);
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
  const cacheDir = values['cache-dir'] ?? defaultCacheDir();
  for (const id of WORKLOADS) {
    if (values.only && values.only !== id) continue;
    const dir = workloadModelDir(id, cacheDir, Number(values.seed));
    console.log(`## ${id}: batch ${values.batch} x ${values.seq}, ${values.threads} thread(s)\n`);
    await profileForward(dir, Number(values.batch), Number(values.seq), Number(values.threads), Number(values.runs), values.keep && join(values.keep, id));
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();

/**
 * Paired A/B of two traced model forwards in one process: the way to tell whether a
 * change to the tracer or a model function speeds the onnx engine up on this shared VM,
 * where the load moves more between two runs than most changes do.
 *
 *   # 1. with the old code checked out, save its forward graph (weights inline):
 *   node --import tsx src/forwardAB.ts --save /tmp/forward-old.onnx [--only gpt2-small]
 *   # 2. with the new code, save again, then time both:
 *   node --import tsx src/forwardAB.ts --save /tmp/forward-new.onnx
 *   node --import tsx src/forwardAB.ts --a /tmp/forward-old.onnx --b /tmp/forward-new.onnx --threads 1 --rounds 6
 *
 * Timing: one session per model (OnnxEngine's session options), a warm-up call each, then
 * rounds of A, B, B, A (so neither side always runs first); per side the median of its
 * calls, and the median of the per-round ratios A / B. Both sides get the same ids and
 * runtime inputs (each reads only the inputs it declares), and every hidden state of B is
 * compared with A's (max abs difference and max |diff| / (1 + |a|)).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { OnnxTracer, encodeModel } from '@tuned-lens/engine';
import { loadModel } from '@tuned-lens/models';
import { median } from './common';
import { engineSessionOptions, forwardFeeds } from './onnxProfile';
import { defaultCacheDir, workloadModelDir, WORKLOADS, type WorkloadId } from './workloads';

function modelDir(id: string, cacheDir: string, seed: number): string {
  if (!WORKLOADS.includes(id as WorkloadId)) throw new Error(`unknown workload '${id}' (${WORKLOADS.join(' | ')})`);
  return workloadModelDir(id as WorkloadId, cacheDir, seed);
}

/** `weightsDir`: the model folder, where the saved graph's checkpoint-file weights are. */
async function openSession(path: string, threads: number, weightsDir: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(readFileSync(path), engineSessionOptions(threads, weightsDir));
}

/**
 * One call: wall seconds, and CPU seconds of the whole process (user + system, all
 * threads). On this oversubscribed VM the CPU time is the steadier number at one thread:
 * time spent waiting for a core is not in it. With more threads it also counts ORT's
 * spin-waiting, so read the wall time there.
 */
async function timedRun(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<{ seconds: number; cpu: number; out: ort.InferenceSession.OnnxValueMapType }> {
  const own = Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]]));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await session.run(own);
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { seconds, cpu: (c.user + c.system) / 1e6, out };
}

function compare(a: ort.InferenceSession.OnnxValueMapType, b: ort.InferenceSession.OnnxValueMapType): { maxAbs: number; maxRel: number; outputs: number } {
  let maxAbs = 0, maxRel = 0, outputs = 0;
  for (const name of Object.keys(a)) {
    if (!name.startsWith('hidden_states.') || !(name in b)) continue;
    const x = a[name].data as Float32Array, y = b[name].data as Float32Array;
    if (x.length !== y.length) throw new Error(`${name}: ${x.length} vs ${y.length} values`);
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      if (!(d <= maxAbs)) maxAbs = d; // also catches NaN
      const r = d / (1 + Math.abs(x[i]));
      if (!(r <= maxRel)) maxRel = r;
    }
    outputs++;
  }
  return { maxAbs, maxRel, outputs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    only: { type: 'string', default: 'gpt2-small' }, save: { type: 'string' }, a: { type: 'string' }, b: { type: 'string' },
    threads: { type: 'string', default: '1' }, rounds: { type: 'string', default: '5' },
    batch: { type: 'string', default: '8' }, seq: { type: 'string', default: '256' },
    'cache-dir': { type: 'string' }, seed: { type: 'string', default: '1234' },
  } });
  const cacheDir = values['cache-dir'] ?? defaultCacheDir();
  const dir = modelDir(values.only!, cacheDir, Number(values.seed));
  const model = await loadModel(dir);
  if (values.save) {
    const graph = OnnxTracer.trace(model.program({ logits: false }));
    writeFileSync(values.save, encodeModel(graph, 'forward'));
    console.log(`wrote ${values.save} (${graph.nodes.length} nodes)`);
    return;
  }
  if (!values.a || !values.b) throw new Error('give --save FILE, or --a FILE --b FILE');
  const threads = Number(values.threads), rounds = Number(values.rounds);
  const feeds = forwardFeeds(model, Number(values.batch), Number(values.seq));
  const a = await openSession(values.a, threads, dir);
  const b = await openSession(values.b, threads, dir);
  const check = compare((await timedRun(a, feeds)).out, (await timedRun(b, feeds)).out);
  console.log(`${values.only} batch ${values.batch} x ${values.seq}, ${threads} thread(s): B vs A over ${check.outputs} hidden states: max |diff| ${check.maxAbs.toExponential(2)}, max |diff|/(1+|a|) ${check.maxRel.toExponential(2)}`);
  const ta: number[] = [], tb: number[] = [], ca: number[] = [], cb: number[] = [], ratios: number[] = [], cpuRatios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // A B B A: each side runs first and last equally often.
    const a1 = await timedRun(a, feeds), b1 = await timedRun(b, feeds);
    const b2 = await timedRun(b, feeds), a2 = await timedRun(a, feeds);
    ta.push(a1.seconds, a2.seconds); tb.push(b1.seconds, b2.seconds);
    ca.push(a1.cpu, a2.cpu); cb.push(b1.cpu, b2.cpu);
    ratios.push((a1.seconds + a2.seconds) / (b1.seconds + b2.seconds));
    cpuRatios.push((a1.cpu + a2.cpu) / (b1.cpu + b2.cpu));
    console.log(`round ${r + 1}: wall A ${a1.seconds.toFixed(3)} ${a2.seconds.toFixed(3)}  B ${b1.seconds.toFixed(3)} ${b2.seconds.toFixed(3)}  A/B ${ratios.at(-1)!.toFixed(3)} | cpu A/B ${cpuRatios.at(-1)!.toFixed(3)}`);
  }
  const range = (xs: number[]) => `${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}`;
  console.log(`wall s per batch (median): A ${median(ta).toFixed(3)}, B ${median(tb).toFixed(3)}; per-round A/B median ${median(ratios).toFixed(3)} (range ${range(ratios)})`);
  console.log(`cpu s per batch (median):  A ${median(ca).toFixed(3)}, B ${median(cb).toFixed(3)}; per-round A/B median ${median(cpuRatios).toFixed(3)} (range ${range(cpuRatios)})`);
  await a.release();
  await b.release();
}

await main();

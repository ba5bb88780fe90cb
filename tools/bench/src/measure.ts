/**
 * One measurement, run in its own node process: `node --import tsx src/measure.ts '<job json>'`.
 *
 * Why a child process per measurement (main.ts spawns it):
 * - GLIBC_TUNABLES is read by glibc at process start, so the only way to give our
 *   in-process measurements the same `glibc.malloc.hugetlb=1` as PyTorch is a fresh
 *   process started with it (fresh memory is ~20x slower without it on this VM).
 * - Each engine starts from a clean heap: no ORT arena or tfjs wasm heap left over from
 *   an earlier measurement, and only one engine is busy at a time.
 * - A crash or a missing engine (e.g. no tfjs engine in this checkout) fails that row
 *   only; the parent records the error and goes on.
 *
 * The result is written as JSON to `job.resultFile`; progress goes to stdout.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createEngine } from '@tuned-lens/engine';
import { loadModel, ModelRunner } from '@tuned-lens/models';
import { startActivationServer } from '@tuned-lens/activation-service';
import { ActivationClient, type TokenBatchInput } from '@tuned-lens/clients';
import { createLogger } from '@tuned-lens/grpc-kit';
import { randomTokenIds } from './prng';
import { median, type EngineKind } from './common';
import { engineSetup, processState, runChild, say, type EngineSetup, type ProcessState } from './measuredChild';
import { serveTimedCalls } from './paired';

interface JobBase {
  engine: EngineKind;
  modelDir: string;
  batch: number;
  seq: number;
  threads: number;
  resultFile: string;
}

/** In-process ModelRunner.forward timing. */
export interface EngineJob extends JobBase {
  kind: 'engine';
  /** Raw little-endian int32 [batch, seq] ids (the same file PyTorch reads). */
  idsFile: string;
  warmup: number;
  repeats: number;
  /** Write the last hidden state (f32 raw) of the last timed call here. */
  dumpLast?: string;
  /**
   * Paired mode: after the warm-up print `@@ready`, then run one timed forward per `run`
   * line on stdin (answering `@@result {"seconds"}`) until `finish`; `repeats` is ignored.
   * The parent alternates these calls with PyTorch's (see paired.ts).
   */
  serve?: boolean;
}

/** The activation service on loopback, driven by ActivationClient.extract. */
export interface ServiceJob extends JobBase {
  kind: 'service';
  idsFile: string;
  vocabSize: number;
  /** Batches in the timed stream (batch 0 is the ids file, the others are seeded). */
  batches: number;
  seed: number;
}

export type Job = EngineJob | ServiceJob;

export interface MeasureResult extends EngineSetup, ProcessState {
  kind: 'engine' | 'service';
  engine: string;
  tokens: number;
  /** engine: each timed forward call; service: one value, the whole timed stream. */
  times: number[];
  medianSeconds: number;
  tokensPerSecond: number;
  loadSeconds: number;
  /** engine: ForwardResult.seconds (inside the engine run); service: server-reported forward seconds per batch. */
  forwardSeconds: number[];
  hiddenStates: number;
  /** service: bytes of hidden states received in the timed stream. */
  bytesReceived?: number;
  loadBefore: number[];
}

function readIds(file: string, n: number): Int32Array {
  const buf = readFileSync(file);
  if (buf.byteLength !== n * 4) throw new Error(`${file}: ${buf.byteLength} bytes, expected ${n} int32 ids`);
  const ids = new Int32Array(n);
  new Uint8Array(ids.buffer).set(buf);
  return ids;
}

async function runEngine(job: EngineJob): Promise<MeasureResult> {
  const loadBefore = loadavg();
  const t0 = performance.now();
  const model = await loadModel(job.modelDir);
  const engine = await createEngine(job.engine, { threads: job.engine === 'onnx' ? job.threads : undefined });
  const runner = new ModelRunner(model, engine);
  const L = model.dims.numLayers;
  const req = { inputIds: readIds(job.idsFile, job.batch * job.seq), batch: job.batch, seq: job.seq };
  // Compile (trace + session) happens on the first forward; it counts as loading.
  for (let i = 0; i < job.warmup; i++) await runner.forward(req);
  const loadSeconds = (performance.now() - t0) / 1000;
  say(`    ${engine.name}: loaded + ${job.warmup} warm-up call(s) in ${loadSeconds.toFixed(1)} s${job.serve ? '' : `; timing ${job.repeats} call(s)`}`);
  const times: number[] = [];
  const forwardSeconds: number[] = [];
  let last: Float32Array | undefined;
  let count = 0;
  const timed = async (): Promise<number> => {
    last = undefined; // let the previous outputs go, as a consumer would
    const s = performance.now();
    const out = await runner.forward(req);
    times.push((performance.now() - s) / 1000);
    forwardSeconds.push(out.seconds);
    count = out.hiddenStates.size;
    last = out.hiddenStates.get(L);
    return times.at(-1)!;
  };
  if (job.serve) await serveTimedCalls({ loadSeconds }, timed);
  else {
    for (let i = 0; i < job.repeats; i++) say(`      call ${i + 1}: ${(await timed()).toFixed(3)} s`);
  }
  if (count !== L + 1) throw new Error(`expected ${L + 1} hidden states, got ${count}`);
  if (job.dumpLast && last) writeFileSync(job.dumpLast, new Uint8Array(last.buffer, last.byteOffset, last.byteLength));
  const result = summarise('engine', engine.name, engineSetup(engine), job.batch * job.seq, times, loadSeconds, forwardSeconds, count, loadBefore);
  await runner.dispose();
  await engine.dispose?.();
  return result;
}

async function runService(job: ServiceJob): Promise<MeasureResult> {
  const loadBefore = loadavg();
  const t0 = performance.now();
  // The worker thread's engine reads TUNED_LENS_ORT_THREADS (set by the parent) for its thread count.
  const server = await startActivationServer({
    modelDir: job.modelDir, engine: job.engine, host: '127.0.0.1', port: 0, metricsPort: null,
    logger: createLogger('activation', { level: 'warn' }), warmup: true,
  });
  const client = new ActivationClient(server.address, { timeoutMs: 600_000 });
  try {
    const backend = await server.ready;
    const L = backend.description.dims.numLayers;
    const tokens = job.batch * job.seq;
    const first = readIds(job.idsFile, tokens);
    const batches: TokenBatchInput[] = Array.from({ length: job.batches }, (_, k) => ({
      batchId: k, batch: job.batch, seq: job.seq,
      inputIds: k === 0 ? first : randomTokenIds(job.vocabSize, job.batch, job.seq, job.seed + 1000 + k),
    }));
    // Warm-up: one batch of the real shape through the whole path (ORT sizes its arena,
    // the gRPC channel connects), so the timed stream measures steady-state throughput.
    for await (const b of client.extract([batches[0]])) if (b.hiddenStates.size !== L + 1) throw new Error(`warm-up: ${b.hiddenStates.size} hidden states`);
    const loadSeconds = (performance.now() - t0) / 1000;
    say(`    service (${backend.description.engine}): ready + warm-up batch in ${loadSeconds.toFixed(1)} s; timing a stream of ${job.batches} batch(es)`);
    const forwardSeconds: number[] = [];
    let bytes = 0;
    let got = 0;
    const s = performance.now();
    for await (const b of client.extract(batches)) {
      if (b.hiddenStates.size !== L + 1) throw new Error(`batch ${b.batchId}: ${b.hiddenStates.size} hidden states, expected ${L + 1}`);
      for (const h of b.hiddenStates.values()) bytes += h.byteLength;
      forwardSeconds.push(b.forwardSeconds);
      got++;
      say(`      batch ${b.batchId}: received at ${((performance.now() - s) / 1000).toFixed(3)} s (server forward ${b.forwardSeconds.toFixed(3)} s)`);
    }
    const elapsed = (performance.now() - s) / 1000;
    if (got !== job.batches) throw new Error(`received ${got} of ${job.batches} batches`);
    const r = summarise('service', backend.description.engine, {}, tokens * job.batches, [elapsed], loadSeconds, forwardSeconds, L + 1, loadBefore);
    r.bytesReceived = bytes;
    return r;
  } finally {
    client.close();
    await server.shutdown(1000);
  }
}

function summarise(kind: 'engine' | 'service', engine: string, setup: EngineSetup, tokens: number, times: number[], loadSeconds: number, forwardSeconds: number[], hiddenStates: number, loadBefore: number[]): MeasureResult {
  const m = median(times);
  return {
    kind, engine, ...setup, tokens, times, medianSeconds: m, tokensPerSecond: tokens / m,
    loadSeconds, forwardSeconds, hiddenStates, loadBefore, ...processState(),
  };
}

runChild(async () => {
  const job = JSON.parse(process.argv[2] ?? '') as Job;
  const result = job.kind === 'engine' ? await runEngine(job) : await runService(job);
  writeFileSync(job.resultFile, JSON.stringify(result));
});

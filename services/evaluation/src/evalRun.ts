/**
 * One evaluation, the original `tuned-lens eval` through the services: token chunks
 * from the tokenizer service (ChunkAndTokenize over the corpus, the original's
 * chunking), batches of `per_gpu_batch_size` chunks spread over the activation
 * services (each returns every hidden state 0..L), the metrics of every layer and lens
 * by LensEvaluator on this process's engine, then aggregate_metrics.json (bits per
 * byte, the original's layout) and aggregate_metrics_nats.json (nats per token).
 *
 * As the original: with `tokens`, exactly tokens // (batch x seq) batches (at least
 * one); without, the whole corpus including a last partial batch. nats_to_bpb is the
 * tokenizer's ratio over the documents read.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ActivationClient, TokenizerClient, toLensUnembedding, type ExtractedBatch, type TokenBatchInput } from '@tuned-lens/clients';
import { CancelledError, abortable, failedPrecondition, invalidArgument, parseAddress, resolveOutputInRoots, type ClientOptions, type Logger } from '@tuned-lens/grpc-kit';
import type { Engine, EngineChoice } from '@tuned-lens/engine';
import { aggregateMetricsJson, readLensConfig, withLayerTransfer, CONFIG_JSON, type EvalResult, type TransferResult } from '@tuned-lens/lens';
import { writeFileAtomic } from '@tuned-lens/formats';
import { startEvalCompute, type EvalCompute } from './evalCompute';
import type { evaluationV1 } from '@tuned-lens/proto';
import type { LensStore } from './lensStore';
import type { EvaluationMetrics } from './metrics';

/** A checked EvalConfig with defaults applied and paths resolved. */
export interface EvalJobConfig {
  activationEndpoints: string[];
  tokenizerEndpoint: string;
  dataPath: string;
  /** As given ('' = logit lens only). */
  lensPath: string;
  outputDir: string;
  maxSeqLen: number;
  tokens: number;
  batchSize: number;
  layerTransfer: boolean;
  logitStats: boolean;
}

export interface ConfigContext {
  defaultActivation?: string;
  defaultTokenizer?: string;
  lenses: LensStore;
  outputRoots: string[];
}

function endpoint(e: string, what: string): string {
  try {
    parseAddress(e);
  } catch (err) {
    throw invalidArgument(`${what}: ${(err as Error).message}`);
  }
  return e.trim();
}

/**
 * Checks a config before a job is queued, so mistakes come back from StartEvaluation
 * itself: INVALID_ARGUMENT (fields), NOT_FOUND / PERMISSION_DENIED (paths),
 * FAILED_PRECONDITION (a lens folder without a valid config.json).
 */
export function validateEvalConfig(c: evaluationV1.EvalConfig, ctx: ConfigContext): EvalJobConfig {
  const acts = c.activationEndpoints.length ? c.activationEndpoints : ctx.defaultActivation ? [ctx.defaultActivation] : [];
  if (acts.length === 0) throw invalidArgument('activation_endpoints is empty and this server has no default activation endpoint');
  const tok = c.tokenizerEndpoint || ctx.defaultTokenizer;
  if (!tok) throw invalidArgument('tokenizer_endpoint is empty and this server has no default tokenizer endpoint');
  if (!c.dataPath.trim()) throw invalidArgument('data_path is required: a corpus (jsonl / jsonl.zst) on the tokenizer server');
  if (!c.outputPath.trim()) throw invalidArgument('output_path is required: the folder for aggregate_metrics.json');
  if (c.maxSeqLen < 0 || c.maxSeqLen === 1) throw invalidArgument(`max_seq_len must be at least 2 (0 = 2048), got ${c.maxSeqLen}`);
  if (c.tokens < 0) throw invalidArgument(`tokens must not be negative (0 = the whole corpus), got ${c.tokens}`);
  if (c.perGpuBatchSize < 0 || c.perGpuBatchSize > 1024) throw invalidArgument(`per_gpu_batch_size must be 1..1024 (0 = 1), got ${c.perGpuBatchSize}`);
  const outputDir = resolveOutputInRoots(c.outputPath, { roots: ctx.outputRoots });
  if (c.lensPath) {
    const { dir } = ctx.lenses.resolve(c.lensPath);
    try {
      readLensConfig(join(dir, CONFIG_JSON));
    } catch (e) {
      throw failedPrecondition(`lens ${JSON.stringify(c.lensPath)} is not a usable lens folder: ${(e as Error).message}`);
    }
  }
  return {
    activationEndpoints: acts.map((e, i) => endpoint(e, `activation_endpoints[${i}]`)),
    tokenizerEndpoint: endpoint(tok, 'tokenizer_endpoint'),
    dataPath: c.dataPath,
    lensPath: c.lensPath,
    outputDir,
    maxSeqLen: c.maxSeqLen || 2048,
    tokens: c.tokens,
    batchSize: c.perGpuBatchSize || 1,
    layerTransfer: c.layerTransfer,
    logitStats: c.recordLogitStats,
  };
}

export interface EvalProgress {
  modelName: string;
  tokensDone: number;
  tokensTotal: number;
  batchesDone: number;
  batchesTotal: number;
  natsToBpb: number;
  /** Means so far (nats). */
  result?: EvalResult;
}

export interface EvalOutcome extends EvalProgress {
  result: EvalResult;
  files: string[];
  note: string;
  transfer?: Record<string, TransferResult>;
}

export interface RunDeps {
  engine: Engine;
  /** The engine kind evaluation threads create (absent: jobs compute in process on `engine`). */
  engineChoice?: EngineChoice;
  lenses: LensStore;
  clientOptions?: ClientOptions;
  log: Logger;
  metrics?: EvaluationMetrics;
}

export { CancelledError };

/**
 * Items of several async iterables as they come (errors surface at once). Leaving early
 * asks every source to return (a source busy in a next() does so once that settles).
 */
async function* merge<T>(sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  type Step = { i: number; r?: IteratorResult<T>; e?: unknown };
  const pull = (i: number): Promise<Step> => its[i].next().then((r) => ({ i, r }), (e: unknown) => ({ i, e }));
  const pending = new Map<number, Promise<Step>>(its.map((_, i) => [i, pull(i)]));
  try {
    while (pending.size) {
      const step = await Promise.race(pending.values());
      if (step.e !== undefined) throw step.e;
      if (step.r!.done) { pending.delete(step.i); continue; }
      pending.set(step.i, pull(step.i));
      yield step.r!.value;
    }
  } finally {
    for (const i of pending.keys()) its[i].return?.().catch(() => undefined);
  }
}

/** One iterator shared by several consumers; a consumer stopping does not close it. */
function share<T>(it: AsyncIterator<T>): AsyncIterable<T> {
  return { [Symbol.asyncIterator]: () => ({ next: () => it.next(), return: async () => ({ done: true as const, value: undefined }) }) };
}

export async function runEvaluation(cfg: EvalJobConfig, deps: RunDeps, signal: AbortSignal, onProgress: (p: EvalProgress) => void): Promise<EvalOutcome> {
  const tok = new TokenizerClient(cfg.tokenizerEndpoint, deps.clientOptions);
  const acts = cfg.activationEndpoints.map((e) => new ActivationClient(e, deps.clientOptions));
  const closeAll = () => { tok.close(); acts.forEach((a) => a.close()); };
  const checkCancelled = () => { if (signal.aborted) throw new CancelledError(); };
  let compute: EvalCompute | undefined;
  let sourceIt: AsyncGenerator<TokenBatchInput> | undefined;
  try {
    const [infos, tinfo] = await Promise.all([Promise.all(acts.map((a) => a.info())), tok.info()]);
    const info = infos[0];
    infos.forEach((other, k) => {
      if (other.unembedHash !== info.unembedHash || other.numLayers !== info.numLayers) {
        throw failedPrecondition(`the activation endpoints serve different models: ${cfg.activationEndpoints[0]} serves ${info.modelName}, ${cfg.activationEndpoints[k]} serves ${other.modelName}`);
      }
    });
    const L = info.numLayers;
    const u = toLensUnembedding(await acts[0].unembedding(), cfg.activationEndpoints[0]);
    checkCancelled();
    const tuned = cfg.lensPath
      ? deps.lenses.load(cfg.lensPath, { modelName: info.modelName, numLayers: L, dModel: info.dModel, unembedHash: info.unembedHash })
      : undefined;
    const seq = Math.min(cfg.maxSeqLen, info.contextLength || cfg.maxSeqLen, tinfo.modelMaxLength > 0 ? tinfo.modelMaxLength : Infinity);
    if (seq < 2) throw invalidArgument(`sequences of ${seq} token(s) have no next-token pairs`);
    const B = cfg.batchSize;
    const batchLimit = cfg.tokens > 0 ? Math.floor(cfg.tokens / (B * seq)) : 0;
    if (cfg.tokens > 0 && batchLimit < 1) throw invalidArgument(`tokens ${cfg.tokens} is less than one batch of ${B} x ${seq} tokens`);
    compute = await startEvalCompute(
      { unembedding: u, numLayers: L, tuned: tuned?.weights, extras: { layerTransfer: cfg.layerTransfer, logitStats: cfg.logitStats } },
      { choice: deps.engineChoice, engine: deps.engine },
    );
    checkCancelled();

    const progress: EvalProgress = {
      modelName: info.modelName, tokensDone: 0, tokensTotal: batchLimit * B * seq, batchesDone: 0, batchesTotal: batchLimit, natsToBpb: 0,
    };
    onProgress(progress);
    const pending = new Map<number, TokenBatchInput>();
    let natsToBpb = 0;
    let sourceError: unknown;
    // The batches Extract sends. It ends (rather than throws) on a tokenizer error or a
    // cancel, so the Extract streams end too; the error is raised after the loop.
    async function* batches(): AsyncGenerator<TokenBatchInput> {
      let rows: Int32Array[] = [];
      let id = 0, size = seq;
      const pack = (): TokenBatchInput => {
        const ids = new Int32Array(rows.length * size);
        rows.forEach((r, i) => ids.set(r, i * size));
        const b = { batchId: id++, inputIds: ids, batch: rows.length, seq: size };
        pending.set(b.batchId, b);
        rows = [];
        return b;
      };
      try {
        for await (const ev of tok.chunkAndTokenize({ corpusPath: cfg.dataPath, maxSeqLen: seq, maxChunks: batchLimit * B })) {
          if (signal.aborted) return;
          if (ev.kind === 'start') size = ev.start.chunkSize;
          else if (ev.kind === 'summary') natsToBpb = ev.summary.natsToBpb;
          else {
            for (let r = 0; r < ev.batch.nChunks; r++) {
              rows.push(ev.batch.inputIds.slice(r * size, (r + 1) * size));
              if (rows.length === B) yield pack();
              if (signal.aborted) return;
            }
          }
        }
      } catch (err) {
        sourceError = err;
        return;
      }
      if (rows.length) yield pack();
    }
    sourceIt = batches();
    const source = share(sourceIt);
    const streams = acts.map((a) => a.extract(source, { timeoutMs: 7 * 24 * 3600 * 1000 }));
    for await (const out of merge<ExtractedBatch>(streams)) {
      checkCancelled();
      const b = pending.get(out.batchId)!;
      pending.delete(out.batchId);
      const t0 = performance.now();
      const running = await abortable(compute.addBatch({ batch: b.batch, seq: b.seq, inputIds: b.inputIds, hiddenStates: out.hiddenStates }), signal);
      deps.metrics?.evalBatchSeconds.observe((performance.now() - t0) / 1000);
      deps.metrics?.evalTokens.inc(b.batch * b.seq);
      progress.tokensDone += b.batch * b.seq;
      progress.batchesDone++;
      progress.result = running;
      onProgress(progress);
    }
    checkCancelled();
    if (sourceError !== undefined) throw sourceError;
    if (progress.batchesDone === 0) throw failedPrecondition(`the corpus ${cfg.dataPath} gave no ${seq}-token chunk to evaluate`);
    progress.natsToBpb = natsToBpb;
    const { result, transfer, logitStats: stats } = await compute.finish();
    mkdirSync(cfg.outputDir, { recursive: true });
    const files: string[] = [];
    const write = (name: string, value: unknown) => {
      const path = join(cfg.outputDir, name);
      writeFileAtomic(path, (sink) => sink.write(Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8')));
      files.push(path);
    };
    write('aggregate_metrics.json', withLayerTransfer(aggregateMetricsJson(result, natsToBpb), transfer, natsToBpb));
    write('aggregate_metrics_nats.json', withLayerTransfer(aggregateMetricsJson(result, 1), transfer, 1));
    if (stats) write('logit_stats.json', stats);
    const note = batchLimit > 0 && progress.batchesDone < batchLimit
      ? `the corpus ran out after ${progress.batchesDone} of the ${batchLimit} batches asked for (${progress.tokensDone} of ${cfg.tokens} tokens)`
      : '';
    return { ...progress, result, files, note, transfer };
  } catch (err) {
    if (signal.aborted) throw new CancelledError();
    throw err;
  } finally {
    // Stops the tokenizer stream if something else ended the run (it cancels its call).
    sourceIt?.return(undefined).catch(() => undefined);
    closeAll();
    await compute?.dispose();
  }
}

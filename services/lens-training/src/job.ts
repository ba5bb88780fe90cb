/**
 * One training job: connects to the tokenizer and activation services, fits the
 * translators with the original recipe, checkpoints, and writes the lens folder.
 *
 * Threads: this (the service's main) thread keeps the gRPC calls, the data feed
 * (tokenizer and activation clients, see microBatches.ts), checkpoints and metrics; the
 * engine, the translators and the optimiser state live in a trainer thread
 * (trainerThread.ts), whose engine calls block for 0.1-2 s each. The feed reads one
 * micro-batch ahead, so extracting micro-batch k+1 overlaps the thread's work on k.
 */
import { mkdirSync } from 'node:fs';
import { join, sep } from 'node:path';
import { ActivationPool, TokenizerClient } from '@tuned-lens/clients';
import type { EngineChoice } from '@tuned-lens/engine';
import { errorText, TableJob, abortable, failedPrecondition, readAhead, invalidArgument, type ClientTlsConfig, type JobState, type Logger, RpcError, errorCode, status } from '@tuned-lens/grpc-kit';
import { isNonFinite, readLensFolder, writeLensFolder, makeLensConfig, zeroTunedLens, type StepStats, type TunedLensWeights, type Unembedding } from '@tuned-lens/lens';
import type { trainingV1 } from '@tuned-lens/proto';
import { listCheckpoints, loadNewestCheckpoint, saveCheckpoint } from './checkpoint';
import { resumeFingerprint, resumeMismatch, type JobConfig } from './config';
import { permutedChunks } from './dataFeed';
import { TrainLog } from './trainLog';
import { microBatches, type PlannedMicroBatch } from './microBatches';
import { TrainerThread } from './trainerThread';
import type { TrainingMetrics } from './metrics';

export interface JobSnapshot {
  jobId: string;
  state: JobState;
  step: number;
  numSteps: number;
  layerLossNats: number[];
  natsToBpb: number;
  tokensPerSecond: number;
  stepSeconds: number;
  gradNorm: number;
  weightNorm: number;
  biasNorm: number;
  /** Learning rate of the last step. */
  lr: number;
  /** Seconds since this run started training. */
  elapsedSeconds: number;
  tokensSeen: number;
  checkpointStep: number;
  message: string;
  /** Folder of the written lens, once succeeded. */
  lensDir?: string;
}

export interface JobDeps {
  log: Logger;
  metrics: TrainingMetrics;
  engine: EngineChoice;
  tls?: ClientTlsConfig;
  /** Resolves a warm-start lens path inside the server's roots. */
  resolveLens(path: string): string;
  /** The output folder, already resolved inside the server's roots. */
  outputDir: string;
  /** The checkpoint folder, resolved inside the server's roots (default <outputDir>/checkpoints). */
  checkpointDir: string;
  /** Rows per engine call (bounds [rows, vocab] intermediates). */
  maxRowsPerCall?: number;
}

/** A job's progress fields besides its state and message (kept by TableJob). */
type Progress = Omit<JobSnapshot, 'state' | 'message'>;

/**
 * Cancel (TableJob's signal) stops the trainer thread and any wait for hidden states;
 * the job then ends CANCELLED after its current micro-batch, its checkpoints kept.
 */
export class TrainingJob extends TableJob {
  private progress: Progress;

  constructor(readonly config: JobConfig, readonly protoConfig: trainingV1.TrainConfig, private readonly deps: JobDeps) {
    super();
    this.progress = {
      jobId: this.id, step: 0, numSteps: config.numSteps, layerLossNats: [], natsToBpb: NaN,
      tokensPerSecond: 0, stepSeconds: 0, gradNorm: 0, weightNorm: 0, biasNorm: 0, lr: 0, elapsedSeconds: 0, tokensSeen: 0, checkpointStep: -1,
    };
  }

  status(): JobSnapshot {
    return { ...this.progress, state: this.state, message: this.message, layerLossNats: [...this.progress.layerLossNats] };
  }

  /** The output folder on this server. */
  get outputDir(): string {
    return this.deps.outputDir;
  }

  /** Where this job's checkpoints go (resolved on this server). */
  get checkpointDir(): string {
    return this.deps.checkpointDir;
  }

  private update(patch: Partial<JobSnapshot>): void {
    const { state, message, ...progress } = patch;
    this.progress = { ...this.progress, ...progress };
    if (message !== undefined) this.message = message;
    if (state && state !== this.state) this.setState(state);
    else this.changedNow();
  }

  /** Runs to the end; never throws (the outcome is in the status). */
  protected async execute(): Promise<void> {
    const { log } = this.deps;
    const cfg = this.config;
    const tokenizer = new TokenizerClient(cfg.tokenizerEndpoint, { tls: this.deps.tls });
    const pool = new ActivationPool(cfg.activationEndpoints, {
      clientOptions: { tls: this.deps.tls },
      log: log.child(`job ${this.id}`),
      onBench: (endpoint) => this.deps.metrics.activationBenched.inc({ endpoint }),
    });
    let starting: Promise<TrainerThread> | undefined;
    let stopOnCancel: (() => void) | undefined;
    let outcome: Partial<JobSnapshot> = { state: 'failed', message: 'the job ended without an outcome' };
    try {
      this.update({ message: 'connecting to the activation and tokenizer services' });
      const info = await pool.info();
      const tokInfo = await tokenizer.info().catch((err: unknown) => {
        throw new RpcError(errorCode(err) ?? status.UNAVAILABLE, `the tokenizer service at ${cfg.tokenizerEndpoint} did not answer: ${errorText(err)}`);
      });
      if (tokInfo.vocabSize > info.vocabSize) {
        throw failedPrecondition(`the tokenizer (${tokInfo.name}, vocab ${tokInfo.vocabSize}) does not fit the model (${info.modelName}, vocab ${info.vocabSize})`);
      }
      const seqLen = Math.min(cfg.maxSeqLen, info.contextLength, tokInfo.modelMaxLength || Infinity);
      if (cfg.tokensPerStep % seqLen !== 0) {
        throw invalidArgument(`tokens_per_step ${cfg.tokensPerStep} must be a multiple of the sequence length ${seqLen} (max_seq_len capped by the model's context)`);
      }
      const samplesPerStep = cfg.tokensPerStep / seqLen;
      // Checked against the hash the service announced (a lens records it as unembed_sha256).
      const u: Unembedding = await pool.unembedding();
      const L = info.numLayers;
      const fingerprint = resumeFingerprint(cfg, seqLen);

      // Resume from the newest checkpoint of this output folder, or start (maybe warm).
      const ckDir = this.deps.checkpointDir;
      const ck = loadNewestCheckpoint(ckDir, (file, why) => log.warn('skipping unreadable checkpoint', { file, why }));
      let lens: TunedLensWeights | undefined;
      let startStep = 0, position = 0, tokensSeen = 0;
      let corpusChunks: number | undefined;
      let natsToBpb = NaN;
      if (ck) {
        const mismatch = resumeMismatch(ck.fingerprint, fingerprint);
        if (mismatch) throw failedPrecondition(`${this.shownPath(ck.file)} ${mismatch}; use another output folder or remove its checkpoints`);
        if (ck.lens.dModel !== info.dModel || ck.lens.translators.length !== L) throw failedPrecondition(`${ck.file} is for a model with ${ck.lens.translators.length} layers of width ${ck.lens.dModel}`);
        lens = ck.lens; startStep = ck.step; position = ck.position; tokensSeen = ck.tokensSeen; corpusChunks = ck.corpusChunks;
        log.info('resuming from checkpoint', { job: this.id, file: ck.file, step: ck.step, position });
        this.update({ checkpointStep: ck.step, step: ck.step, tokensSeen });
      } else if (cfg.lensInitPath) {
        const warm = readLensFolder(this.deps.resolveLens(cfg.lensInitPath));
        checkLensFits(warm.config, info, cfg.lensInitPath);
        lens = { dModel: warm.config.dModel, translators: warm.translators.map((x) => ({ weight: x.weight.slice(), bias: x.bias ? x.bias.slice() : new Float32Array(warm.config.dModel) })) };
      }
      lens ??= zeroTunedLens(L, info.dModel);
      mkdirSync(this.deps.outputDir, { recursive: true });
      const trainLog = new TrainLog(join(this.deps.outputDir, 'train_log.jsonl'));
      if (ck) trainLog.truncateTo(startStep);
      else trainLog.reset();

      // The feed starts reading the first micro-batch while the thread boots (a few seconds).
      const chunks = permutedChunks(tokenizer, {
        corpusPath: cfg.dataPath, maxSeqLen: seqLen, seed: cfg.seed, startPosition: position,
        shuffleDocuments: cfg.datasetShuffle, shuffleSeed: cfg.datasetShuffleSeed, vocabSize: tokInfo.vocabSize,
        chunksNeeded: cfg.numSteps * samplesPerStep, expectedChunks: corpusChunks,
        onChunked: (c) => {
          corpusChunks = c.chunks;
          natsToBpb = c.natsToBpb;
          log.info('corpus chunked', { job: this.id, chunks: c.chunks, chunkSize: c.chunkSize, seconds: c.seconds.toFixed(1) });
        },
      })[Symbol.asyncIterator]();
      const feed = readAhead(microBatches(chunks, pool, { startStep, numSteps: cfg.numSteps, samplesPerStep, batchSize: cfg.batchSize, seqLen }, position));
      feed.prime();
      const bootStart = performance.now();
      starting = TrainerThread.start({
        engine: this.deps.engine, unembedding: u, lens, optimizer: ck?.optimizer,
        options: {
          loss: cfg.loss, numLayers: L, numSteps: cfg.numSteps, warmupSteps: cfg.warmupSteps, optimizer: cfg.optimizer,
          biasOnly: cfg.biasOnly, tokenShift: cfg.tokenShift, maxRowsPerCall: this.deps.maxRowsPerCall ?? Math.max(64, Math.floor(2 ** 26 / info.vocabSize)),
        },
      });
      const running = await abortable(starting, this.cancelSignal.signal);
      log.info('trainer thread started', { job: this.id, engine: running.engineName, seconds: ((performance.now() - bootStart) / 1000).toFixed(2), log: running.loadLog });
      stopOnCancel = () => void running.stop();
      this.cancelSignal.signal.addEventListener('abort', stopOnCancel, { once: true });

      this.update({ message: `training: ${cfg.numSteps} steps x ${samplesPerStep} sequences of ${seqLen} tokens` });
      let losses = new Array<number>(L).fill(0);
      let t0 = performance.now();
      const trainingStart = t0;
      for (;;) {
        if (this.cancelRequested) break;
        const mb: PlannedMicroBatch | undefined = await abortable(feed.next(), this.cancelSignal.signal);
        if (!mb) break;
        const failedAt = (err: unknown) => { throw this.trainerFailure(err, mb.step); };
        const mbLoss = await running.accumulate(mb, mb.weight).catch(failedAt);
        losses = losses.map((x, l) => x + mbLoss[l] * mb.weight);
        if (!mb.lastOfStep) continue;
        const step = mb.step;
        const stats = await running.step(step).catch(failedAt);
        const secs = (performance.now() - t0) / 1000;
        position = mb.position;
        tokensSeen += samplesPerStep * seqLen;
        const tokens = samplesPerStep * seqLen;
        const elapsed = (performance.now() - trainingStart) / 1000;
        trainLog.append({
          step, lr: stats.lr, grad_norm: stats.gradNorm, loss: cfg.loss, loss_nats: losses,
          loss_bpb: Number.isFinite(natsToBpb) ? losses.map((x) => x * natsToBpb) : null,
          weight_norm: stats.weightNorm, bias_norm: stats.biasNorm, tokens_per_s: tokens / secs, step_seconds: secs,
          elapsed_seconds: elapsed, tokens_seen: tokensSeen,
        });
        this.recordStep(step + 1, losses, natsToBpb, stats, secs, elapsed, tokens, tokensSeen);
        const isLast = step + 1 === cfg.numSteps;
        if (cfg.checkpointFreq > 0 && (step + 1) % cfg.checkpointFreq === 0 && !isLast) {
          const state = await running.snapshot().catch(failedAt);
          saveCheckpoint(this.deps.checkpointDir, state.lens, state.optimizer, { step: step + 1, position, tokensSeen, fingerprint, layerLosses: losses, corpusChunks });
          this.update({ checkpointStep: step + 1 });
        }
        losses = new Array<number>(L).fill(0);
        t0 = performance.now();
      }
      if (this.cancelRequested) {
        outcome = this.cancelledOutcome();
        return;
      }
      const final = await running.snapshot().catch((err) => { throw this.trainerFailure(err, cfg.numSteps - 1); });
      writeLensFolder(this.deps.outputDir, {
        config: makeLensConfig({ baseModelNameOrPath: info.modelName, dModel: info.dModel, numHiddenLayers: L, bias: true, unembedSha256: info.unembedHash }),
        translators: final.lens.translators,
      }, { dtype: cfg.saveF16 ? 'F16' : 'F32' });
      outcome = { state: 'succeeded', message: `lens written to ${cfg.outputPath}`, lensDir: this.deps.outputDir };
    } catch (err) {
      if (this.cancelRequested) {
        outcome = this.cancelledOutcome();
        return;
      }
      log.error('job failed', { job: this.id, error: errorText(err) });
      outcome = { state: 'failed', message: this.clientPaths(errorText(err)) };
    } finally {
      tokenizer.close();
      pool.close();
      if (stopOnCancel) this.cancelSignal.signal.removeEventListener('abort', stopOnCancel);
      // A thread still booting when the job failed or was cancelled is released once up.
      await (await starting?.catch(() => undefined))?.dispose();
      // Published only now: a job that says it has ended has released its thread and clients.
      this.update(outcome);
    }
  }

  private cancelledOutcome(): Partial<JobSnapshot> {
    return { state: 'cancelled', message: `cancelled at step ${this.progress.step}; ${this.checkpointNote()}` };
  }

  /** Where a stopped job can resume from, for its final message. */
  private checkpointNote(): string {
    const c = this.progress.checkpointStep;
    return c >= 0 ? `the last checkpoint (step ${c}) is kept in ${this.shownPath(this.deps.checkpointDir)}` : 'no checkpoint had been written';
  }

  /** A server path as the client named it (relative to the output folder it gave), not the server's absolute path. */
  private shownPath(path: string): string {
    const out = this.deps.outputDir;
    if (path === out) return this.config.outputPath;
    if (path.startsWith(out + sep)) return join(this.config.outputPath, path.slice(out.length + 1));
    if (this.config.checkpointPath && path.startsWith(this.deps.checkpointDir)) return join(this.config.checkpointPath, path.slice(this.deps.checkpointDir.length));
    return path;
  }

  /**
   * `message` with every server path of this job's folders written as the client named
   * it: errors from below (a full disk, a permission, a bad lens file) carry the server's
   * absolute paths, which tell a client nothing and disclose the server's layout.
   */
  private clientPaths(message: string): string {
    const folders: Array<[string, string]> = [[this.deps.outputDir, this.config.outputPath]];
    if (this.config.checkpointPath) folders.push([this.deps.checkpointDir, this.config.checkpointPath]);
    if (this.config.lensInitPath) {
      try { folders.push([this.deps.resolveLens(this.config.lensInitPath), this.config.lensInitPath]); } catch { /* refused at start */ }
    }
    // Longest first, so a checkpoint folder inside the output folder keeps its own name.
    folders.sort((a, b) => b[0].length - a[0].length);
    let shown = message;
    for (const [server, client] of folders) shown = shown.split(server).join(client);
    return shown;
  }

  /**
   * A failure of the trainer thread (an engine error, a non-finite loss, the thread
   * dying) as the job's final message: which step, what happened, what is kept, and for
   * a non-finite loss the usual causes.
   */
  private trainerFailure(err: unknown, step: number): Error {
    const why = err instanceof Error ? err.message : String(err);
    let nonFinite = '';
    if (isNonFinite(err)) {
      nonFinite = '. The lens or its inputs overflowed: usual causes are a warm-start lens (lens_init_path) with huge or non-finite weights, or a learning rate too high for this model (lr_scale)';
      // The loss is checked before each update, so a checkpoint of the step just before holds
      // the lens that produced it. (An update that overflows the weights is refused before
      // any checkpoint, so every kept checkpoint is finite.)
      if (err.quantity === 'loss' && this.progress.checkpointStep === step && step > 0) {
        const earlier = listCheckpoints(this.deps.checkpointDir).length > 1 ? ' (the one before it is kept too)' : '';
        nonFinite += `. Checkpoint step ${step} holds the lens that produced this loss${earlier}`;
      }
    }
    return new Error(`training stopped at step ${step + 1} of ${this.config.numSteps}: ${why}${nonFinite}; ${this.checkpointNote()}`);
  }

  private recordStep(step: number, losses: number[], natsToBpb: number, stats: StepStats, secs: number, elapsedSeconds: number, tokens: number, tokensSeen: number): void {
    const { gradNorm, weightNorm, biasNorm, lr } = stats;
    const m = this.deps.metrics;
    losses.forEach((x, l) => {
      m.layerLossNats.set({ training_job: this.id, layer: String(l) }, x);
      if (Number.isFinite(natsToBpb)) m.layerLossBpb.set({ training_job: this.id, layer: String(l) }, x * natsToBpb);
    });
    m.tokensPerSecond.set({ training_job: this.id }, tokens / secs);
    m.stepSeconds.observe(secs);
    m.gradNorm.set({ training_job: this.id }, gradNorm);
    m.weightNorm.set({ training_job: this.id }, weightNorm);
    m.step.set({ training_job: this.id }, step);
    m.tokens.inc(tokens);
    this.update({ step, layerLossNats: losses, natsToBpb, gradNorm, weightNorm, biasNorm, lr, elapsedSeconds, stepSeconds: secs, tokensPerSecond: tokens / secs, tokensSeen });
  }
}

/** A warm-start lens must match the model: width, layer count, and our unembedding hash. */
export function checkLensFits(cfg: { dModel: number; numHiddenLayers: number; unembedSha256: string | null }, info: { dModel: number; numLayers: number; unembedHash: string; modelName: string }, what: string): void {
  if (cfg.dModel !== info.dModel || cfg.numHiddenLayers !== info.numLayers) {
    throw failedPrecondition(`lens ${what} has ${cfg.numHiddenLayers} layers of width ${cfg.dModel}, but ${info.modelName} has ${info.numLayers} of width ${info.dModel}: it is a lens for another model`);
  }
  if (cfg.unembedSha256 && cfg.unembedSha256 !== info.unembedHash) {
    throw failedPrecondition(`lens ${what} was trained for another model: its unembedding hash ${cfg.unembedSha256.slice(0, 12)}... differs from ${info.modelName}'s ${info.unembedHash.slice(0, 12)}...`);
  }
}

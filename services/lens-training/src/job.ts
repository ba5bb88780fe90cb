/**
 * One training job: connects to the tokenizer and activation services, fits the
 * translators with the original recipe, checkpoints, and writes the lens folder.
 *
 * Flow per optimiser step: samples_per_step = tokens_per_step / seq_len sequences, in
 * micro-batches of per_gpu_batch_size; each micro-batch's hidden states come from the
 * activation pool, its gradients are accumulated with weight (its sequences /
 * samples_per_step), so a step optimises the mean over all of the step's tokens.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { TokenizerClient } from '@tuned-lens/clients';
import { createEngine, type Engine, type EngineChoice } from '@tuned-lens/engine';
import { failedPrecondition, invalidArgument, type ClientTlsConfig, type Logger } from '@tuned-lens/grpc-kit';
import {
  TranslatorTrainer, readLensFolder, writeLensFolder, makeLensConfig, zeroTunedLens,
  type TunedLensWeights, type Unembedding,
} from '@tuned-lens/lens';
import { activationV1, type trainingV1 } from '@tuned-lens/proto';
import { ActivationPool } from './activationPool';
import { loadNewestCheckpoint, saveCheckpoint } from './checkpoint';
import { resumeFingerprint, type JobConfig } from './config';
import { shuffledChunks } from './dataFeed';
import type { TrainingMetrics } from './metrics';

export type JobStateName = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobSnapshot {
  jobId: string;
  state: JobStateName;
  step: number;
  numSteps: number;
  layerLossNats: number[];
  natsToBpb: number;
  tokensPerSecond: number;
  stepSeconds: number;
  gradNorm: number;
  weightNorm: number;
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
  /** Rows per engine call (bounds [rows, vocab] intermediates). */
  maxRowsPerCall?: number;
}

export class TrainingJob extends EventEmitter {
  readonly id = randomBytes(6).toString('hex');
  private snapshot: JobSnapshot;
  private cancelRequested = false;

  constructor(readonly config: JobConfig, readonly protoConfig: trainingV1.TrainConfig, private readonly deps: JobDeps) {
    super();
    this.setMaxListeners(100);
    this.snapshot = {
      jobId: this.id, state: 'queued', step: 0, numSteps: config.numSteps, layerLossNats: [], natsToBpb: NaN,
      tokensPerSecond: 0, stepSeconds: 0, gradNorm: 0, weightNorm: 0, tokensSeen: 0, checkpointStep: -1, message: '',
    };
  }

  status(): JobSnapshot {
    return { ...this.snapshot, layerLossNats: [...this.snapshot.layerLossNats] };
  }

  cancel(): void {
    this.cancelRequested = true;
  }

  private update(patch: Partial<JobSnapshot>): void {
    const before = this.snapshot.state;
    this.snapshot = { ...this.snapshot, ...patch };
    if (patch.state && patch.state !== before) {
      this.deps.metrics.jobs.dec({ state: before });
      this.deps.metrics.jobs.inc({ state: patch.state });
    }
    this.emit('update', this.status());
  }

  /** Runs to the end; never throws (the outcome is in the status). */
  async run(): Promise<void> {
    this.deps.metrics.jobs.inc({ state: 'queued' });
    const { log } = this.deps;
    const cfg = this.config;
    const tokenizer = new TokenizerClient(cfg.tokenizerEndpoint, { tls: this.deps.tls });
    const pool = new ActivationPool(cfg.activationEndpoints, log.child(`job ${this.id}`), this.deps.tls);
    let engine: Engine | undefined;
    let trainer: TranslatorTrainer | undefined;
    try {
      this.update({ state: 'running', message: 'connecting to the activation and tokenizer services' });
      const info = await pool.info();
      const tokInfo = await tokenizer.info();
      if (tokInfo.vocabSize > info.vocabSize) {
        throw failedPrecondition(`the tokenizer (${tokInfo.name}, vocab ${tokInfo.vocabSize}) does not fit the model (${info.modelName}, vocab ${info.vocabSize})`);
      }
      const seqLen = Math.min(cfg.maxSeqLen, info.contextLength, tokInfo.modelMaxLength || Infinity);
      if (cfg.tokensPerStep % seqLen !== 0) {
        throw invalidArgument(`tokens_per_step ${cfg.tokensPerStep} must be a multiple of the sequence length ${seqLen} (max_seq_len capped by the model's context)`);
      }
      const samplesPerStep = cfg.tokensPerStep / seqLen;
      const ue = await pool.unembedding();
      const t = (n: string) => ue.tensors.get(n)?.data;
      const u: Unembedding = {
        norm: normKindOf(ue.header.finalNorm), eps: ue.header.normEps,
        normWeight: t('final_norm.weight')!, normBias: t('final_norm.bias'), lmHead: t('lm_head.weight')!, lmHeadBias: t('lm_head.bias'),
        dModel: info.dModel, vocabSize: info.vocabSize,
      };
      const L = info.numLayers;
      const fingerprint = resumeFingerprint(cfg, seqLen);

      // Resume from the newest checkpoint of this output folder, or start (maybe warm).
      const ck = loadNewestCheckpoint(this.deps.outputDir, (file, why) => log.warn('skipping unreadable checkpoint', { file, why }));
      let lens: TunedLensWeights | undefined;
      let startStep = 0, position = 0, tokensSeen = 0;
      if (ck) {
        if (ck.fingerprint !== fingerprint) {
          throw failedPrecondition(`${ck.file} was written by a job with another config (data, steps, batch or optimiser differ); use another output folder or remove its checkpoints`);
        }
        if (ck.lens.dModel !== info.dModel || ck.lens.translators.length !== L) throw failedPrecondition(`${ck.file} is for a model with ${ck.lens.translators.length} layers of width ${ck.lens.dModel}`);
        lens = ck.lens; startStep = ck.step; position = ck.position; tokensSeen = ck.tokensSeen;
        log.info('resuming from checkpoint', { job: this.id, file: ck.file, step: ck.step, position });
        this.update({ checkpointStep: ck.step, step: ck.step, tokensSeen });
      } else if (cfg.lensInitPath) {
        const warm = readLensFolder(this.deps.resolveLens(cfg.lensInitPath));
        checkLensFits(warm.config, info, cfg.lensInitPath);
        lens = { dModel: warm.config.dModel, translators: warm.translators.map((x) => ({ weight: x.weight.slice(), bias: x.bias ? x.bias.slice() : new Float32Array(warm.config.dModel) })) };
      }
      lens ??= zeroTunedLens(L, info.dModel);

      engine = await createEngine(this.deps.engine, { logger: log });
      trainer = await TranslatorTrainer.create(engine, u, {
        loss: cfg.loss, numLayers: L, numSteps: cfg.numSteps, warmupSteps: cfg.warmupSteps, optimizer: cfg.optimizer,
        biasOnly: cfg.biasOnly, maxRowsPerCall: this.deps.maxRowsPerCall ?? Math.max(64, Math.floor(2 ** 26 / info.vocabSize)),
      }, lens, ck?.optimizer);

      const needed = cfg.numSteps * samplesPerStep;
      const chunks = shuffledChunks(tokenizer, { corpusPath: cfg.dataPath, maxSeqLen: seqLen, seed: cfg.seed, startPosition: position })[Symbol.asyncIterator]();
      let natsToBpb = NaN;
      this.update({ message: `training: ${cfg.numSteps} steps x ${samplesPerStep} sequences of ${seqLen} tokens` });
      for (let step = startStep; step < cfg.numSteps; step++) {
        if (this.cancelRequested) break;
        const t0 = performance.now();
        let losses = new Array<number>(L).fill(0);
        for (let done = 0; done < samplesPerStep;) {
          const rows: Int32Array[] = [];
          while (rows.length < Math.min(cfg.batchSize, samplesPerStep - done)) {
            const next = await chunks.next();
            if (next.done) {
              throw failedPrecondition(`the data ran out after ${position} chunks of ${seqLen} tokens: ${cfg.numSteps} steps x ${samplesPerStep} sequences need ${needed} chunks (${needed * seqLen} tokens); give more data or fewer steps/tokens_per_step (the last checkpoint is kept)`);
            }
            rows.push(next.value.ids);
            position = next.value.position;
          }
          const ids = new Int32Array(rows.length * seqLen);
          rows.forEach((r, i) => ids.set(r, i * seqLen));
          const out = await pool.extract(ids, rows.length, seqLen);
          const weight = rows.length / samplesPerStep;
          const mbLoss = await trainer.accumulate({ batch: rows.length, seq: seqLen, inputIds: ids, hiddenStates: out.hiddenStates }, weight);
          losses = losses.map((x, l) => x + mbLoss[l] * weight);
          done += rows.length;
          if (this.cancelRequested) break;
        }
        if (this.cancelRequested) break;
        const stats = trainer.step(step);
        const secs = (performance.now() - t0) / 1000;
        tokensSeen += samplesPerStep * seqLen;
        if (!Number.isFinite(natsToBpb)) natsToBpb = await this.natsToBpbHint(tokenizer, cfg.dataPath, seqLen);
        this.recordStep(step + 1, losses, natsToBpb, stats.gradNorm, stats.weightNorm, secs, samplesPerStep * seqLen, tokensSeen);
        const isLast = step + 1 === cfg.numSteps;
        if (cfg.checkpointFreq > 0 && (step + 1) % cfg.checkpointFreq === 0 && !isLast) {
          saveCheckpoint(this.deps.outputDir, trainer.lens, trainer.optimizer.state, { step: step + 1, position, tokensSeen, fingerprint, layerLosses: losses });
          this.update({ checkpointStep: step + 1 });
        }
      }
      if (this.cancelRequested) {
        this.update({ state: 'cancelled', message: `cancelled at step ${this.snapshot.step}; the last checkpoint (step ${this.snapshot.checkpointStep}) is kept` });
        return;
      }
      writeLensFolder(this.deps.outputDir, {
        config: makeLensConfig({ baseModelNameOrPath: info.modelName, dModel: info.dModel, numHiddenLayers: L, bias: true, unembedSha256: info.unembedHash }),
        translators: trainer.lens.translators,
      }, { dtype: cfg.saveF16 ? 'F16' : 'F32' });
      this.update({ state: 'succeeded', message: `lens written to ${cfg.outputPath}`, lensDir: this.deps.outputDir });
    } catch (err) {
      const e = err as { details?: string; message?: string };
      log.error('job failed', { job: this.id, error: e.details ?? e.message });
      this.update({ state: 'failed', message: e.details ?? e.message ?? String(err) });
    } finally {
      tokenizer.close();
      pool.close();
      await trainer?.dispose();
      await engine?.dispose?.();
    }
  }

  /** nats_to_bpb of the corpus, from a cheap pass over its first chunks (the tokenizer counts bytes). */
  private async natsToBpbHint(tokenizer: TokenizerClient, dataPath: string, seqLen: number): Promise<number> {
    for await (const ev of tokenizer.chunkAndTokenize({ corpusPath: dataPath, maxSeqLen: seqLen, maxChunks: 64 })) {
      if (ev.kind === 'summary') return ev.summary.natsToBpb;
    }
    return NaN;
  }

  private recordStep(step: number, losses: number[], natsToBpb: number, gradNorm: number, weightNorm: number, secs: number, tokens: number, tokensSeen: number): void {
    const m = this.deps.metrics;
    losses.forEach((x, l) => {
      m.layerLossNats.set({ job: this.id, layer: String(l) }, x);
      if (Number.isFinite(natsToBpb)) m.layerLossBpb.set({ job: this.id, layer: String(l) }, x * natsToBpb);
    });
    m.tokensPerSecond.set({ job: this.id }, tokens / secs);
    m.stepSeconds.observe(secs);
    m.gradNorm.set({ job: this.id }, gradNorm);
    m.weightNorm.set({ job: this.id }, weightNorm);
    m.step.set({ job: this.id }, step);
    m.tokens.inc(tokens);
    this.update({ step, layerLossNats: losses, natsToBpb, gradNorm, weightNorm, stepSeconds: secs, tokensPerSecond: tokens / secs, tokensSeen });
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

function normKindOf(k: activationV1.NormKind): Unembedding['norm'] {
  switch (k) {
    case activationV1.NormKind.NORM_KIND_LAYER_NORM: return 'layer_norm';
    case activationV1.NormKind.NORM_KIND_RMS_NORM: return 'rms_norm';
    case activationV1.NormKind.NORM_KIND_RMS_NORM_PLUS_ONE: return 'rms_norm_plus_one';
    default: throw failedPrecondition(`the activation service reported an unknown final norm (${k})`);
  }
}

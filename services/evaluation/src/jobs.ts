/**
 * Evaluation jobs: started at once after their config is checked, run up to
 * `maxRunningJobs` at a time (the rest wait QUEUED, up to `maxQueuedJobs`), watched as
 * a stream of status updates, cancellable, the oldest finished beyond `keepFinishedJobs`
 * forgotten (grpc-kit's JobTable). Kept in memory: a restarted server forgets its jobs
 * (their output files stay).
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import { evaluationV1 } from '@tuned-lens/proto';
import { errorCode, errorText, JOB_STATES, JobTable, TableJob, invalidArgument, writeMessage, type JobState, type Logger } from '@tuned-lens/grpc-kit';
import type { EvalResult } from '@tuned-lens/lens';
import { CancelledError, runEvaluation, validateEvalConfig, type ConfigContext, type EvalJobConfig, type EvalProgress, type RunDeps } from './evalRun';
import type { EvaluationLimits } from './limits';
import type { EvaluationMetrics } from './metrics';

const { EvalState } = evaluationV1;
type State = evaluationV1.EvalState;

/** Per-layer rows of the status message from evaluator results (nats, and bpb when known). */
export function layerMetrics(r: EvalResult | undefined, natsToBpb: number): evaluationV1.LayerMetrics[] {
  if (!r) return [];
  const rows: evaluationV1.LayerMetrics[] = [];
  for (const [lens, m] of [['logit', r.logit], ['tuned', r.tuned]] as const) {
    if (!m) continue;
    m.ce.forEach((_, layer) => rows.push({
      lens, layer,
      ceNats: m.ce[layer], entropyNats: m.entropy[layer], klNats: m.kl[layer],
      ceBpb: m.ce[layer] * natsToBpb, entropyBpb: m.entropy[layer] * natsToBpb, klBpb: m.kl[layer] * natsToBpb,
    }));
  }
  return rows;
}

/** The wire state of each job state. */
const protoState: Record<JobState, State> = {
  queued: EvalState.EVAL_STATE_QUEUED,
  running: EvalState.EVAL_STATE_RUNNING,
  succeeded: EvalState.EVAL_STATE_SUCCEEDED,
  failed: EvalState.EVAL_STATE_FAILED,
  cancelled: EvalState.EVAL_STATE_CANCELLED,
};

export interface JobManagerDeps extends RunDeps, Omit<ConfigContext, 'lenses'> {
  limits: EvaluationLimits;
  metrics: EvaluationMetrics;
  log: Logger;
}

/** One evaluation: runEvaluation with its progress published as the job's status. */
export class EvaluationJob extends TableJob {
  progress: EvalProgress = { modelName: '', tokensDone: 0, tokensTotal: 0, batchesDone: 0, batchesTotal: 0, natsToBpb: 0 };
  files: string[] = [];

  constructor(readonly config: EvalJobConfig, private readonly deps: JobManagerDeps) {
    super();
  }

  override cancel(): void {
    if (this.state === 'running' && !this.cancelRequested) {
      this.message = 'cancelling after the current batch';
      this.changedNow();
    }
    super.cancel();
  }

  protected async execute(): Promise<void> {
    const { log } = this.deps;
    log.info('evaluation running', { id: this.id });
    try {
      const out = await runEvaluation(this.config, this.deps, this.cancelSignal.signal, (p) => {
        this.progress = { ...p };
        this.changedNow();
      });
      this.progress = out;
      this.files = out.files;
      this.setState('succeeded', out.note);
      log.info('evaluation done', { id: this.id, tokens: out.tokensDone, seconds: ((this.finishedAt - this.startedAt) / 1000).toFixed(1), files: out.files.join(',') });
    } catch (err) {
      if (err instanceof CancelledError) {
        this.setState('cancelled', 'cancelled; nothing was written');
        return;
      }
      const message = errorText(err);
      if (errorCode(err) === undefined) log.error('evaluation failed', { id: this.id, error: err instanceof Error ? err.stack : String(err) });
      else log.warn('evaluation failed', { id: this.id, error: message });
      this.setState('failed', message);
    }
  }

  status(): evaluationV1.EvalStatus {
    const p = this.progress;
    const r = p.result;
    const end = this.finishedAt || performance.now();
    return {
      evalId: this.id,
      state: protoState[this.state],
      tokensDone: p.tokensDone,
      tokensTotal: p.tokensTotal,
      layers: layerMetrics(r, p.natsToBpb),
      baselineCeNats: r?.baseline.ce ?? 0,
      baselineEntropyNats: r?.baseline.entropy ?? 0,
      natsToBpb: p.natsToBpb,
      message: this.message,
      outputFiles: this.files,
      batchesDone: p.batchesDone,
      batchesTotal: p.batchesTotal,
      elapsedSeconds: this.startedAt ? (end - this.startedAt) / 1000 : 0,
      modelName: p.modelName,
      lensPath: this.config.lensPath,
    };
  }
}

/** The evaluations of one server (queue, limits, watch, retention: see JobTable). */
export class JobManager {
  readonly table: JobTable<EvaluationJob>;

  constructor(private readonly deps: JobManagerDeps) {
    const gauge = deps.metrics.evalJobs;
    this.table = new JobTable<EvaluationJob>({
      what: 'evaluation', maxRunning: deps.limits.maxRunningJobs, maxQueued: deps.limits.maxQueuedJobs, keepFinished: deps.limits.keepFinishedJobs, log: deps.log,
      onStateChange: (t) => { for (const [state, n] of t.counts()) gauge.set({ state }, n); },
    });
    for (const state of JOB_STATES) gauge.set({ state }, 0);
  }

  /** Checks the config and queues the job. */
  start(config: evaluationV1.EvalConfig | undefined): EvaluationJob {
    if (!config) throw invalidArgument('config is required');
    const cfg = validateEvalConfig(config, this.deps);
    const job = this.table.add(new EvaluationJob(cfg, this.deps));
    this.deps.log.info('evaluation queued', { id: job.id, data: cfg.dataPath, lens: cfg.lensPath || '(logit only)', output: cfg.outputDir });
    return job;
  }

  get(id: string): EvaluationJob {
    return this.table.get(id);
  }

  cancel(id: string): EvaluationJob {
    return this.table.cancel(id);
  }

  /** Streams the job's status: now, after changes (at most every `minIntervalMs`), and at the end. */
  watch(call: ServerWritableStream<evaluationV1.WatchEvaluationRequest, evaluationV1.WatchEvaluationResponse>, minIntervalMs = 200): Promise<void> {
    const gone = new Promise<void>((resolve) => call.once('cancelled', () => resolve()));
    return this.table.watch(call.request.evalId, (job) => job.status(), (status) => writeMessage(call, { status }), gone, minIntervalMs);
  }

  /** Cancels queued and running jobs and waits for them to stop. */
  shutdown(graceMs = 60_000): Promise<void> {
    return this.table.shutdown(graceMs);
  }
}

/**
 * Evaluation jobs: started at once after their config is checked, run up to
 * `maxRunningJobs` at a time (the rest wait QUEUED, up to `maxQueuedJobs`), watched as
 * a stream of status updates, cancellable. Kept in memory: a restarted server forgets
 * its jobs (their output files stay).
 */
import { randomUUID } from 'node:crypto';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { evaluationV1 } from '@tuned-lens/proto';
import { invalidArgument, notFound, resourceExhausted, writeMessage, type Logger } from '@tuned-lens/grpc-kit';
import type { EvalResult } from '@tuned-lens/lens';
import { CancelledError, runEvaluation, validateEvalConfig, type ConfigContext, type EvalJobConfig, type EvalProgress, type RunDeps } from './evalRun';
import type { EvaluationLimits } from './limits';
import type { EvaluationMetrics } from './metrics';

const { EvalState } = evaluationV1;
type State = evaluationV1.EvalState;

const stateName: Record<number, string> = {
  [EvalState.EVAL_STATE_QUEUED]: 'queued',
  [EvalState.EVAL_STATE_RUNNING]: 'running',
  [EvalState.EVAL_STATE_SUCCEEDED]: 'succeeded',
  [EvalState.EVAL_STATE_FAILED]: 'failed',
  [EvalState.EVAL_STATE_CANCELLED]: 'cancelled',
};

const isTerminal = (s: State) => s === EvalState.EVAL_STATE_SUCCEEDED || s === EvalState.EVAL_STATE_FAILED || s === EvalState.EVAL_STATE_CANCELLED;

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

export class Job {
  state: State = EvalState.EVAL_STATE_QUEUED;
  progress: EvalProgress = { modelName: '', tokensDone: 0, tokensTotal: 0, batchesDone: 0, batchesTotal: 0, natsToBpb: 0 };
  message = '';
  files: string[] = [];
  startedAt = 0;
  finishedAt = 0;
  readonly abort = new AbortController();
  private version = 0;
  private waiters: Array<() => void> = [];

  constructor(readonly id: string, readonly config: EvalJobConfig) {}

  get terminal(): boolean {
    return isTerminal(this.state);
  }

  /** Resolves at the next change. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get currentVersion(): number {
    return this.version;
  }

  bump(): void {
    this.version++;
    for (const w of this.waiters.splice(0)) w();
  }

  status(): evaluationV1.EvalStatus {
    const p = this.progress;
    const r = p.result;
    const end = this.finishedAt || performance.now();
    return {
      evalId: this.id,
      state: this.state,
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

export interface JobManagerDeps extends RunDeps, Omit<ConfigContext, 'lenses'> {
  limits: EvaluationLimits;
  metrics: EvaluationMetrics;
  log: Logger;
}

export class JobManager {
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private readonly running = new Map<Job, Promise<void>>();

  constructor(private readonly deps: JobManagerDeps) {
    this.updateGauge();
  }

  /** Checks the config and queues the job; returns its id. */
  start(config: evaluationV1.EvalConfig | undefined): Job {
    if (!config) throw invalidArgument('config is required');
    const cfg = validateEvalConfig(config, this.deps);
    if (this.queue.length >= this.deps.limits.maxQueuedJobs) {
      throw resourceExhausted(`${this.queue.length} evaluations are already waiting (limit ${this.deps.limits.maxQueuedJobs}); retry when one has finished`, 60_000);
    }
    const job = new Job(randomUUID(), cfg);
    this.jobs.set(job.id, job);
    this.queue.push(job);
    this.deps.log.info('evaluation queued', { id: job.id, data: cfg.dataPath, lens: cfg.lensPath || '(logit only)', output: cfg.outputDir });
    this.forgetOld();
    this.pump();
    this.updateGauge();
    return job;
  }

  get(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw notFound(`no evaluation ${JSON.stringify(id)} on this server (jobs are kept in memory until a restart)`);
    return job;
  }

  cancel(id: string): Job {
    const job = this.get(id);
    if (job.terminal) return job;
    const q = this.queue.indexOf(job);
    if (q >= 0) {
      this.queue.splice(q, 1);
      this.finish(job, EvalState.EVAL_STATE_CANCELLED, 'cancelled before it started');
    } else {
      job.message = 'cancelling after the current batch';
      job.abort.abort();
      job.bump();
    }
    return job;
  }

  /** Streams the job's status: now, after changes (at most every `minIntervalMs`), and at the end. */
  async watch(call: ServerWritableStream<evaluationV1.WatchEvaluationRequest, evaluationV1.WatchEvaluationResponse>, minIntervalMs = 200): Promise<void> {
    const job = this.get(call.request.evalId);
    let sent = -1;
    let last = 0;
    const gone = new Promise<void>((resolve) => call.once('cancelled', () => resolve()));
    for (;;) {
      if (call.cancelled) return;
      const v = job.currentVersion;
      const changed = job.changed();
      if (v !== sent) {
        sent = v;
        last = performance.now();
        await writeMessage(call, { status: job.status() });
      }
      if (job.terminal && sent === job.currentVersion) return;
      await Promise.race([changed, gone]);
      if (!job.terminal) {
        const wait = minIntervalMs - (performance.now() - last);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Cancels running jobs and waits for them to stop. */
  async shutdown(): Promise<void> {
    for (const job of this.queue.splice(0)) this.finish(job, EvalState.EVAL_STATE_CANCELLED, 'server shutting down');
    for (const job of this.running.keys()) job.abort.abort();
    await Promise.all(this.running.values());
  }

  private pump(): void {
    while (this.running.size < this.deps.limits.maxRunningJobs && this.queue.length) {
      const job = this.queue.shift()!;
      this.running.set(job, this.run(job).finally(() => {
        this.running.delete(job);
        this.pump();
        this.updateGauge();
      }));
    }
  }

  private async run(job: Job): Promise<void> {
    job.state = EvalState.EVAL_STATE_RUNNING;
    job.startedAt = performance.now();
    job.bump();
    this.updateGauge();
    this.deps.log.info('evaluation running', { id: job.id });
    try {
      const out = await runEvaluation(job.config, this.deps, job.abort.signal, (p) => {
        job.progress = { ...p };
        job.bump();
      });
      job.progress = out;
      job.files = out.files;
      this.finish(job, EvalState.EVAL_STATE_SUCCEEDED, out.note);
      this.deps.log.info('evaluation done', { id: job.id, tokens: out.tokensDone, seconds: ((job.finishedAt - job.startedAt) / 1000).toFixed(1), files: out.files.join(',') });
    } catch (err) {
      if (err instanceof CancelledError) {
        this.finish(job, EvalState.EVAL_STATE_CANCELLED, 'cancelled; nothing was written');
      } else {
        const e = err as { details?: string; message?: string; code?: number };
        const message = e.details ?? e.message ?? String(err);
        if (typeof e.code !== 'number') this.deps.log.error('evaluation failed', { id: job.id, error: err instanceof Error ? err.stack : String(err) });
        else this.deps.log.warn('evaluation failed', { id: job.id, error: message });
        this.finish(job, EvalState.EVAL_STATE_FAILED, message);
      }
    }
  }

  private finish(job: Job, state: State, message: string): void {
    job.state = state;
    job.message = message;
    job.finishedAt = performance.now();
    job.bump();
    this.updateGauge();
  }

  /** Forgets the oldest finished jobs beyond the limit. */
  private forgetOld(): void {
    const finished = [...this.jobs.values()].filter((j) => j.terminal);
    for (const j of finished.slice(0, Math.max(0, finished.length - this.deps.limits.keepFinishedJobs))) this.jobs.delete(j.id);
  }

  private updateGauge(): void {
    const counts = new Map<string, number>(Object.values(stateName).map((s) => [s, 0]));
    for (const j of this.jobs.values()) counts.set(stateName[j.state], (counts.get(stateName[j.state]) ?? 0) + 1);
    for (const [state, n] of counts) this.deps.metrics.evalJobs.set({ state }, n);
  }
}

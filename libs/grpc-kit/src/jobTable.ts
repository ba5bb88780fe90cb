/**
 * Long-running jobs behind a gRPC API (training runs, evaluations): one shape for every
 * service that has them.
 *
 * - `TableJob` is the base of a job: its state, a version bumped on every change, and
 *   `changed()` to wait for the next one. A service's job class extends it with its own
 *   status fields and `execute()`.
 * - `JobTable` runs jobs: at most `maxRunning` at once, the rest QUEUED up to `maxQueued`
 *   (RESOURCE_EXHAUSTED beyond, with a retry hint), lookup (NOT_FOUND names the id), cancel
 *   (a queued job ends at once, a running one is asked to stop), watch (the status now,
 *   after each change, and at the end), retention (the oldest finished jobs beyond
 *   `keepFinished` are forgotten, `onForget` lets metrics drop their series) and shutdown.
 * Jobs live in memory: a restarted server forgets them (their files stay).
 */
import { randomBytes } from 'node:crypto';
import { errorText, notFound, resourceExhausted } from './errors';
import type { Logger } from './logger';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export const isFinished = (s: JobState): boolean => s === 'succeeded' || s === 'failed' || s === 'cancelled';

/** A short random job id (12 hex digits). */
export const newJobId = (): string => randomBytes(6).toString('hex');

export abstract class TableJob {
  readonly id: string = newJobId();
  private currentState: JobState = 'queued';
  message = '';
  /** performance.now() when it started running / ended; 0 before. */
  startedAt = 0;
  finishedAt = 0;
  private version = 0;
  private waiters: Array<() => void> = [];
  /** Fires when the job is asked to stop. */
  protected readonly cancelSignal = new AbortController();

  get state(): JobState {
    return this.currentState;
  }

  get finished(): boolean {
    return isFinished(this.currentState);
  }

  get cancelRequested(): boolean {
    return this.cancelSignal.signal.aborted;
  }

  /** Bumped on every change; a watcher compares it with what it last sent. */
  get changeCount(): number {
    return this.version;
  }

  /** Resolves at the next change. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Records a change (the caller has updated its fields) and wakes watchers. */
  protected changedNow(): void {
    this.version++;
    for (const w of this.waiters.splice(0)) w();
  }

  protected setState(state: JobState, message?: string): void {
    this.currentState = state;
    if (message !== undefined) this.message = message;
    if (state === 'running' && !this.startedAt) this.startedAt = performance.now();
    if (isFinished(state)) this.finishedAt = performance.now();
    this.changedNow();
  }

  /** Asks the job to stop (a running one ends after its current unit of work). */
  cancel(): void {
    this.cancelSignal.abort();
  }

  /**
   * The job's work, run once by the table. It ends the job in a finished state (and must
   * not throw: the outcome, failures included, goes into the state and message).
   */
  protected abstract execute(): Promise<void>;

  /** Called by JobTable only. */
  async runToEnd(): Promise<void> {
    if (this.cancelRequested) {
      this.setState('cancelled', 'cancelled before it started');
      return;
    }
    this.setState('running');
    try {
      await this.execute();
    } catch (err) {
      this.setState('failed', errorText(err));
    }
    if (!this.finished) this.setState('failed', 'the job ended without an outcome');
  }

  /** Called by JobTable only: ends a job that never ran. */
  endUnstarted(message: string): void {
    this.cancelSignal.abort();
    this.setState('cancelled', message);
  }
}

export interface JobTableOptions<J extends TableJob> {
  /** What the jobs are, for messages: "training job", "evaluation". */
  what: string;
  maxRunning: number;
  /** Jobs waiting beyond the running ones; 0 = none (a start beyond maxRunning is refused). */
  maxQueued: number;
  /** Finished jobs kept for Get/List/Watch; the oldest beyond are forgotten. */
  keepFinished: number;
  log: Logger;
  /** A job changed state (metrics gauges). */
  onStateChange?: (table: JobTable<J>) => void;
  /** A finished job is forgotten (drop its metric series). */
  onForget?: (job: J) => void;
}

export class JobTable<J extends TableJob> {
  private readonly jobs = new Map<string, J>();
  private readonly queue: J[] = [];
  private readonly running = new Map<J, Promise<void>>();

  constructor(private readonly opts: JobTableOptions<J>) {}

  /** Queues `job` (it starts at once when a slot is free). RESOURCE_EXHAUSTED when full. */
  add(job: J): J {
    if (this.running.size >= this.opts.maxRunning && this.queue.length >= this.opts.maxQueued) {
      const why = this.opts.maxQueued === 0
        ? `${this.running.size} ${this.opts.what}s are running, the limit is ${this.opts.maxRunning}`
        : `${this.queue.length} ${this.opts.what}s are already waiting (limit ${this.opts.maxQueued})`;
      throw resourceExhausted(`${why}; retry when one has finished`, 60_000);
    }
    this.jobs.set(job.id, job);
    this.queue.push(job);
    this.forgetOld();
    this.pump();
    this.opts.onStateChange?.(this);
    return job;
  }

  get(id: string): J {
    const job = this.jobs.get(id);
    if (!job) throw notFound(`no ${this.opts.what} ${JSON.stringify(id)} on this server (jobs are kept in memory until a restart; the oldest finished ones are forgotten beyond ${this.opts.keepFinished})`);
    return job;
  }

  list(): J[] {
    return [...this.jobs.values()];
  }

  isRunning(job: J): boolean {
    return this.running.has(job);
  }

  /** Jobs by state (for a gauge). */
  counts(): Map<JobState, number> {
    const counts = new Map<JobState, number>(JOB_STATES.map((s) => [s, 0]));
    for (const j of this.jobs.values()) counts.set(j.state, counts.get(j.state)! + 1);
    return counts;
  }

  /** A queued job ends cancelled at once; a running one is asked to stop. */
  cancel(id: string): J {
    const job = this.get(id);
    if (job.finished) return job;
    const q = this.queue.indexOf(job);
    if (q >= 0) {
      this.queue.splice(q, 1);
      job.endUnstarted('cancelled before it started');
      this.opts.onStateChange?.(this);
    } else {
      job.cancel();
    }
    return job;
  }

  /**
   * Streams a job's status through `send`: now, after changes (at most every
   * `minIntervalMs`, later changes coalesced into the newest), and at the end. Returns
   * when the job has ended and its last status is sent, or when `gone` resolves (the
   * client went away).
   */
  async watch<S>(id: string, status: (job: J) => S, send: (s: S) => Promise<void>, gone: Promise<void>, minIntervalMs = 0): Promise<void> {
    const job = this.get(id);
    let sent = -1;
    let last = 0;
    let left = false;
    void gone.then(() => { left = true; });
    for (;;) {
      if (left) return;
      const version = job.changeCount;
      const next = job.changed();
      if (version !== sent) {
        sent = version;
        last = performance.now();
        await send(status(job));
      }
      if (job.finished && sent === job.changeCount) return;
      await Promise.race([next, gone]);
      if (!job.finished && minIntervalMs > 0) {
        const wait = minIntervalMs - (performance.now() - last);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Ends queued jobs, asks running ones to stop and waits for them (at most `graceMs`). */
  async shutdown(graceMs: number): Promise<void> {
    for (const job of this.queue.splice(0)) job.endUnstarted('the server is shutting down');
    for (const job of this.running.keys()) job.cancel();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.running.values()),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); }),
    ]);
    clearTimeout(timer);
    this.opts.onStateChange?.(this);
  }

  private pump(): void {
    while (this.running.size < this.opts.maxRunning && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const done = job.runToEnd().catch((err) => {
        this.opts.log.error(`${this.opts.what} crashed`, { id: job.id, error: err instanceof Error ? err.stack : String(err) });
      }).finally(() => {
        this.running.delete(job);
        this.pump();
        this.opts.onStateChange?.(this);
      });
      this.running.set(job, done);
      // A state change (queued -> running) already happened synchronously in runToEnd.
      this.opts.onStateChange?.(this);
    }
  }

  private forgetOld(): void {
    const finished = [...this.jobs.values()].filter((j) => j.finished);
    for (const j of finished.slice(0, Math.max(0, finished.length - this.opts.keepFinished))) {
      this.jobs.delete(j.id);
      this.opts.onForget?.(j);
    }
  }
}

/**
 * Hidden states from one or more activation replicas, one batch at a time, surviving
 * replicas that die, restart or freeze.
 *
 * A frozen replica (SIGSTOP, a stuck GPU, a saturated node) keeps its TCP connection
 * open, so nothing fails fast: the channel's keepalive notices only after ~40 s and its
 * retry policy re-sends to the same address. So the pool keeps its own account:
 * - every batch has a deadline derived from the batch times seen so far (the first batch,
 *   which pays for warm-up, gets a generous one);
 * - a replica that fails or misses a deadline is benched with an exponential back-off
 *   and its batch re-sent to the next replica at once;
 * - a benched replica is tried again only after its back-off and a grpc.health.v1 probe
 *   (a frozen process cannot answer one, so it costs a probe, not a batch deadline).
 * Replicas are identical, so which one computes a batch does not change the result.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorText, checkHealth, status, unavailable, type ClientOptions, type Logger } from '@tuned-lens/grpc-kit';
import { serviceNames } from '@tuned-lens/proto';
import { ActivationClient, type ExtractedBatch } from './activationClient';
import { toLensUnembedding } from './unembedding';

/** Codes where another replica (or a later try) may succeed; anything else is the input's fault. */
const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.CANCELLED, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.INTERNAL, status.UNKNOWN]);

export interface ActivationPoolOptions {
  clientOptions?: ClientOptions;
  log?: Logger;
  /** Deadline of a batch while no batch has completed yet (model warm-up, weights paged in). Default 600 s. */
  firstBatchDeadlineMs?: number;
  /** Least deadline of a batch once batch times are known. Default 15 s. */
  minBatchDeadlineMs?: number;
  /** A batch may take this many times the slowest of the recent batches. Default 8. */
  slowFactor?: number;
  /** First back-off of a benched replica; doubles with each further failure. Default 1 s. */
  initialBackoffMs?: number;
  /** Longest back-off. Default 60 s. */
  maxBackoffMs?: number;
  /** Deadline of the health probe before a benched replica gets work again. Default 2 s. */
  probeTimeoutMs?: number;
  /** Called when a replica is benched (for metrics). */
  onBench?: (endpoint: string, reason: string) => void;
}

/** How many recent batch times the deadline looks at. */
const RECENT_BATCHES = 16;

interface Replica {
  client: ActivationClient;
  /** Epoch ms before which it gets no work. */
  benchedUntil: number;
  /** Back-off the next failure sets; 0 while healthy. */
  backoffMs: number;
}

export class ActivationPool {
  private readonly replicas: Replica[];
  private readonly opts: Required<Omit<ActivationPoolOptions, 'clientOptions' | 'log' | 'onBench'>>;
  /** Wall ms of the most recent successful batches (deadline basis). */
  private readonly recentMs: number[] = [];
  private next = 0;
  private readonly closing = new AbortController();

  constructor(readonly endpoints: string[], private readonly options: ActivationPoolOptions = {}) {
    if (endpoints.length === 0) throw new Error('an activation pool needs at least one endpoint');
    this.replicas = endpoints.map((e) => ({ client: new ActivationClient(e, options.clientOptions), benchedUntil: 0, backoffMs: 0 }));
    this.opts = {
      firstBatchDeadlineMs: options.firstBatchDeadlineMs ?? 600_000,
      minBatchDeadlineMs: options.minBatchDeadlineMs ?? 15_000,
      slowFactor: options.slowFactor ?? 8,
      initialBackoffMs: options.initialBackoffMs ?? 1_000,
      maxBackoffMs: options.maxBackoffMs ?? 60_000,
      probeTimeoutMs: options.probeTimeoutMs ?? 2_000,
    };
  }

  /** Model info from the first replica that passes a health probe and answers. */
  info() {
    return this.firstAnswer((c) => c.info());
  }

  /** The unembedding in the lens library's shape, checked against the hash the service announced. */
  unembedding() {
    return this.firstAnswer(async (c) => toLensUnembedding(await c.unembedding(), c.address));
  }

  /** The deadline the next batch gets (ms). */
  batchDeadlineMs(): number {
    if (this.recentMs.length === 0) return this.opts.firstBatchDeadlineMs;
    return Math.max(this.opts.minBatchDeadlineMs, this.opts.slowFactor * Math.max(...this.recentMs));
  }

  /** Endpoints benched now, with how long until they may be tried again (ms). */
  benched(): Array<{ endpoint: string; remainingMs: number }> {
    const now = Date.now();
    return this.replicas.filter((r) => r.benchedUntil > now).map((r) => ({ endpoint: r.client.address, remainingMs: r.benchedUntil - now }));
  }

  /**
   * Hidden states 0..L of one batch ([batch, seq] ids). Each failure or missed deadline
   * benches that replica and re-sends the batch to another; a missed deadline also
   * doubles the batch's deadline (the whole pool may just be slower than measured).
   */
  async extract(inputIds: Int32Array, batch: number, seq: number): Promise<ExtractedBatch> {
    const errors: string[] = [];
    let deadlineMs = this.batchDeadlineMs();
    const attempts = Math.max(3, 2 * this.replicas.length + 1);
    for (let attempt = 0; attempt < attempts; attempt++) {
      const replica = await this.choose(errors);
      if (!replica) continue;
      const started = Date.now();
      try {
        for await (const out of replica.client.extract([{ batchId: 0, inputIds, batch, seq }], { timeoutMs: deadlineMs })) {
          this.recordSuccess(replica, Date.now() - started);
          return out;
        }
        throw Object.assign(new Error('the stream ended without the batch'), { code: status.UNAVAILABLE });
      } catch (err) {
        this.throwIfClosed();
        const code = (err as { code?: number }).code;
        if (code !== undefined && !RETRYABLE.has(code)) throw err;
        const why = code === status.DEADLINE_EXCEEDED
          ? `no answer within the batch deadline of ${(deadlineMs / 1000).toFixed(1)} s`
          : errorText(err);
        errors.push(`${replica.client.address}: ${why}`);
        this.bench(replica, why);
        if (code === status.DEADLINE_EXCEEDED) deadlineMs = Math.min(2 * deadlineMs, this.opts.firstBatchDeadlineMs);
      }
    }
    throw unavailable(`every activation endpoint failed for this batch: ${errors.join('; ')}`);
  }

  /** Stops new work; calls in flight end with UNAVAILABLE. */
  close(): void {
    this.closing.abort();
    for (const r of this.replicas) r.client.close();
  }

  /**
   * The next replica in the rotation that is not benched. When all are benched, waits
   * for the one whose back-off ends first. A replica coming off the bench must pass a
   * health probe first; undefined when it does not (it is benched again, longer).
   */
  private async choose(errors: string[]): Promise<Replica | undefined> {
    this.throwIfClosed();
    const n = this.replicas.length;
    const now = Date.now();
    let chosen: Replica | undefined;
    for (let k = 0; k < n && !chosen; k++) {
      const r = this.replicas[(this.next + k) % n];
      if (r.benchedUntil <= now) {
        chosen = r;
        this.next = (this.next + k + 1) % n;
      }
    }
    if (!chosen) {
      chosen = this.replicas.reduce((a, b) => (b.benchedUntil < a.benchedUntil ? b : a));
      await sleep(chosen.benchedUntil - now, undefined, { signal: this.closing.signal }).catch(() => {});
      this.throwIfClosed();
    }
    if (chosen.backoffMs === 0) return chosen;
    const problem = await this.probe(chosen);
    this.throwIfClosed();
    if (problem === undefined) return chosen;
    errors.push(`${chosen.client.address}: ${problem}`);
    this.bench(chosen, problem);
    return undefined;
  }

  /** undefined when the replica reports SERVING within the probe deadline, else why not. */
  private async probe(replica: Replica): Promise<string | undefined> {
    try {
      const state = await checkHealth(replica.client.address, serviceNames.activation, { ...this.options.clientOptions, timeoutMs: this.opts.probeTimeoutMs });
      return state === 'SERVING' ? undefined : `health check says ${state}`;
    } catch (err) {
      const e = err as { code?: number; details?: string; message?: string };
      return e.code === status.DEADLINE_EXCEEDED ? `no health answer within ${this.opts.probeTimeoutMs} ms` : `health check failed: ${e.details || e.message}`;
    }
  }

  private bench(replica: Replica, reason: string): void {
    replica.backoffMs = replica.backoffMs === 0 ? this.opts.initialBackoffMs : Math.min(2 * replica.backoffMs, this.opts.maxBackoffMs);
    replica.benchedUntil = Date.now() + replica.backoffMs;
    this.options.log?.warn('activation endpoint benched, its batch goes to another', { endpoint: replica.client.address, error: reason, backoffMs: replica.backoffMs });
    this.options.onBench?.(replica.client.address, reason);
  }

  private recordSuccess(replica: Replica, ms: number): void {
    replica.backoffMs = 0;
    replica.benchedUntil = 0;
    this.recentMs.push(ms);
    if (this.recentMs.length > RECENT_BATCHES) this.recentMs.shift();
  }

  private async firstAnswer<T>(fn: (c: ActivationClient) => Promise<T>): Promise<T> {
    const errors: string[] = [];
    // Healthy replicas first, then benched ones by how soon their back-off ends.
    const order = [...this.replicas].sort((a, b) => a.benchedUntil - b.benchedUntil);
    for (const r of order) {
      this.throwIfClosed();
      const problem = await this.probe(r);
      if (problem !== undefined) {
        errors.push(`${r.client.address}: ${problem}`);
        this.bench(r, problem);
        continue;
      }
      try {
        return await fn(r.client);
      } catch (err) {
        const why = errorText(err);
        errors.push(`${r.client.address}: ${why}`);
        this.bench(r, why);
      }
    }
    throw unavailable(`no activation service answered: ${errors.join('; ')}`);
  }

  private throwIfClosed(): void {
    // A read-ahead still running when its job ended: no replica is to blame.
    if (this.closing.signal.aborted) throw unavailable('the activation pool was closed (the job has ended)');
  }
}

/**
 * Forward passes run one at a time: the engine already uses every core, so running two
 * at once only adds memory. Waiting work is bounded; past the bound callers get
 * RESOURCE_EXHAUSTED with a retry hint instead of an ever-growing queue.
 *
 * Work given with an AbortSignal leaves the queue as soon as the signal fires (its slot
 * is free at once and it never starts); once started, the signal is the work's own
 * business (the model backend passes it on to the worker thread).
 */
import { resourceExhausted } from '@tuned-lens/grpc-kit';
import type { Gauge } from '@tuned-lens/metrics';
import { ForwardCancelledError } from './cancelled';

/** One queued piece of work: `start` runs it and settles the caller's promise. */
interface Waiting {
  start(): void;
}

export class ForwardQueue {
  /** Work not started yet, in arrival order. */
  private readonly waiting: Waiting[] = [];
  private running = false;

  constructor(private readonly maxWaiting: number, private readonly depth?: Gauge) {}

  /** Forward passes running or waiting (what the depth gauge shows and the bound counts). */
  get size(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(new ForwardCancelledError());
    if (this.size >= this.maxWaiting) {
      return Promise.reject(resourceExhausted(`${this.size} forward passes are queued (limit ${this.maxWaiting}); retry later`, 1000));
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i < 0) return; // already started: the work sees the signal itself
        this.waiting.splice(i, 1);
        this.report();
        reject(new ForwardCancelledError());
      };
      const entry: Waiting = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          let result: Promise<T>;
          try {
            result = work();
          } catch (err) {
            result = Promise.reject(err);
          }
          // The slot is free before the caller hears back, so what it sees is exact.
          const done = () => {
            this.running = false;
            this.report();
            this.startNext();
          };
          result.then((value) => { done(); resolve(value); }, (err: unknown) => { done(); reject(err); });
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
      this.report();
      this.startNext();
    });
  }

  private startNext(): void {
    if (this.running) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.running = true;
    this.report();
    next.start();
  }

  private report(): void {
    this.depth?.set(this.size);
  }
}

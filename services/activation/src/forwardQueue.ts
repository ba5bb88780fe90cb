/**
 * Forward passes run one at a time: the engine already uses every core, so running two
 * at once only adds memory. Waiting work is bounded; past the bound callers get
 * RESOURCE_EXHAUSTED with a retry hint instead of an ever-growing queue.
 */
import { resourceExhausted } from '@tuned-lens/grpc-kit';
import type { Gauge } from '@tuned-lens/metrics';

export class ForwardQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly maxWaiting: number, private readonly depth?: Gauge) {}

  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.waiting >= this.maxWaiting) {
      return Promise.reject(resourceExhausted(`${this.waiting} forward passes are queued (limit ${this.maxWaiting}); retry later`, 1000));
    }
    this.waiting++;
    this.depth?.set(this.waiting);
    const result = this.tail.then(work);
    this.tail = result.then(() => undefined, () => undefined).finally(() => {
      this.waiting--;
      this.depth?.set(this.waiting);
    });
    return result;
  }
}

/**
 * Admission control for lens requests (Neuronpedia's "fail if busy", as gRPC): at most
 * `budget` Predict / Compare calls compute at once; the next is refused at once with
 * RESOURCE_EXHAUSTED and a `retry-after-ms` hint from the recent call durations, rather
 * than queued behind work whose length nobody knows.
 */
import { resourceExhausted } from '@tuned-lens/grpc-kit';
import type { EvaluationMetrics } from './metrics';

export class Admission {
  private running = 0;
  /** Exponential moving average of admitted call durations (seconds). */
  private avgSeconds = 0.5;

  constructor(readonly budget: number, private readonly metrics?: EvaluationMetrics) {}

  get inFlight(): number {
    return this.running;
  }

  /** Takes a slot or throws RESOURCE_EXHAUSTED; call the returned function once done. */
  acquire(): () => void {
    if (this.running >= this.budget) {
      this.metrics?.rejected.inc();
      const retryMs = Math.min(30_000, Math.max(100, Math.round((this.avgSeconds * 1000) / 2)));
      throw resourceExhausted(`${this.running} lens requests are running and the admission budget is ${this.budget}; retry in about ${retryMs} ms`, retryMs);
    }
    this.running++;
    this.metrics?.inFlight.set(this.running);
    const t0 = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.metrics?.inFlight.set(this.running);
      this.avgSeconds = 0.8 * this.avgSeconds + 0.2 * ((performance.now() - t0) / 1000);
    };
  }
}

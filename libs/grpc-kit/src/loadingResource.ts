/**
 * Something a server loads at start-up (a tokenizer, a model) with its loading state.
 * RPCs that arrive while it loads get UNAVAILABLE (retryable); after a failed load they
 * get FAILED_PRECONDITION naming the reason, and the server stays up with its health
 * NOT_SERVING, so an operator sees the cause instead of a crash loop.
 */
import { failedPrecondition, unavailable } from './errors';

export class LoadingResource<T> {
  private value: T | undefined;
  private failure: string | undefined;
  readonly ready: Promise<T>;

  /** @param what names the resource in messages, e.g. "tokenizer", "model". */
  constructor(private readonly what: string, load: () => Promise<T>) {
    this.ready = load().then(
      (v) => { this.value = v; return v; },
      (err: unknown) => { this.failure = err instanceof Error ? err.message : String(err); throw err; },
    );
    this.ready.catch(() => {}); // observed through get() and the owner's start-up log
  }

  /** The loaded value, or the gRPC error that explains why there is none. */
  get(): T {
    if (this.value !== undefined) return this.value;
    if (this.failure !== undefined) throw failedPrecondition(`${this.what} could not be loaded: ${this.failure}`);
    throw unavailable(`${this.what} is still loading; retry shortly`);
  }
}

/**
 * Turns the server's health SERVING once `resource` has loaded, or logs why it never
 * will. The returned promise settles like `resource.ready` and never goes unhandled.
 */
export function serveWhenReady<T>(resource: LoadingResource<T>, server: { setServing(serving: boolean): void }, log: { error(msg: string, f?: Record<string, unknown>): void }, what: string): Promise<T> {
  const ready = resource.ready.then(
    (value) => { server.setServing(true); return value; },
    (err: Error) => {
      log.error(`${what} could not be loaded; answering FAILED_PRECONDITION until restarted`, { error: err.message });
      throw err;
    },
  );
  ready.catch(() => {});
  return ready;
}

/**
 * The async helpers the services share: one cancellation error, a way to stop waiting
 * for work that cannot itself be stopped, and ordered read-ahead pipelines.
 */

/** Work given up because its caller cancelled (or its job ended): no status is owed for it. */
export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

/** `p`, or a CancelledError rejection as soon as `signal` aborts (p keeps running; its outcome is dropped). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(new CancelledError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new CancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/**
 * An ordered pipeline with one item of lookahead. Items are read from a sequential
 * source one at a time; each is handed to `compute` as soon as the consumer has asked
 * for the item before it. So item k+1 computes while the consumer still works on item k
 * (for Extract: while batch k's frames are serialised and written; for training: while
 * the trainer thread steps on micro-batch k), and never more than one item is in
 * computation ahead of the one the consumer holds, which bounds memory to two items'
 * results:
 *
 *   consumer holds k  |  k+1: read, queued / computing / computed  |  k+2: not read yet
 *
 * Results come out in source order. A failure to read or compute item k reaches the
 * consumer in k's place, after every item before it; after a read failure or the end of
 * the source nothing more is read. The consumer must call close() when it stops early:
 * that aborts the signal given to `compute` (queued or running work for the item ahead
 * gives up and drops its result) and stops reading.
 */
export type ReadNext<In> = () => Promise<In | undefined>;
export type Compute<In, Out> = (item: In, signal: AbortSignal) => Promise<Out>;

export class Lookahead<In, Out> {
  private readonly controller = new AbortController();
  /** The latest read; the next one starts after it settles (the source is sequential). */
  private lastRead: Promise<unknown> = Promise.resolve();
  /** The source ended or failed, or close() was called: read nothing more. */
  private finished = false;
  /** The result handed out by the next next() call, already started. */
  private ahead: Promise<Out | undefined> | undefined;

  /** `depth` 0 turns the lookahead off: each item is read and computed when asked for. */
  constructor(private readonly readNext: ReadNext<In>, private readonly compute: Compute<In, Out>, private readonly depth: 0 | 1 = 1) {}

  /** The next result in source order; undefined once the source has ended (or after close()). */
  next(): Promise<Out | undefined> {
    const current = this.ahead ?? this.start();
    this.ahead = this.depth > 0 ? this.start() : undefined;
    return current;
  }

  /** Starts on the first item before anyone asks for it (idempotent). */
  prime(): void {
    this.ahead ??= this.start();
  }

  /** Stops reading and aborts the computation of the item ahead, if any. */
  close(): void {
    this.finished = true;
    this.controller.abort();
  }

  private start(): Promise<Out | undefined> {
    const item = this.lastRead.then(() => (this.finished ? undefined : this.readNext())).then(
      (value) => {
        if (value === undefined) this.finished = true;
        return value;
      },
      (err: unknown) => {
        this.finished = true;
        throw err;
      },
    );
    this.lastRead = item.catch(() => undefined);
    const signal = this.controller.signal;
    const out = item.then((value) => (value === undefined || signal.aborted ? undefined : this.compute(value, signal)));
    // The item ahead may fail after the consumer has stopped taking items (it hit an
    // earlier error, or the call was cancelled): that failure is nobody's to report.
    out.catch(() => undefined);
    return out;
  }
}

/**
 * An async iterator read one item ahead of its consumer: handing out item k asks for
 * k+1 at once (a Lookahead whose compute is the item itself), so producing k+1 overlaps
 * the consumer's work on k; memory is bounded to one extra item.
 */
export function readAhead<T>(source: AsyncIterator<T>): Lookahead<T, T> {
  return new Lookahead<T, T>(async () => {
    const r = await source.next();
    return r.done ? undefined : r.value;
  }, async (item) => item);
}

/**
 * An ordered pipeline with one item of lookahead. Items are read from a sequential
 * source one at a time; each is handed to `compute` as soon as the consumer has asked
 * for the item before it. So item k+1 computes while the consumer still works on item k
 * (for Extract: while batch k's frames are serialised and written), and never more than
 * one item is in computation ahead of the one the consumer holds, which bounds memory to
 * two items' results:
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

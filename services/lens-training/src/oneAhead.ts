/**
 * Reads an async iterator one item ahead of its consumer: as soon as item k is handed
 * out, item k+1 is asked for, so producing k+1 (here: tokenizing and extracting the
 * next micro-batch's hidden states) overlaps the consumer's work on k (the trainer
 * thread's compute). Never more than one item is read ahead, which bounds the memory
 * held to one extra micro-batch.
 */
export class OneAhead<T> {
  private ahead: Promise<IteratorResult<T>> | undefined;

  constructor(private readonly source: AsyncIterator<T>) {}

  /** Starts reading the first item before anyone asks for it. */
  start(): void {
    if (this.ahead) return;
    this.ahead = this.source.next();
    this.ahead.catch(() => {});
  }

  async next(): Promise<IteratorResult<T>> {
    const current = this.ahead ?? this.source.next();
    this.ahead = undefined;
    const result = await current;
    if (!result.done) {
      this.ahead = this.source.next();
      // A failure of the read-ahead belongs to the next call; until then it is not unhandled.
      this.ahead.catch(() => {});
    }
    return result;
  }
}

/**
 * Hidden states from one or more activation services: batches go round-robin over the
 * endpoints; a batch whose endpoint fails (down, restarting, overloaded) is retried on
 * the next one, so a job survives losing replicas as long as one answers.
 */
import { ActivationClient, type ExtractedBatch } from '@tuned-lens/clients';
import { status, unavailable, type ClientTlsConfig, type Logger } from '@tuned-lens/grpc-kit';

const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.CANCELLED, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.INTERNAL, status.UNKNOWN]);

export class ActivationPool {
  private readonly clients: ActivationClient[];
  private next = 0;
  private closed = false;

  constructor(readonly endpoints: string[], private readonly log: Logger, tls?: ClientTlsConfig, private readonly timeoutMs = 600_000) {
    this.clients = endpoints.map((e) => new ActivationClient(e, { tls }));
  }

  /** Model info from the first endpoint that answers. */
  async info() {
    return this.firstAnswer((c) => c.info());
  }

  async unembedding() {
    return this.firstAnswer((c) => c.unembedding());
  }

  private async firstAnswer<T>(fn: (c: ActivationClient) => Promise<T>): Promise<T> {
    const errors: string[] = [];
    for (const c of this.clients) {
      try {
        return await fn(c);
      } catch (err) {
        errors.push(`${c.address}: ${(err as { details?: string }).details ?? (err as Error).message}`);
      }
    }
    throw unavailable(`no activation service answered: ${errors.join('; ')}`);
  }

  /**
   * Hidden states 0..L of one batch ([batch, seq] ids), trying each endpoint at most
   * once, starting with the next in the rotation.
   */
  async extract(inputIds: Int32Array, batch: number, seq: number): Promise<ExtractedBatch> {
    const errors: string[] = [];
    for (let attempt = 0; attempt < this.clients.length; attempt++) {
      // A read-ahead still running when its job ended: no endpoint is to blame, do not retry.
      if (this.closed) throw unavailable('the activation pool was closed (the job has ended)');
      const client = this.clients[this.next];
      this.next = (this.next + 1) % this.clients.length;
      try {
        for await (const out of client.extract([{ batchId: 0, inputIds, batch, seq }], { timeoutMs: this.timeoutMs })) return out;
        throw Object.assign(new Error('stream ended without the batch'), { code: status.UNAVAILABLE });
      } catch (err) {
        const code = (err as { code?: number }).code;
        const why = (err as { details?: string }).details ?? (err as Error).message;
        if (code !== undefined && !RETRYABLE.has(code)) throw err; // bad input: retrying elsewhere will not help
        this.log.warn('activation endpoint failed, trying the next', { endpoint: client.address, error: why });
        errors.push(`${client.address}: ${why}`);
      }
    }
    throw unavailable(`every activation endpoint failed for this batch: ${errors.join('; ')}`);
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients) c.close();
  }
}

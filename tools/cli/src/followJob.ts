/**
 * Following a job of the training or evaluation service as a command does: every status
 * update to `onStatus`, Ctrl-C asks the service to cancel the job (which then ends with a
 * final status: the loop still waits for it), and the final status is returned.
 */
import type { JobClient } from '@tuned-lens/clients';

export async function followJob<S>(client: JobClient<unknown, S>, id: string, opts: { onStatus(status: S): void; onInterrupt?(): void }): Promise<S> {
  const interrupt = () => {
    opts.onInterrupt?.();
    void client.cancel(id).catch(() => {});
  };
  process.once('SIGINT', interrupt);
  let last: S | undefined;
  try {
    for await (const status of client.watch(id)) {
      last = status;
      opts.onStatus(status);
    }
  } finally {
    process.off('SIGINT', interrupt);
  }
  if (last === undefined) throw new Error(`${client.address} sent no status for job ${id}`);
  return last;
}

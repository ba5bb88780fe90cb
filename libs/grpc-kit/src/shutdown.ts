import type { Logger } from './logger';

export interface Stoppable {
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * On SIGTERM / SIGINT: drain every server (health NOT_SERVING first so load balancers
 * stop sending), force after `graceMs`, then exit 0. A second signal exits at once.
 * Kubernetes waits terminationGracePeriodSeconds, which must exceed graceMs.
 */
export function shutdownOnSignals(targets: Stoppable[], opts: { graceMs?: number; logger?: Logger; exit?: (code: number) => void } = {}): () => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let signalled = false;
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) {
      opts.logger?.warn('second signal, exiting now', { signal });
      exit(1);
      return;
    }
    signalled = true;
    opts.logger?.info('shutting down', { signal });
    Promise.all(targets.map((t) => t.shutdown(opts.graceMs))).then(() => exit(0), () => exit(1));
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => { process.off('SIGTERM', handler); process.off('SIGINT', handler); };
}

/**
 * The embedded default: services started in this process on ephemeral loopback ports,
 * driven over real gRPC exactly as a cluster deployment is. Used when a command is given
 * no endpoints.
 */
import { createLogger, type Level, type Logger } from '@tuned-lens/grpc-kit';
import { smallLmDir, fixturesRoot } from '@tuned-lens/fixtures';
import { startTokenizerServer, type TokenizerServer } from '@tuned-lens/tokenizer-service';
import { startActivationServer, type ActivationServer } from '@tuned-lens/activation-service';
import type { EngineChoice } from '@tuned-lens/engine';
import { UsageError } from './args';

/** Set by the global --log-level flag (main.ts); wins over TUNED_LENS_LOG_LEVEL. */
let logLevelFlag: Level | undefined;

export function setEmbeddedLogLevel(level: Level): void {
  logLevelFlag = level;
}

/** Quiet logs for embedded services unless --log-level or TUNED_LENS_LOG_LEVEL asks for more. */
export function embeddedLogger(component: string): Logger {
  return createLogger(component, { level: logLevelFlag ?? (process.env.TUNED_LENS_LOG_LEVEL as Level | undefined) ?? 'warn' });
}

/** The bundled tokenizer (small-lm's) and data root, the defaults of every command. */
export const defaults = {
  tokenizerDir: smallLmDir,
  dataRoot: fixturesRoot,
};

/** Resolves with the server once it is ready; shuts it down and rethrows if it cannot be. */
async function whenReady<S extends { ready: Promise<unknown>; shutdown(graceMs?: number): Promise<void> }>(server: S): Promise<S> {
  try {
    await server.ready;
  } catch (err) {
    await server.shutdown(100);
    throw err;
  }
  return server;
}

export async function startEmbeddedTokenizer(tokenizerDir: string, dataRoots: string[]): Promise<TokenizerServer> {
  return whenReady(await startTokenizerServer({ tokenizerDir, dataRoots, logger: embeddedLogger('tokenizer') }));
}

export const ENGINES = ['auto', 'onnx', 'tfjs'] as const;

export function engineOption(value: string | undefined): EngineChoice {
  const v = value ?? 'auto';
  if (!(ENGINES as readonly string[]).includes(v)) throw new UsageError(`--engine must be one of ${ENGINES.join(', ')}, got "${v}"`);
  return v as EngineChoice;
}

/**
 * Two embedded servers started side by side, both ready. When one fails (a model refused
 * for memory, a bad checkpoint), the other is shut down before the error is rethrown:
 * left running, it kept the process alive after the command had reported the failure.
 */
export async function startBoth<A extends Stoppable, B extends Stoppable>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'fulfilled' && rb.status === 'fulfilled') return [ra.value, rb.value];
  await Promise.all([ra, rb].map((r) => (r.status === 'fulfilled' ? r.value.shutdown(100) : undefined)));
  throw ra.status === 'rejected' ? ra.reason : (rb as PromiseRejectedResult).reason;
}

interface Stoppable {
  shutdown(graceMs?: number): Promise<void>;
}

/** An activation service for `modelDir` on a loopback port, ready (model loaded) or failed. */
export async function startEmbeddedActivation(modelDir: string, engine: EngineChoice): Promise<ActivationServer> {
  return whenReady(await startActivationServer({ modelDir, engine, logger: embeddedLogger('activation') }));
}

/**
 * The embedded default: services started in this process on ephemeral loopback ports,
 * driven over real gRPC exactly as a cluster deployment is. Used when a command is given
 * no endpoints.
 */
import { createLogger, type Logger } from '@tuned-lens/grpc-kit';
import { smallLmDir, fixturesRoot } from '@tuned-lens/fixtures';
import { startTokenizerServer, type TokenizerServer } from '@tuned-lens/tokenizer-service';

/** Quiet logs for embedded services unless TUNED_LENS_LOG_LEVEL asks for more. */
export function embeddedLogger(component: string): Logger {
  return createLogger(component, { level: (process.env.TUNED_LENS_LOG_LEVEL as 'info') ?? 'warn' });
}

/** The bundled tokenizer (small-lm's) and data root, the defaults of every command. */
export const defaults = {
  tokenizerDir: smallLmDir,
  dataRoot: fixturesRoot,
};

export async function startEmbeddedTokenizer(tokenizerDir: string, dataRoots: string[]): Promise<TokenizerServer> {
  const server = await startTokenizerServer({ tokenizerDir, dataRoots, logger: embeddedLogger('tokenizer') });
  try {
    await server.ready;
  } catch (err) {
    await server.shutdown(100);
    throw err;
  }
  return server;
}

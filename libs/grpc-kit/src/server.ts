/**
 * One way to start a gRPC server: explicit message-size limits, shared keepalive,
 * grpc.health.v1 with a status per service, reflection, the grpc_server_* metrics and a
 * /metrics endpoint on its own port, a request that does not decode answered with
 * INVALID_ARGUMENT naming the field (requestDecoding.ts), and a shutdown that drains
 * then forces.
 */
import { Server, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { getProcessRegistry, startMetricsServer, type MetricsServer, type Registry } from '@tuned-lens/metrics';
import { protoFiles } from '@tuned-lens/proto';
import { serverChannelOptions } from './channelOptions';
import { serverCredentials, type ServerTlsConfig } from './credentials';
import { createLogger, type Logger } from './logger';
import { metricsInterceptor } from './metricsInterceptor';
import { addReflection } from './reflection';
import { isLoopbackHost } from './address';
import { authInterceptor, loadTokenTable, type TokenEntry } from './auth';
import { guardRequestDecoding, RequestSchema, undecodableRequestInterceptor } from './requestDecoding';

export interface ServiceRegistration {
  /** Fully qualified name (`tunedlens.tokenizer.v1.TokenizerService`): the health key. */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/** Where and how a service listens: the options every service passes through unchanged. */
export type ListenOptions = Pick<StartServerOptions, 'host' | 'port' | 'metricsPort' | 'tls' | 'allowPlaintext' | 'maxMessageBytes'>;

/** The listen options out of a service's own options (which extend them). */
export function listenOptions(o: ListenOptions): ListenOptions {
  return { host: o.host, port: o.port, metricsPort: o.metricsPort, tls: o.tls, allowPlaintext: o.allowPlaintext, maxMessageBytes: o.maxMessageBytes };
}

export interface StartServerOptions {
  /** Short name for logs: "tokenizer", "activation", ... */
  component: string;
  services: ServiceRegistration[];
  /** Proto files (relative to proto/) that reflection describes. */
  protoFiles: string[];
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port, reported in the result. */
  port?: number;
  /** Port for GET /metrics; null (default) serves none, 0 picks an ephemeral one. */
  metricsPort?: number | null;
  metricsHost?: string;
  maxMessageBytes?: number;
  tls?: ServerTlsConfig;
  /** Plaintext on a non-loopback address must be asked for explicitly. */
  allowPlaintext?: boolean;
  /**
   * Bearer tokens every call (but health and reflection) must carry; default: the file
   * named by TUNED_LENS_AUTH_TOKENS_FILE, else no authentication.
   */
  authTokens?: TokenEntry[];
  logger?: Logger;
  registry?: Registry;
  /**
   * Services start NOT_SERVING so that a readiness probe fails until the owner calls
   * `setServing(true)` (e.g. after the model is loaded). Default false.
   */
  servingAtStart?: boolean;
}

export interface RunningServer {
  server: Server;
  host: string;
  port: number;
  /** `host:port` to give clients. */
  address: string;
  metricsPort?: number;
  /** Marks every registered service (and the process entry "") serving or not. */
  setServing(serving: boolean, serviceName?: string): void;
  /** Stops accepting calls, lets running ones finish for `graceMs`, then cuts them. */
  shutdown(graceMs?: number): Promise<void>;
}

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const log = opts.logger ?? createLogger(opts.component);
  const host = opts.host ?? '127.0.0.1';
  const registry = opts.registry ?? getProcessRegistry();
  if (!opts.tls && !isLoopbackHost(host) && !opts.allowPlaintext) {
    throw new Error(`refusing plaintext gRPC on non-loopback address ${host}: give TLS files (--tls-cert/--tls-key) or allow plaintext explicitly (--insecure)`);
  }

  const authTokens = opts.authTokens ?? (process.env.TUNED_LENS_AUTH_TOKENS_FILE ? loadTokenTable(process.env.TUNED_LENS_AUTH_TOKENS_FILE) : undefined);
  // Metrics first, so refused calls are counted with their UNAUTHENTICATED code (and
  // undecodable requests with INVALID_ARGUMENT).
  const interceptors = [
    metricsInterceptor(registry),
    ...(authTokens ? [authInterceptor(authTokens)] : []),
    undecodableRequestInterceptor(),
  ];
  const server = new Server({ ...serverChannelOptions(opts.maxMessageBytes), interceptors });
  const initial = opts.servingAtStart ? 'SERVING' : 'NOT_SERVING';
  const health = new HealthImplementation({
    '': initial,
    ...Object.fromEntries(opts.services.map((s) => [s.name, initial])),
  });
  health.addToServer(server);
  const schema = RequestSchema.load([...Object.values(protoFiles), ...opts.protoFiles]);
  for (const s of opts.services) server.addService(guardRequestDecoding(s.definition, schema), s.implementation);
  addReflection(server, opts.protoFiles, [healthProtoPath]);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${opts.port ?? 0}`, serverCredentials(opts.tls), (err, bound) => {
      if (err) reject(new Error(`cannot listen on ${host}:${opts.port ?? 0}: ${err.message}`));
      else resolve(bound);
    });
  });
  let metrics: MetricsServer | undefined;
  if (opts.metricsPort !== undefined && opts.metricsPort !== null) {
    try {
      metrics = await startMetricsServer(registry, { port: opts.metricsPort, host: opts.metricsHost ?? host });
    } catch (err) {
      server.forceShutdown();
      throw new Error(`cannot serve /metrics on port ${opts.metricsPort}: ${(err as Error).message}`);
    }
  }
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info('listening', {
    address,
    services: opts.services.map((s) => s.name).join(','),
    transport: opts.tls ? (opts.tls.clientCaFile ? 'mtls' : 'tls') : 'plaintext',
    auth: authTokens ? `bearer tokens (${authTokens.length})` : 'none',
    metrics: metrics ? `http://${metrics.host}:${metrics.port}/metrics` : undefined,
  });
  if (!opts.tls) log.info(isLoopbackHost(host) ? 'plaintext on loopback only (no TLS configured)' : 'WARNING: plaintext on a network address (--insecure)');

  let stopping: Promise<void> | undefined;
  return {
    server,
    host,
    port,
    address,
    metricsPort: metrics?.port,
    setServing(serving, serviceName) {
      const st = serving ? 'SERVING' : 'NOT_SERVING';
      const names = serviceName ? [serviceName] : ['', ...opts.services.map((s) => s.name)];
      for (const n of names) health.setStatus(n, st);
    },
    shutdown(graceMs = 10_000) {
      stopping ??= (async () => {
        for (const n of ['', ...opts.services.map((s) => s.name)]) health.setStatus(n, 'NOT_SERVING');
        log.info('draining', { graceMs });
        await new Promise<void>((resolve) => {
          // tryShutdown waits forever on streams whose client vanished
          // (grpc/grpc-node#1458): force after the grace period.
          const timer = setTimeout(() => {
            log.warn('grace period over, cancelling remaining calls');
            server.forceShutdown();
            resolve();
          }, graceMs);
          server.tryShutdown(() => { clearTimeout(timer); resolve(); });
        });
        await metrics?.close();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

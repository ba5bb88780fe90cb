import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** The port actually bound (useful when 0 asked for an ephemeral one). */
  port: number;
  host: string;
  close(): Promise<void>;
}

/**
 * Serves `registry` in the Prometheus text exposition format on GET /metrics, on its own
 * HTTP port (a scrape must never compete with gRPC flow control on the service port).
 * Anything else answers 404.
 */
export async function startMetricsServer(registry: Registry, opts: { port: number; host?: string }): Promise<MetricsServer> {
  const host = opts.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      registry.metrics().then(
        (body) => { res.writeHead(200, { 'Content-Type': registry.contentType }); res.end(body); },
        (err: unknown) => { res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end(`metrics collection failed: ${String(err)}\n`); },
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('only GET /metrics is served here\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    host,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

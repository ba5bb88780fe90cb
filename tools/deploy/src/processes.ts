/**
 * Services as separate processes, started the way the images start them: the
 * `tuned-lens` bin with `serve ...` arguments. A started process prints
 * `<service> grpc=<host:port> metrics=<url>` once it listens; it is ready when
 * grpc.health.v1 says SERVING for its service name (what the Kubernetes probes ask).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { checkHealth } from '@tuned-lens/grpc-kit';
import { tunedLensBin } from './paths';

/** grpc.health.v1 names of the services, keyed by `serve --service` name. */
export const healthNames: Record<string, string> = {
  tokenizer: 'tunedlens.tokenizer.v1.TokenizerService',
  activation: 'tunedlens.activation.v1.ActivationService',
  'lens-training': 'tunedlens.training.v1.LensTrainingService',
  evaluation: 'tunedlens.evaluation.v1.EvaluationService',
};

export interface ServiceProcess {
  label: string;
  service: string;
  child: ChildProcess;
  /** host:port of gRPC as printed by the process. */
  address: string;
  metricsUrl: string;
  /** stderr so far (logs). */
  logs(): string;
  /** SIGTERM, then the exit code (null + signal name if it died of a signal). */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Services `tuned-lens serve` can start in this build, from its --help. */
export function servableServices(bin = tunedLensBin): string[] {
  const r = spawnSync(bin, ['serve', '--help'], { encoding: 'utf8', timeout: 60_000 });
  const m = /--service NAME\s+(.*?) or all/.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) throw new Error(`tuned-lens serve --help failed (${r.status}): ${r.stderr}`);
  return m[1].split(',').map((s) => s.trim()).filter(Boolean);
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  label?: string;
  /** Executable and arguments; default: the tuned-lens bin with `args`. */
  command?: string;
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the address line. */
  listenTimeoutMs?: number;
}

/** Starts `tuned-lens <args>` (a `serve` of one service) and waits for its address line. */
export async function startService(service: string, args: string[], opts: StartOptions = {}): Promise<ServiceProcess> {
  const child = spawn(opts.command ?? tunedLensBin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.hugetlb=1', ...opts.env },
  });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const label = opts.label ?? service;
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${label}: no address line within ${opts.listenTimeoutMs ?? 60_000} ms\n${stderr}`)); }, opts.listenTimeoutMs ?? 60_000);
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      if (l.startsWith(`${service} grpc=`)) { clearTimeout(timer); resolve(l); }
    });
    void exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`${label} exited (${code ?? signal}) before listening:\n${stderr}`)); });
  });
  const m = /grpc=(\S+) metrics=(\S+)/.exec(line)!;
  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  return {
    label,
    service,
    child,
    address: m[1],
    metricsUrl: m[2],
    logs: () => stderr,
    stop(timeoutMs = 30_000) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        const r = await exited;
        clearTimeout(timer);
        return r;
      })();
      return stopping;
    },
  };
}

/** Polls grpc.health.v1 until `service` is SERVING at `address` (loopback form of it). */
export async function waitServing(address: string, service: string, timeoutMs = 90_000): Promise<void> {
  const target = loopbackAddress(address);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      last = await checkHealth(target, service, { timeoutMs: 2_000 });
      if (last === 'SERVING') return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${service} at ${target} not SERVING after ${timeoutMs} ms (last: ${last})`);
}

/** `0.0.0.0:N` / `[::]:N` as 127.0.0.1:N: where a local client reaches an all-interfaces bind. */
export function loopbackAddress(address: string): string {
  return address.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '127.0.0.1:');
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url.replace('//0.0.0.0:', '//127.0.0.1:'));
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

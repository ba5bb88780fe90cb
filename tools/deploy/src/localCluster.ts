/**
 * The deployment's shape on one machine: every service its own process, started with
 * `tuned-lens serve` on loopback like the Kubernetes manifests start them in pods
 * (tokenizer, two activation replicas, and lens-training / evaluation when this
 * build's `serve` has them), health-checked through grpc.health.v1, endpoints printed.
 * SIGTERM or Ctrl-C stops them all the way Kubernetes does (SIGTERM, drain, exit) and
 * exits 0 only if every process exited 0.
 *
 *   npm run local-cluster -w @tuned-lens/deploy-checks [-- --model DIR --activations N --engine onnx]
 *
 * Output, one line per process, then `ready`:
 *   <label> grpc=<host:port> metrics=<url> pid=<pid> health=<name>
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fixturesRoot, smallLmDir } from '@tuned-lens/fixtures';
import { healthNames, servableServices, startService, waitServing, type ServiceProcess } from './processes';

export interface LocalClusterOptions {
  /** Checkpoint folder for the activation processes (default: the bundled small-lm). */
  modelDir?: string;
  /** Tokenizer folder (default: the model folder). */
  tokenizerDir?: string;
  /** Corpus root of the tokenizer (default: the bundled fixtures). */
  dataRoot?: string;
  /** Lens folder root of lens-training and evaluation (default: a new temp folder). */
  lensRoot?: string;
  activations?: number;
  engine?: 'onnx' | 'tfjs' | 'auto';
  /** Drain time each process gets on SIGTERM. */
  graceMs?: number;
  log?: (line: string) => void;
}

export interface LocalCluster {
  processes: ServiceProcess[];
  lensRoot: string;
  /** Services `serve` could not start in this build (reported, not started). */
  missing: string[];
  byService(service: string): ServiceProcess[];
  /** SIGTERM to all; resolves with each process's exit. */
  stop(): Promise<Array<{ label: string; code: number | null; signal: NodeJS.Signals | null }>>;
}

export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const modelDir = resolve(opts.modelDir ?? smallLmDir);
  const tokenizerDir = resolve(opts.tokenizerDir ?? modelDir);
  const dataRoot = resolve(opts.dataRoot ?? fixturesRoot);
  const lensRoot = resolve(opts.lensRoot ?? mkdtempSync(join(tmpdir(), 'tuned-lens-lenses-')));
  const engine = opts.engine ?? 'onnx';
  const grace = String(opts.graceMs ?? 5_000);
  const available = new Set(servableServices());
  const common = (service: string) => ['serve', '--service', service, '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--grace-ms', grace];
  const processes: ServiceProcess[] = [];
  const stopAll = async () => Promise.all(processes.map(async (p) => ({ label: p.label, ...(await p.stop()) })));
  try {
    // Independent services first, in parallel.
    const first: Array<Promise<ServiceProcess>> = [
      startService('tokenizer', [...common('tokenizer'), '--tokenizer', tokenizerDir, '--data-root', dataRoot], { label: 'tokenizer' }),
    ];
    for (let i = 0; i < (opts.activations ?? 2); i++) {
      first.push(startService('activation', [...common('activation'), '--model', modelDir, '--engine', engine], { label: `activation-${i}` }));
    }
    if (available.has('lens-training')) {
      first.push(startService('lens-training', [...common('lens-training'), '--lens-root', lensRoot, '--engine', engine], { label: 'lens-training' }));
    }
    const started = await Promise.allSettled(first);
    for (const s of started) if (s.status === 'fulfilled') processes.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    if (available.has('evaluation')) {
      const tok = processes.find((p) => p.service === 'tokenizer')!;
      const act = processes.filter((p) => p.service === 'activation');
      processes.push(await startService('evaluation', [
        ...common('evaluation'), '--lens-root', lensRoot, '--tokenizer-endpoint', tok.address,
        ...act.flatMap((a) => ['--activation-endpoint', a.address]),
      ], { label: 'evaluation' }));
    }
    await Promise.all(processes.map((p) => waitServing(p.address, healthNames[p.service])));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const missing = ['lens-training', 'evaluation'].filter((s) => !available.has(s));
  return {
    processes,
    lensRoot,
    missing,
    byService: (service) => processes.filter((p) => p.service === service),
    stop: stopAll,
  };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, tokenizer: { type: 'string' }, 'data-root': { type: 'string' }, 'lens-root': { type: 'string' },
      activations: { type: 'string', default: '2' }, engine: { type: 'string', default: 'onnx' }, 'grace-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: local-cluster [--model DIR] [--tokenizer DIR] [--data-root DIR] [--lens-root DIR] [--activations N] [--engine onnx|tfjs|auto] [--grace-ms N]');
    return 0;
  }
  const cluster = await startLocalCluster({
    modelDir: values.model, tokenizerDir: values.tokenizer, dataRoot: values['data-root'], lensRoot: values['lens-root'],
    activations: Number(values.activations), engine: values.engine as LocalClusterOptions['engine'],
    graceMs: values['grace-ms'] ? Number(values['grace-ms']) : undefined,
  });
  for (const p of cluster.processes) {
    console.log(`${p.label} grpc=${p.address} metrics=${p.metricsUrl} pid=${p.child.pid} health=${healthNames[p.service]}`);
  }
  for (const m of cluster.missing) console.log(`# ${m}: not started (tuned-lens serve has no --service ${m} in this build)`);
  console.log(`# lenses: ${cluster.lensRoot}`);
  console.log('ready');
  const signal = await new Promise<NodeJS.Signals>((res) => {
    process.once('SIGTERM', () => res('SIGTERM'));
    process.once('SIGINT', () => res('SIGINT'));
  });
  console.error(`${signal}: stopping ${cluster.processes.length} processes`);
  const exits = await cluster.stop();
  for (const e of exits) console.log(`stopped ${e.label}: ${e.code !== null ? `exit ${e.code}` : `signal ${e.signal}`}`);
  return exits.every((e) => e.code === 0) ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: Error) => { console.error(`local-cluster: ${err.message}`); process.exitCode = 1; },
  );
}

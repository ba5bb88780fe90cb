/** `tuned-lens serve`: start services and keep them running until SIGTERM / Ctrl-C. */
import { resolve } from 'node:path';
import { clientTlsFromEnv, createLogger, serverTlsFromEnv, shutdownOnSignals, type RunningServer, type ServerTlsConfig } from '@tuned-lens/grpc-kit';
import { startTokenizerServer } from '@tuned-lens/tokenizer-service';
import { parseByteSize, startActivationServer } from '@tuned-lens/activation-service';
import { startLensTrainingServer } from '@tuned-lens/lens-training-service';
import { startEvaluationServer } from '@tuned-lens/evaluation-service';
import { smallLmDir } from '@tuned-lens/fixtures';
import { intOption, parse, portOption, UsageError } from '../args';
import { defaults, engineOption } from '../embedded';

/** Services this build can start; a later issue adds evaluation. */
export const SERVICES = ['tokenizer', 'activation', 'lens-training', 'evaluation'] as const;
type ServiceName = (typeof SERVICES)[number];

const help = `usage: tuned-lens serve [--service NAME|all] [options]

Starts the services in this process and prints one line per service:
  <service> grpc=<host:port> metrics=<url>
then serves until SIGTERM or Ctrl-C (drains running calls for --grace-ms, then stops).

  --service NAME      ${SERVICES.join(', ')} or all (default all)
  --host HOST         address to bind (default 127.0.0.1; others need TLS or --insecure)
  --port N            gRPC port; 0 = a free one (default 0). With several services,
                      each next service takes the next port (when N > 0)
  --metrics-port N    port for GET /metrics; 0 = a free one (default 0)
  --tokenizer DIR     tokenizer folder (default: the bundled small-lm tokenizer)
  --tokenizer-threads N  tokenizer: worker threads that tokenize (default min(2, cores))
  --data-root DIR     folder corpus paths in requests may point into (repeatable;
                      default: the bundled fixtures)
  --model DIR         activation: Hugging Face checkpoint folder (default: the bundled
                      small-lm)
  --engine NAME       activation, lens-training: onnx, tfjs or auto (default auto:
                      tfjs when @tensorflow/tfjs-node-gpu is installed, else onnx)
  --memory-limit SIZE activation: memory this process may use in all (e.g. 24G, 512M,
                      or max = no check), instead of what the cgroup and MemAvailable
                      allow; a model estimated not to fit is refused before loading
                      (default: env TUNED_LENS_MEMORY_LIMIT_BYTES, else detected)
  --lens-root DIR     lens-training, evaluation: folder lenses and outputs must
                      resolve into (repeatable; default: the current folder)
  --tokenizer-endpoint H:P   evaluation: its tokenizer service (default: the one
                      started by this command, with --service all)
  --activation-endpoint H:P  evaluation: its activation service (likewise)
  --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]
                      serve TLS (mutual TLS with a client CA); also from
                      TUNED_LENS_TLS_CERT / _KEY / _CLIENT_CA
  --insecure          allow plaintext on a non-loopback address
  --grace-ms N        drain time on shutdown (default 10000)`;

export interface StartedService {
  name: ServiceName;
  server: RunningServer;
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    service: { type: 'string', default: 'all' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    'metrics-port': { type: 'string' },
    tokenizer: { type: 'string' },
    'data-root': { type: 'string', multiple: true },
    'tokenizer-threads': { type: 'string' },
    model: { type: 'string' },
    engine: { type: 'string', default: 'auto' },
    'memory-limit': { type: 'string' },
    'lens-root': { type: 'string', multiple: true },
    'tokenizer-endpoint': { type: 'string' },
    'activation-endpoint': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-client-ca': { type: 'string' },
    insecure: { type: 'boolean', default: false },
    'grace-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(help); return 0; }
  const wanted: ServiceName[] = values.service === 'all' ? [...SERVICES]
    : SERVICES.includes(values.service as ServiceName) ? [values.service as ServiceName]
    : (() => { throw new UsageError(`unknown service "${values.service}"; choose from ${SERVICES.join(', ')} or all`); })();
  const basePort = portOption(values.port, 'port', 0);
  const metricsPort = portOption(values['metrics-port'], 'metrics-port', 0);
  const graceMs = Number(values['grace-ms'] ?? 10_000);
  const engine = engineOption(values.engine);
  const memoryLimitBytes = values['memory-limit'] === undefined ? undefined : memoryLimitOption(values['memory-limit']);
  let tls: ServerTlsConfig | undefined;
  if (values['tls-cert'] || values['tls-key']) {
    if (!values['tls-cert'] || !values['tls-key']) throw new UsageError('TLS needs both --tls-cert and --tls-key');
    tls = { certFile: values['tls-cert'], keyFile: values['tls-key'], clientCaFile: values['tls-client-ca'] };
  } else {
    tls = serverTlsFromEnv();
  }
  const log = createLogger('serve');
  const started: StartedService[] = [];
  for (const [i, name] of wanted.entries()) {
    const common = {
      host: values.host,
      port: basePort === 0 ? 0 : basePort + i,
      metricsPort: metricsPort === 0 ? 0 : metricsPort + i,
      tls,
      allowPlaintext: values.insecure,
    };
    if (name === 'tokenizer') {
      const server = await startTokenizerServer({
        ...common,
        tokenizerDir: resolve(values.tokenizer ?? defaults.tokenizerDir),
        dataRoots: (values['data-root'] ?? [defaults.dataRoot]).map((d) => resolve(d)),
        threads: values['tokenizer-threads'] === undefined ? undefined : intOption(values['tokenizer-threads'], 'tokenizer-threads', 2),
        logger: createLogger('tokenizer'),
      });
      started.push({ name, server });
    } else if (name === 'activation') {
      // Serves at once (NOT_SERVING) and turns SERVING when the model is loaded; a model
      // that cannot be loaded leaves it up answering FAILED_PRECONDITION with the reason.
      const server = await startActivationServer({
        ...common,
        modelDir: resolve(values.model ?? smallLmDir),
        engine,
        memoryLimitBytes,
        logger: createLogger('activation'),
      });
      server.ready.catch(() => {});
      started.push({ name, server });
    } else if (name === 'lens-training') {
      const server = await startLensTrainingServer({
        ...common,
        roots: (values['lens-root'] ?? ['.']).map((d) => resolve(d)),
        engine,
        // its calls to tokenizer and activation: TUNED_LENS_TLS_CA / _CLIENT_CERT / _CLIENT_KEY
        clientTls: clientTlsFromEnv(),
        logger: createLogger('lens-training'),
      });
      started.push({ name, server });
    } else if (name === 'evaluation') {
      const peer = (n: ServiceName) => started.find((x) => x.name === n)?.server.address;
      const roots = (values['lens-root'] ?? ['.']).map((d) => resolve(d));
      const server = await startEvaluationServer({
        ...common,
        tokenizerEndpoint: values['tokenizer-endpoint'] ?? peer('tokenizer'),
        activationEndpoint: values['activation-endpoint'] ?? peer('activation'),
        lensRoots: roots,
        outputRoots: roots,
        engine,
        upstream: { tls: clientTlsFromEnv() },
        logger: createLogger('evaluation'),
      });
      started.push({ name, server });
    }
  }
  for (const s of started) {
    console.log(`${s.name} grpc=${s.server.address} metrics=http://${values.host}:${s.server.metricsPort}/metrics`);
  }
  const stop = shutdownOnSignals(started.map((s) => s.server), { graceMs, logger: log });
  await new Promise<void>(() => {}); // serve until a signal exits the process
  stop();
  return 0;
}

function memoryLimitOption(value: string): number | 'max' {
  try {
    return parseByteSize(value);
  } catch (err) {
    throw new UsageError(`--memory-limit: ${(err as Error).message}`);
  }
}

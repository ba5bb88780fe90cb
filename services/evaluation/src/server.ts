/**
 * Starts the evaluation service: EvaluationService (eval jobs) and LensService
 * (predictions) on one gRPC server. It never loads a model: hidden states come from
 * activation services, tokens from a tokenizer service; the lens math runs here on the
 * configured engine (onnxruntime by default).
 *
 * Health: the process entry and EvaluationService are SERVING at once (jobs name their
 * own endpoints); LensService turns SERVING once its model services answer (it retries
 * in the background until they do).
 */
import { evaluationV1, lensV1, protoFiles, serviceNames } from '@tuned-lens/proto';
import { listenOptions, createLogger, serverStreamHandler, startServer, unaryHandler, type ClientOptions, type Logger, type RunningServer, type ServerTlsConfig } from '@tuned-lens/grpc-kit';
import { createEngine, type Engine, type EngineChoice } from '@tuned-lens/engine';
import { getProcessRegistry, type Registry } from '@tuned-lens/metrics';
import { Admission } from './admission';
import { JobManager } from './jobs';
import { LensStore } from './lensStore';
import { handleCompare, handleListLenses, handlePredict, type LensServiceDeps } from './lensService';
import { defaultEvaluationLimits, type EvaluationLimits } from './limits';
import { evaluationMetrics } from './metrics';
import { ModelLink } from './upstream';

export interface EvaluationServerOptions {
  /** The model LensService serves (host:port), and the default of evaluation jobs. */
  activationEndpoint?: string;
  /** The tokenizer of that model (host:port), and the default of evaluation jobs. */
  tokenizerEndpoint?: string;
  /** Folders lens paths in requests may point into (relative paths: the first). */
  lensRoots?: string[];
  /** The tuned lens used when a request names none (a folder inside the lens roots). */
  defaultLens?: string;
  /** Folders evaluation output paths may point into. */
  outputRoots?: string[];
  /** 'auto' (default: onnxruntime on CPU, tfjs with tfjs-node-gpu), or an engine. */
  engine?: EngineChoice | Engine;
  /** TLS and channel options for calls to the tokenizer and activation services. */
  upstream?: ClientOptions;
  host?: string;
  port?: number;
  metricsPort?: number | null;
  tls?: ServerTlsConfig;
  allowPlaintext?: boolean;
  limits?: Partial<EvaluationLimits>;
  maxMessageBytes?: number;
  logger?: Logger;
  registry?: Registry;
}

export interface EvaluationServer extends RunningServer {
  /** Resolves once LensService's model services answered (never if none are configured). */
  modelReady: Promise<void>;
  readonly engine: Engine;
}

export async function startEvaluationServer(opts: EvaluationServerOptions): Promise<EvaluationServer> {
  const log = opts.logger ?? createLogger('evaluation');
  const limits = { ...defaultEvaluationLimits, ...opts.limits };
  const registry = opts.registry ?? getProcessRegistry();
  const metrics = evaluationMetrics(registry);
  const engine = typeof opts.engine === 'object' ? opts.engine : await createEngine(opts.engine ?? 'auto', { logger: log });
  const lenses = new LensStore(opts.lensRoots ?? [], opts.defaultLens, limits.lensCacheSize, log.child('lenses'));
  const jobs = new JobManager({
    engine, engineChoice: typeof opts.engine === 'object' ? undefined : opts.engine ?? 'auto', lenses, clientOptions: opts.upstream, log: log.child('jobs'), metrics, limits,
    defaultActivation: opts.activationEndpoint, defaultTokenizer: opts.tokenizerEndpoint, outputRoots: opts.outputRoots ?? [],
  });
  let markReady: () => void = () => {};
  const modelReady = new Promise<void>((resolve) => { markReady = resolve; });
  let running: RunningServer | undefined;
  const link = opts.activationEndpoint && opts.tokenizerEndpoint
    ? new ModelLink({
      activationEndpoint: opts.activationEndpoint, tokenizerEndpoint: opts.tokenizerEndpoint, engine, clientOptions: opts.upstream,
      logger: log.child('model'),
      onReady: (ready) => {
        running?.setServing(ready, serviceNames.lens);
        if (ready) markReady();
      },
    })
    : undefined;
  if (!link) log.info('no activation and tokenizer endpoints: LensService answers FAILED_PRECONDITION; evaluation jobs must name their endpoints');
  const deps: LensServiceDeps = { link, lenses, admission: new Admission(limits.maxConcurrentPredictions, metrics), limits, metrics, log };

  const evaluation: evaluationV1.EvaluationServiceServer = {
    startEvaluation: unaryHandler('StartEvaluation', log, async (req: evaluationV1.StartEvaluationRequest) => ({ evalId: jobs.start(req.config).id })),
    watchEvaluation: serverStreamHandler('WatchEvaluation', log, (call) => jobs.watch(call)),
    getEvaluation: unaryHandler('GetEvaluation', log, async (req: evaluationV1.GetEvaluationRequest) => ({ status: jobs.get(req.evalId).status() })),
    cancelEvaluation: unaryHandler('CancelEvaluation', log, async (req: evaluationV1.CancelEvaluationRequest) => ({ status: jobs.cancel(req.evalId).status() })),
  };
  const lens: lensV1.LensServiceServer = {
    predict: serverStreamHandler('Predict', log, (call) => handlePredict(call, deps)),
    compare: serverStreamHandler('Compare', log, (call) => handleCompare(call, deps)),
    listLenses: unaryHandler('ListLenses', log, async (_req, call) => handleListLenses(call, deps)),
  };
  running = await startServer({
    component: 'evaluation',
    logger: log,
    registry,
    ...listenOptions(opts),
    services: [
      { name: serviceNames.evaluation, definition: evaluationV1.EvaluationServiceService, implementation: evaluation },
      { name: serviceNames.lens, definition: lensV1.LensServiceService, implementation: lens },
    ],
    protoFiles: [protoFiles.evaluation, protoFiles.lens],
  });
  running.setServing(true, '');
  running.setServing(true, serviceNames.evaluation);
  link?.start();
  const shutdown = running.shutdown;
  return {
    ...running,
    modelReady,
    engine,
    async shutdown(graceMs?: number) {
      await jobs.shutdown();
      await shutdown(graceMs);
      await link?.close();
      if (typeof opts.engine !== 'object') await engine.dispose?.();
    },
  };
}

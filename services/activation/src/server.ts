/** Starts the activation service: one checkpoint folder, loaded once, served over gRPC. */
import { protoFiles, serviceNames } from '@tuned-lens/proto';
import { listenOptions, bidiStreamHandler, createLogger, LoadingResource, resourceExhausted, serveWhenReady, serverStreamHandler, startServer, unaryHandler, type Logger, type RunningServer, type ServerTlsConfig } from '@tuned-lens/grpc-kit';
import { getProcessRegistry, type Registry } from '@tuned-lens/metrics';
import type { EngineChoice } from '@tuned-lens/engine';
import type { ForwardBackend } from './backend';
import { WorkerBackend } from './workerBackend';
import { activationServiceDefinition } from '@tuned-lens/wire';
import { defaultActivationLimits, type ActivationLimits } from './limits';
import { ForwardQueue } from './forwardQueue';
import { handleExtract } from './extract';
import { modelInfo, streamUnembedding } from './modelInfo';
import { activationMetrics } from './metrics';

export interface ActivationServerOptions {
  /** Hugging Face checkpoint folder (config.json + model.safetensors or sharded). */
  modelDir: string;
  /** Compute engine; 'auto' picks per machine (see libs/engine createEngine). */
  engine?: EngineChoice;
  host?: string;
  port?: number;
  metricsPort?: number | null;
  tls?: ServerTlsConfig;
  allowPlaintext?: boolean;
  limits?: Partial<ActivationLimits>;
  maxMessageBytes?: number;
  logger?: Logger;
  registry?: Registry;
  /**
   * Total bytes this process may use, replacing the cgroup / MemAvailable detection of
   * the memory check before loading ('max' turns the check off). Default: env
   * TUNED_LENS_MEMORY_LIMIT_BYTES, else detected (src/memory/allowance.ts).
   */
  memoryLimitBytes?: number | 'max';
  /** Run one tiny forward after loading so the first real batch does not pay for compilation. */
  warmup?: boolean;
  /**
   * How the model is brought up; default: a worker thread loading `modelDir`. Another
   * backend (an embedder's own, or a test's whose forward passes are observable) is
   * served the same way.
   */
  loadBackend?: () => Promise<ForwardBackend & { loadLog?: string }>;
  /**
   * Extract batches computed ahead of the one being written: 1 (default) overlaps the
   * forward of batch k+1 with the transfer of batch k; 0 computes each batch only after
   * the one before it was written (for hosts where the transfer's CPU would have to be
   * taken from the engine's threads).
   */
  computeAhead?: 0 | 1;
}

export interface ActivationServer extends RunningServer {
  /** Resolves when the model is loaded and compiled (rejects with the load error). */
  ready: Promise<ForwardBackend>;
}

export async function startActivationServer(opts: ActivationServerOptions): Promise<ActivationServer> {
  const log = opts.logger ?? createLogger('activation');
  const limits = { ...defaultActivationLimits, ...opts.limits };
  const registry = opts.registry ?? getProcessRegistry();
  const metrics = activationMetrics(registry);
  const queue = new ForwardQueue(limits.maxQueuedBatches, metrics.queueDepth);
  const model = new LoadingResource<ForwardBackend>('model', async () => {
    const backend = opts.loadBackend
      ? await opts.loadBackend()
      : await WorkerBackend.start({ modelDir: opts.modelDir, engine: opts.engine ?? 'auto', warmup: opts.warmup ?? true, memoryLimit: opts.memoryLimitBytes });
    const d = backend.description;
    log.info('model ready', {
      model: d.name, architecture: d.dims.modelType, layers: d.dims.numLayers, dModel: d.dims.dModel,
      engine: d.engine, detail: backend.loadLog,
    });
    metrics.modelInfo.set({ model: d.name, architecture: d.dims.modelType, engine: d.engine }, 1);
    return backend;
  });
  let streams = 0;
  const running = await startServer({
    component: 'activation',
    logger: log,
    registry,
    ...listenOptions(opts),
    services: [{
      name: serviceNames.activation,
      definition: activationServiceDefinition(),
      implementation: {
        getModelInfo: unaryHandler('GetModelInfo', log, async () => modelInfo(model.get())),
        // async: model.get() throws FAILED_PRECONDITION after a failed load; thrown synchronously
        // it escaped the handler's promise and reached the client as UNKNOWN.
        getUnembedding: serverStreamHandler('GetUnembedding', log, async (call) => streamUnembedding(call as never, model.get())),
        extract: bidiStreamHandler('Extract', log, async (call) => {
          const backend = model.get();
          if (streams >= limits.maxConcurrentStreams) {
            throw resourceExhausted(`${streams} Extract streams are open, the limit is ${limits.maxConcurrentStreams}; retry later`, 2000);
          }
          streams++;
          try {
            await handleExtract(call as never, backend, queue, limits, metrics, opts.computeAhead ?? 1);
          } finally {
            streams--;
          }
        }),
      },
    }],
    protoFiles: [protoFiles.tensor, protoFiles.activation],
  });
  const ready = serveWhenReady(model, running, log, 'model');
  const shutdown = running.shutdown;
  return {
    ...running,
    ready,
    async shutdown(graceMs?: number) {
      await shutdown(graceMs);
      await (await model.ready.catch(() => null))?.dispose();
    },
  };
}

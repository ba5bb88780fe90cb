/** Starts the lens-training service. */
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { protoFiles, serviceNames, trainingV1 } from '@tuned-lens/proto';
import {
  createLogger, failedPrecondition, invalidArgument, serverStreamHandler, startServer, unaryHandler, writeMessage,
  type ClientTlsConfig, type Logger, type RunningServer, type ServerTlsConfig,
  type JobState,
} from '@tuned-lens/grpc-kit';
import { getProcessRegistry, type Registry } from '@tuned-lens/metrics';
import type { EngineChoice } from '@tuned-lens/engine';
import { JobRegistry } from './jobs';
import { trainingMetrics } from './metrics';
import type { JobSnapshot, TrainingJob } from './job';

export interface LensTrainingServerOptions {
  /** Folders job output and warm-start lens paths must resolve into. */
  roots: string[];
  engine?: EngineChoice;
  maxConcurrentJobs?: number;
  host?: string;
  port?: number;
  metricsPort?: number | null;
  tls?: ServerTlsConfig;
  /** TLS for the calls this service makes to the tokenizer and activation services. */
  clientTls?: ClientTlsConfig;
  allowPlaintext?: boolean;
  logger?: Logger;
  registry?: Registry;
  maxRowsPerCall?: number;
}

export interface LensTrainingServer extends RunningServer {
  jobs: JobRegistry;
}

const states: Record<JobState, trainingV1.JobState> = {
  queued: trainingV1.JobState.JOB_STATE_QUEUED,
  running: trainingV1.JobState.JOB_STATE_RUNNING,
  succeeded: trainingV1.JobState.JOB_STATE_SUCCEEDED,
  failed: trainingV1.JobState.JOB_STATE_FAILED,
  cancelled: trainingV1.JobState.JOB_STATE_CANCELLED,
};

function toProto(s: JobSnapshot, job: TrainingJob): trainingV1.JobStatus {
  return {
    jobId: s.jobId, state: states[s.state], step: s.step, numSteps: s.numSteps,
    layerLosses: s.layerLossNats.map((nats, layer) => ({ layer, nats, bitsPerByte: Number.isFinite(s.natsToBpb) ? nats * s.natsToBpb : 0 })),
    tokensPerSecond: s.tokensPerSecond, stepSeconds: s.stepSeconds, gradNorm: s.gradNorm, weightNorm: s.weightNorm,
    lr: s.lr, biasNorm: s.biasNorm, elapsedSeconds: s.elapsedSeconds,
    tokensSeen: s.tokensSeen, checkpointStep: s.checkpointStep, message: s.message, config: job.protoConfig,
  };
}

const FILE_CHUNK = 1024 * 1024;

export async function startLensTrainingServer(opts: LensTrainingServerOptions): Promise<LensTrainingServer> {
  const log = opts.logger ?? createLogger('lens-training');
  const registry = opts.registry ?? getProcessRegistry();
  const jobs = new JobRegistry({
    log, metrics: trainingMetrics(registry), engine: opts.engine ?? 'auto', roots: opts.roots,
    maxConcurrentJobs: opts.maxConcurrentJobs ?? 1, tls: opts.clientTls, maxRowsPerCall: opts.maxRowsPerCall,
  });
  const implementation: trainingV1.LensTrainingServiceServer = {
    startJob: unaryHandler('StartJob', log, async (req: trainingV1.StartJobRequest) => {
      if (req.resumeJobId) return { jobId: jobs.resume(req.resumeJobId, req.config).id };
      if (!req.config) throw invalidArgument('StartJob needs a config (or resume_job_id naming a job of this server)');
      return { jobId: jobs.start(req.config).id };
    }),
    getJob: unaryHandler('GetJob', log, async (req: trainingV1.GetJobRequest) => {
      const job = jobs.get(req.jobId);
      return { status: toProto(job.status(), job) };
    }),
    listJobs: unaryHandler('ListJobs', log, async () => ({ jobs: jobs.list().map((j) => toProto(j.status(), j)) })),
    cancelJob: unaryHandler('CancelJob', log, async (req: trainingV1.CancelJobRequest) => {
      const job = jobs.get(req.jobId);
      job.cancel();
      return { status: toProto(job.status(), job) };
    }),
    watchJob: serverStreamHandler('WatchJob', log, (call) => {
      const gone = new Promise<void>((resolve) => call.once('cancelled', () => resolve()));
      return jobs.table.watch(call.request.jobId, (job) => toProto(job.status(), job), (status) => writeMessage(call, { status }), gone);
    }),
    fetchLens: serverStreamHandler('FetchLens', log, async (call) => {
      const job = jobs.get(call.request.jobId);
      const s = job.status();
      if (s.state !== 'succeeded' || !s.lensDir) throw failedPrecondition(`job ${s.jobId} is ${s.state}; its lens exists once it has succeeded`);
      for (const name of ['config.json', 'params.pt', 'params.safetensors']) {
        const file = join(s.lensDir, name);
        const size = statSync(file).size;
        let offset = 0;
        for await (const data of createReadStream(file, { highWaterMark: FILE_CHUNK })) {
          await writeMessage(call, { chunk: { fileName: name, offset, data: data as Buffer, fileSize: size } });
          offset += (data as Buffer).length;
        }
        if (size === 0) await writeMessage(call, { chunk: { fileName: name, offset: 0, data: Buffer.alloc(0), fileSize: 0 } });
      }
    }),
  };
  const running = await startServer({
    component: 'lens-training', logger: log, registry, host: opts.host, port: opts.port, metricsPort: opts.metricsPort,
    tls: opts.tls, allowPlaintext: opts.allowPlaintext, servingAtStart: true,
    services: [{ name: serviceNames.training, definition: trainingV1.LensTrainingServiceService, implementation }],
    protoFiles: [protoFiles.training],
  });
  const shutdown = running.shutdown;
  return {
    ...running,
    jobs,
    async shutdown(graceMs = 10_000) {
      // Running jobs stop after their current micro-batch; their last checkpoint stays.
      await jobs.stopAll(graceMs);
      await shutdown(graceMs);
    },
  };
}

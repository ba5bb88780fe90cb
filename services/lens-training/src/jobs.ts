/** The jobs of one server: start (bounded concurrency), look up, list, cancel. */
import { JobTable, failedPrecondition, notFound, resolveDirInRoots, resolveOutputInRoots, invalidArgument, type ClientTlsConfig, type Logger } from '@tuned-lens/grpc-kit';
import type { EngineChoice } from '@tuned-lens/engine';
import type { trainingV1 } from '@tuned-lens/proto';
import { resolveJobConfig } from './config';
import { TrainingJob } from './job';
import { defaultCheckpointDir, listCheckpoints } from './checkpoint';
import type { TrainingMetrics } from './metrics';

export interface JobRegistryOptions {
  log: Logger;
  metrics: TrainingMetrics;
  engine: EngineChoice;
  /** Folders output and warm-start lens paths must resolve into. */
  roots: string[];
  maxConcurrentJobs: number;
  tls?: ClientTlsConfig;
  maxRowsPerCall?: number;
}

/** Finished jobs kept for GetJob / ListJobs / WatchJob / resume_job_id. */
const KEEP_FINISHED_JOBS = 100;

export class JobRegistry {
  readonly table: JobTable<TrainingJob>;

  constructor(private readonly opts: JobRegistryOptions) {
    const m = opts.metrics;
    this.table = new JobTable<TrainingJob>({
      what: 'training job', maxRunning: opts.maxConcurrentJobs, maxQueued: 0, keepFinished: KEEP_FINISHED_JOBS, log: opts.log,
      onStateChange: (t) => { for (const [state, n] of t.counts()) m.jobs.set({ state }, n); },
      // A forgotten job's series go too, so finished jobs do not pile up in Prometheus.
      onForget: (job) => {
        const training_job = job.id;
        job.status().layerLossNats.forEach((_, l) => {
          m.layerLossNats.remove({ training_job, layer: String(l) });
          m.layerLossBpb.remove({ training_job, layer: String(l) });
        });
        for (const g of [m.tokensPerSecond, m.gradNorm, m.weightNorm, m.step]) g.remove({ training_job });
      },
    });
  }

  start(config: trainingV1.TrainConfig): TrainingJob {
    const cfg = resolveJobConfig(config);
    const outputDir = resolveOutputInRoots(cfg.outputPath, { roots: this.opts.roots });
    if (this.table.list().some((j) => !j.finished && j.outputDir === outputDir)) throw invalidArgument(`another running job writes to ${cfg.outputPath}`);
    const checkpointDir = cfg.checkpointPath ? resolveOutputInRoots(cfg.checkpointPath, { roots: this.opts.roots }) : defaultCheckpointDir(outputDir);
    if (cfg.lensInitPath) resolveDirInRoots(cfg.lensInitPath, { roots: this.opts.roots }); // refuse bad paths at once
    const job = new TrainingJob(cfg, config, {
      log: this.opts.log, metrics: this.opts.metrics, engine: this.opts.engine, tls: this.opts.tls, outputDir, checkpointDir,
      resolveLens: (p) => resolveDirInRoots(p, { roots: this.opts.roots }), maxRowsPerCall: this.opts.maxRowsPerCall,
    });
    this.table.add(job);
    this.opts.log.info('job started', { job: job.id, output: cfg.outputPath, steps: cfg.numSteps });
    return job;
  }

  /**
   * StartJob with resume_job_id: the job `id` of this server (finished, failed or cancelled)
   * continues from the newest checkpoint in its checkpoint folder, with its config (or
   * `config`, which must name the same output). After a server restart ids are gone: a
   * StartJob with the same config resumes from the folder's checkpoints by itself.
   */
  resume(id: string, config?: trainingV1.TrainConfig): TrainingJob {
    const old = this.table.list().find((j) => j.id === id);
    if (!old) throw notFound(`no training job "${id}" on this server to resume (job ids do not survive a restart: StartJob with the same config and output_path resumes from its checkpoints)`);
    if (!old.finished) throw failedPrecondition(`job ${id} is still running; cancel it first or watch it`);
    const next = config ?? old.protoConfig;
    if (next.outputPath !== old.protoConfig.outputPath) throw invalidArgument(`resume_job_id ${id} wrote to ${old.protoConfig.outputPath}; a config given with it must name the same output_path, not ${next.outputPath}`);
    if (listCheckpoints(old.checkpointDir).length === 0) throw failedPrecondition(`job ${id} left no checkpoint to resume from in ${old.config.checkpointPath || `${old.config.outputPath}/checkpoints`} (it ran with checkpoint_freq ${old.config.checkpointFreq})`);
    return this.start(next);
  }

  get(id: string): TrainingJob {
    return this.table.get(id);
  }

  list(): TrainingJob[] {
    return this.table.list();
  }

  /** Cancels every running job and waits (bounded) for them to stop. */
  stopAll(timeoutMs: number): Promise<void> {
    return this.table.shutdown(timeoutMs);
  }
}

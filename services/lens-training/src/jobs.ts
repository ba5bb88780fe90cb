/** The jobs of one server: start (bounded concurrency), look up, list, cancel. */
import { failedPrecondition, notFound, resourceExhausted, resolveDirInRoots, resolveOutputInRoots, invalidArgument, type ClientTlsConfig, type Logger } from '@tuned-lens/grpc-kit';
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

export class JobRegistry {
  private readonly jobs = new Map<string, TrainingJob>();
  private readonly running = new Set<TrainingJob>();
  private readonly outputsInUse = new Set<string>();

  constructor(private readonly opts: JobRegistryOptions) {}

  start(config: trainingV1.TrainConfig): TrainingJob {
    const cfg = resolveJobConfig(config);
    if (this.running.size >= this.opts.maxConcurrentJobs) {
      throw resourceExhausted(`${this.running.size} training jobs are running, the limit is ${this.opts.maxConcurrentJobs}; retry when one ends`, 60_000);
    }
    const outputDir = resolveOutputInRoots(cfg.outputPath, { roots: this.opts.roots });
    if (this.outputsInUse.has(outputDir)) throw invalidArgument(`another running job writes to ${cfg.outputPath}`);
    const checkpointDir = cfg.checkpointPath ? resolveOutputInRoots(cfg.checkpointPath, { roots: this.opts.roots }) : defaultCheckpointDir(outputDir);
    if (cfg.lensInitPath) resolveDirInRoots(cfg.lensInitPath, { roots: this.opts.roots }); // refuse bad paths at once
    const job = new TrainingJob(cfg, config, {
      log: this.opts.log, metrics: this.opts.metrics, engine: this.opts.engine, tls: this.opts.tls, outputDir, checkpointDir,
      resolveLens: (p) => resolveDirInRoots(p, { roots: this.opts.roots }), maxRowsPerCall: this.opts.maxRowsPerCall,
    });
    this.jobs.set(job.id, job);
    this.running.add(job);
    this.outputsInUse.add(outputDir);
    void job.run().finally(() => {
      this.running.delete(job);
      this.outputsInUse.delete(outputDir);
    });
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
    const old = this.jobs.get(id);
    if (!old) throw notFound(`no training job "${id}" on this server to resume (job ids do not survive a restart: StartJob with the same config and output_path resumes from its checkpoints)`);
    if (this.running.has(old)) throw failedPrecondition(`job ${id} is still running; cancel it first or watch it`);
    const next = config ?? old.protoConfig;
    if (next.outputPath !== old.protoConfig.outputPath) throw invalidArgument(`resume_job_id ${id} wrote to ${old.protoConfig.outputPath}; a config given with it must name the same output_path, not ${next.outputPath}`);
    if (listCheckpoints(old.checkpointDir).length === 0) throw failedPrecondition(`job ${id} left no checkpoint to resume from in ${old.config.checkpointPath || `${old.config.outputPath}/checkpoints`} (it ran with checkpoint_freq ${old.config.checkpointFreq})`);
    return this.start(next);
  }

  get(id: string): TrainingJob {
    const job = this.jobs.get(id);
    if (!job) throw notFound(`no training job "${id}" on this server`);
    return job;
  }

  list(): TrainingJob[] {
    return [...this.jobs.values()];
  }

  /** Cancels every running job and waits (bounded) for them to stop. */
  async stopAll(timeoutMs: number): Promise<void> {
    for (const j of this.running) j.cancel();
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
}

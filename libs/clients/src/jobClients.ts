/**
 * Clients of the two job services (lens training, evaluation): start, get, cancel, and
 * `watch()` as an async iterator of status updates that ends with the job's final status.
 * The same shape for both, so a caller (the CLI) follows either with one loop.
 */
import { createClient, unary, type ClientOptions } from '@tuned-lens/grpc-kit';
import { evaluationV1, trainingV1 } from '@tuned-lens/proto';

/** A job watch stays open this long at most (a week: training runs are long). */
const WATCH_DEADLINE_MS = 7 * 24 * 3600_000;

/** The call options of a watch. */
const watchOptions = () => ({ deadline: new Date(Date.now() + WATCH_DEADLINE_MS) });

/** The statuses of a server-streaming watch call; leaving the loop cancels the call. */
async function* statuses<S>(call: AsyncIterable<{ status?: S }> & { cancel(): void }): AsyncGenerator<S> {
  try {
    for await (const res of call) if (res.status) yield res.status;
  } finally {
    call.cancel();
  }
}

export interface JobClient<Config, Status> {
  readonly address: string;
  start(config: Config): Promise<string>;
  get(id: string): Promise<Status>;
  cancel(id: string): Promise<Status>;
  /** Status updates until the job has ended (the last one is its final status). */
  watch(id: string): AsyncIterable<Status>;
  close(): void;
}

export class TrainingClient implements JobClient<trainingV1.TrainConfig, trainingV1.JobStatus> {
  private readonly raw: trainingV1.LensTrainingServiceClient;

  constructor(readonly address: string, opts: ClientOptions = {}) {
    this.raw = createClient(trainingV1.LensTrainingServiceClient, address, opts);
  }

  async start(config: trainingV1.TrainConfig): Promise<string> {
    return (await unary(this.raw, this.raw.startJob, { config, resumeJobId: '' })).jobId;
  }

  /** Resumes job `id` of this server from its newest checkpoint (`config` may change what a resume allows). */
  async resume(id: string, config?: trainingV1.TrainConfig): Promise<string> {
    return (await unary(this.raw, this.raw.startJob, { config, resumeJobId: id })).jobId;
  }

  async get(id: string): Promise<trainingV1.JobStatus> {
    return (await unary(this.raw, this.raw.getJob, { jobId: id })).status!;
  }

  async cancel(id: string): Promise<trainingV1.JobStatus> {
    return (await unary(this.raw, this.raw.cancelJob, { jobId: id })).status!;
  }

  watch(id: string): AsyncGenerator<trainingV1.JobStatus> {
    return statuses(this.raw.watchJob({ jobId: id }, watchOptions()));
  }

  close(): void {
    this.raw.close();
  }
}

export class EvaluationClient implements JobClient<evaluationV1.EvalConfig, evaluationV1.EvalStatus> {
  private readonly raw: evaluationV1.EvaluationServiceClient;

  constructor(readonly address: string, opts: ClientOptions = {}) {
    this.raw = createClient(evaluationV1.EvaluationServiceClient, address, opts);
  }

  async start(config: evaluationV1.EvalConfig): Promise<string> {
    return (await unary(this.raw, this.raw.startEvaluation, { config }, { timeoutMs: 60_000 })).evalId;
  }

  async get(id: string): Promise<evaluationV1.EvalStatus> {
    return (await unary(this.raw, this.raw.getEvaluation, { evalId: id })).status!;
  }

  async cancel(id: string): Promise<evaluationV1.EvalStatus> {
    return (await unary(this.raw, this.raw.cancelEvaluation, { evalId: id })).status!;
  }

  watch(id: string): AsyncGenerator<evaluationV1.EvalStatus> {
    return statuses(this.raw.watchEvaluation({ evalId: id }, watchOptions()));
  }

  close(): void {
    this.raw.close();
  }
}

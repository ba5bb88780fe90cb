import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
// Must come before onnxruntime-node: it reads the setting when it loads.
import './noTelemetry.js';
import ort from 'onnxruntime-node';
import type { CompiledProgram, Engine, HostArray, RuntimeInputs, TensorProgram } from '../ops.js';
import { externalFolder, graphStats, pruneGraph, type IrGraph } from './graph.js';
import { encodeModel, writeExternalWeights, writeModel, type ExternalLayout } from './serialize.js';
import { OnnxTracer } from './tracer.js';

export interface OnnxEngineOptions {
  /** ORT intra-op threads; default env TUNED_LENS_ORT_THREADS, else the number of CPUs. */
  intraOpNumThreads?: number;
  /** Default 'all': ORT fuses LayerNorm/Gelu/MatMul+Transpose patterns the tracer emits. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Above this many weight bytes a model is written to a temp folder with ONNX external
   * data instead of being passed as one in-memory ModelProto (protobuf's limit is 2 GiB).
   * Default 1.5 GiB.
   */
  externalDataThresholdBytes?: number;
  /** Where external-data models go (a fresh sub-folder per program). Default os.tmpdir(). */
  tmpDir?: string;
  /** ORT session config entries, e.g. { 'session.intra_op.allow_spinning': '0' }. */
  sessionConfig?: Record<string, string>;
  /** ORT log level: 0 verbose … 4 fatal. Default 3 (errors only). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Open the all-outputs session in compile() (default true: a bad graph fails there, and
   * the first full run is fast). Set false when only output subsets will be run, so no
   * memory goes to a session that includes e.g. the unembedding.
   */
  openOnCompile?: boolean;
}

const DEFAULT_EXTERNAL_THRESHOLD = 1.5 * 2 ** 30;

/** The thread count from options, then TUNED_LENS_ORT_THREADS, then the CPU count. */
export function resolveOrtThreads(option?: number, env: NodeJS.ProcessEnv = process.env): number {
  if (option !== undefined) {
    if (!Number.isInteger(option) || option < 1) throw new Error(`intraOpNumThreads must be a positive integer, got ${option}`);
    return option;
  }
  const raw = env.TUNED_LENS_ORT_THREADS;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`TUNED_LENS_ORT_THREADS must be a positive integer, got '${raw}'`);
    return n;
  }
  return availableParallelism();
}

/** Runs TensorPrograms with onnxruntime-node on the CPU. */
export class OnnxEngine implements Engine {
  readonly name = 'onnxruntime';
  readonly threads: number;
  private readonly compiled = new Set<OnnxCompiledProgram>();

  constructor(private readonly options: OnnxEngineOptions = {}) {
    this.threads = resolveOrtThreads(options.intraOpNumThreads);
  }

  /** Traces `program.fn` once and (unless `openOnCompile: false`) opens the session for all outputs. */
  async compile(program: TensorProgram): Promise<OnnxCompiledProgram> {
    const graph = OnnxTracer.trace(program);
    const compiled = new OnnxCompiledProgram(program, graph, this.sessionOptions(), this.options, () => this.compiled.delete(compiled));
    this.compiled.add(compiled);
    try {
      if (this.options.openOnCompile ?? true) await compiled.prepare(program.outputs);
    } catch (e) {
      await compiled.dispose();
      throw e;
    }
    return compiled;
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.compiled].map((c) => c.dispose()));
  }

  private sessionOptions(): ort.InferenceSession.SessionOptions {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: this.options.graphOptimizationLevel ?? 'all',
      intraOpNumThreads: this.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      enableCpuMemArena: true,
      enableMemPattern: true,
      logSeverityLevel: this.options.logSeverityLevel ?? 3,
    };
    // The binding rejects `extra: undefined`, so the key is set only when there are entries.
    if (this.options.sessionConfig) options.extra = { ...this.options.sessionConfig };
    return options;
  }
}

interface SessionEntry {
  session: ort.InferenceSession;
  graph: IrGraph;
}

/**
 * A traced program with one ORT session per distinct set of requested outputs, each
 * built from the trace pruned to what those outputs need: asking for hidden states only
 * never pays for the unembedding.
 */
export class OnnxCompiledProgram implements CompiledProgram {
  private readonly sessions = new Map<string, Promise<SessionEntry>>();
  private tmp: string | null = null;
  /** The weights file shared by every on-disk model of this program, written once. */
  private weights: Promise<ExternalLayout> | null = null;
  private modelFiles = 0;
  private disposed = false;

  constructor(
    readonly program: TensorProgram,
    /** The whole traced graph (all outputs). */
    readonly graph: IrGraph,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
    private readonly options: OnnxEngineOptions,
    private readonly onDispose: () => void,
  ) {}

  /** The pruned graph the session for `outputs` runs (default all outputs); for tests and logs. */
  graphFor(outputs: readonly string[] = this.program.outputs): IrGraph {
    return pruneGraph(this.graph, normaliseOutputs(outputs));
  }

  /** How many sessions (distinct output sets) are open. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Opens (or reuses) the session for exactly these outputs, e.g. to load it before the first run. */
  async prepare(outputs: readonly string[]): Promise<void> {
    await this.session(outputs);
  }

  /** The session for exactly these outputs, created on first use. */
  private session(outputs: readonly string[]): Promise<SessionEntry> {
    if (this.disposed) return Promise.reject(new Error(`program '${this.program.name}' is disposed`));
    const names = normaliseOutputs(outputs);
    const key = [...names].sort().join('\0');
    let entry = this.sessions.get(key);
    if (!entry) {
      entry = this.createSession(names);
      this.sessions.set(key, entry);
      // A failed creation must not poison the cache: the next call retries.
      entry.catch(() => this.sessions.delete(key));
    }
    return entry;
  }

  private async createSession(outputs: string[]): Promise<SessionEntry> {
    const graph = pruneGraph(this.graph, outputs);
    const label = `${this.program.name}[${outputs.join(',')}]`;
    const threshold = this.options.externalDataThresholdBytes ?? DEFAULT_EXTERNAL_THRESHOLD;
    let session: ort.InferenceSession;
    try {
      if (graphStats(graph).initializerBytes > threshold) {
        const dir = this.tempDir();
        if (!this.weights) {
          this.weights = writeExternalWeights(this.graph, dir, 'weights.bin');
          this.weights.catch(() => (this.weights = null)); // retry on the next session
        }
        const path = await writeModel(graph, label, dir, `model-${this.modelFiles++}.onnx`, await this.weights);
        session = await ort.InferenceSession.create(path, this.sessionOptions);
      } else {
        session = await ort.InferenceSession.create(encodeModel(graph, label), this.withCheckpointFolder(graph));
      }
    } catch (e) {
      throw new Error(`onnxruntime could not load '${label}': ${(e as Error).message}`, { cause: e });
    }
    return { session, graph };
  }

  /**
   * Session options for a graph whose weights stay in checkpoint files (StoredParam): the
   * model is passed as bytes, so onnxruntime is told the folder its external data is in.
   */
  private withCheckpointFolder(graph: IrGraph): ort.InferenceSession.SessionOptions {
    const folder = externalFolder(graph);
    if (!folder) return this.sessionOptions;
    return { ...this.sessionOptions, extra: { ...(this.sessionOptions.extra ?? {}), 'session.model_external_initializers_file_folder_path': folder } };
  }

  private tempDir(): string {
    if (!this.tmp) {
      this.tmp = mkdtempSync(join(this.options.tmpDir ?? tmpdir(), 'tuned-lens-ort-'));
      removeOnExit.add(this.tmp);
    }
    return this.tmp;
  }

  async run(inputs: RuntimeInputs, outputs?: string[]): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
    const names = normaliseOutputs(outputs ?? this.program.outputs);
    const { session, graph } = await this.session(names);
    const feeds: Record<string, ort.Tensor> = {};
    for (const spec of graph.inputs) feeds[spec.name] = toOrtTensor(this.program, spec.name, inputs[spec.name]);
    const values = graph.outputs.map((o) => o.value);
    const results = await session.run(feeds, values);
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const { name, value } of graph.outputs) {
      const t = results[value] as ort.Tensor;
      // The tracer casts every output to f32, so this is always a Float32Array.
      out[name] = { shape: Array.from(t.dims), data: t.data as Float32Array };
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const entries = await Promise.allSettled(this.sessions.values());
    this.sessions.clear();
    for (const e of entries) if (e.status === 'fulfilled') await e.value.session.release();
    if (this.tmp) {
      rmSync(this.tmp, { recursive: true, force: true });
      removeOnExit.delete(this.tmp);
      this.tmp = null;
    }
    this.onDispose();
  }
}

/** Temp folders still in use, removed if the process exits without dispose(). */
const removeOnExit = new Set<string>();
process.once('exit', () => {
  for (const dir of removeOnExit) rmSync(dir, { recursive: true, force: true });
});

function normaliseOutputs(outputs: readonly string[]): string[] {
  if (outputs.length === 0) throw new Error('run: at least one output must be requested');
  return [...new Set(outputs)];
}

/** Wraps a host array as an ORT tensor without copying, after checking it against the program's declaration. */
function toOrtTensor(program: TensorProgram, name: string, value: HostArray | undefined): ort.Tensor {
  const spec = program.inputs[name];
  const where = `program '${program.name}', input '${name}'`;
  if (!value) throw new Error(`${where} is missing (expected ${spec.dtype}, rank ${spec.rank})`);
  const isF32 = value.data instanceof Float32Array;
  const isI32 = value.data instanceof Int32Array;
  if ((spec.dtype === 'f32' && !isF32) || (spec.dtype === 'i32' && !isI32)) {
    const got = isF32 ? 'f32 (Float32Array)' : isI32 ? 'i32 (Int32Array)' : (value.data as object)?.constructor?.name;
    throw new Error(`${where} must be ${spec.dtype} (${spec.dtype === 'f32' ? 'Float32Array' : 'Int32Array'}), got ${got}`);
  }
  if (value.shape.length !== spec.rank) throw new Error(`${where} must have rank ${spec.rank}, got shape [${value.shape}]`);
  const size = value.shape.reduce((p, d) => p * d, 1);
  if (value.shape.some((d) => !Number.isInteger(d) || d < 0) || size !== value.data.length) {
    throw new Error(`${where}: shape [${value.shape}] does not match ${value.data.length} values`);
  }
  return isF32
    ? new ort.Tensor('float32', value.data as Float32Array, value.shape)
    : new ort.Tensor('int32', value.data as Int32Array, value.shape);
}

/**
 * What every measuring child of ours (measure.ts, train/worker.ts) does the same way: it
 * says which engine set-up it measured, records the state of its process at the end, and
 * exits explicitly when its job is done.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { Engine } from '@tuned-lens/engine';

/** Progress lines go to stdout (the parent echoes them). */
export const say = (line: string): void => { process.stdout.write(`${line}\n`); };

export interface EngineSetup {
  /** OnnxEngine.threads or the tfjs engine's wasm pool size, when the engine exposes one. */
  engineThreads?: number;
  /** The engine's own one-line description of its set-up, when it has one (tfjs: "tfjs-wasm: SIMD, 1 thread"). */
  engineDetail?: string;
}

/** Read structurally: neither field is part of the Engine interface. */
export function engineSetup(engine: Engine): EngineSetup {
  const e = engine as { threads?: unknown; selection?: { wasm?: { threads?: unknown }; reason?: unknown } };
  const threads = e.threads ?? e.selection?.wasm?.threads;
  const reason = e.selection?.reason;
  return { engineThreads: typeof threads === 'number' ? threads : undefined, engineDetail: typeof reason === 'string' ? reason : undefined };
}

export interface ProcessState {
  /** CPUs this process may run on (os.availableParallelism(), which follows the affinity mask). */
  cpusAllowed: number;
  rssMiB: number;
  /** Load averages (1/5/15 min) now, at the end of the measurement. */
  loadAfter: number[];
}

export function processState(): ProcessState {
  return { cpusAllowed: availableParallelism(), rssMiB: process.memoryUsage().rss / 2 ** 20, loadAfter: loadavg() };
}

/**
 * Runs the child's main and exits: 0 when it resolved (an activation server's worker or
 * grpc timers must not keep the process alive), 1 with the stack on stderr when it threw.
 */
export function runChild(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

/** Which CPUs a measuring process is pinned to (only tfjs is; see cpuPin). */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { EngineKind } from './common';

let tasksetFound: boolean | undefined;
function hasTaskset(): boolean {
  tasksetFound ??= spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
  return tasksetFound;
}

/**
 * The CPU list a measurement is pinned to, or undefined for none. Only tfjs is pinned:
 * its wasm backend sizes its thread pool from os.availableParallelism() and has no thread
 * option reachable through createEngine (nor through the activation service's worker), and
 * libuv derives availableParallelism from the affinity mask. So `taskset -c 0` is the one
 * way to hold tfjs to --threads 1. torch and onnx take an explicit thread count and stay
 * unpinned, so the scheduler can move them off a core another tenant is using.
 */
export function cpuPin(engine: EngineKind, threads: number): string | undefined {
  if (engine !== 'tfjs' || threads >= availableParallelism() || !hasTaskset()) return undefined;
  return threads === 1 ? '0' : `0-${threads - 1}`;
}

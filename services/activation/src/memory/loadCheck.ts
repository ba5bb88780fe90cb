/**
 * The check the model worker runs before loading a checkpoint: the memory the load needs
 * (estimated from the headers, libs/models memory) against what this process may still
 * use (allowance.ts). A load that cannot fit is refused with both numbers and the way
 * out, instead of the kernel killing the process half-way through; the service then stays
 * up NOT_SERVING and answers FAILED_PRECONDITION with this message (LoadingResource).
 */
import { isAbsolute, relative } from 'node:path';
import { estimateLoadMemory, loadPlanFor, type LoadMemoryEstimate } from '@tuned-lens/models';
import type { EngineChoice } from '@tuned-lens/engine';
import { MEMORY_LIMIT_ENV, memoryAllowance, type AllowanceOptions, type MemoryAllowance } from './allowance';

/** A load refused because it would not fit; the message names both numbers. */
export class InsufficientMemoryError extends Error {
  override readonly name = 'InsufficientMemoryError';
  constructor(message: string, readonly estimate: LoadMemoryEstimate, readonly allowance: MemoryAllowance) {
    super(message);
  }
}

export interface LoadCheckOptions extends AllowanceOptions {
  engine: EngineChoice;
}

export interface LoadCheckResult {
  estimate: LoadMemoryEstimate;
  allowance: MemoryAllowance;
  /** One line for the load log. */
  summary: string;
}

/**
 * Throws InsufficientMemoryError when the load of `modelDir` needs more than the process
 * may use. A checkpoint whose headers cannot be read is not judged here (returns
 * undefined): the load itself reports what is wrong with it, as it always has.
 */
export function checkLoadMemory(modelDir: string, opts: LoadCheckOptions): LoadCheckResult | undefined {
  const allowance = memoryAllowance(opts);
  if (allowance.bytes === Infinity) return undefined;
  let estimate: LoadMemoryEstimate;
  try {
    estimate = estimateLoadMemory(modelDir, loadPlanFor(opts.engine));
  } catch {
    return undefined;
  }
  const need = `needs about ${gib(estimate.totalBytes)} to load (${describeWeights(estimate)})`;
  const may = `this process may use ${gib(allowance.bytes)} (${describeAllowance(allowance)})`;
  if (estimate.totalBytes > allowance.bytes) {
    throw new InsufficientMemoryError(
      `model ${displayPath(modelDir)} ${need} but ${may}; use a machine or container with more memory, or a smaller checkpoint` +
        ` (if the estimate is wrong for this host, ${MEMORY_LIMIT_ENV} or --memory-limit sets the limit instead, 'max' turns the check off)`,
      estimate,
      allowance,
    );
  }
  return { estimate, allowance, summary: `memory check: ${need}, ${may}` };
}

/** Bytes as GiB with one decimal (binary, like cgroup and Kubernetes limits: 24Gi prints 24.0 GiB). */
export function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** "13.5 GiB of BF16 weights, widened to f32; at its peak the onnx load holds ..." */
export function describeWeights(e: LoadMemoryEstimate): string {
  const stored = e.storedByDtype.map(([dtype, bytes]) => `${gib(bytes)} of ${dtype}`).join(' + ');
  const peak = e.phases.load >= e.phases.afterLoad ? e.breakdown.load : e.breakdown.afterLoad;
  // Terms under 0.05 GiB would print as 0.0: left out (a tiny model is all runtime).
  const terms = [...peak, { what: 'runtime', bytes: e.plan.overheadBytes }].filter((t) => t.bytes >= 0.05 * 2 ** 30).map((t) => `${t.what} ${gib(t.bytes)}`).join(' + ');
  return `${stored} weights; at its peak the ${e.plan.name} load holds ${terms}`;
}

export function describeAllowance(a: MemoryAllowance): string {
  if (a.override) return `${a.override.source} = ${gib(a.override.limit)}, ${gib(a.override.rss)} already resident`;
  const parts: string[] = [];
  if (a.cgroup) parts.push(`cgroup v${a.cgroup.version} limit ${gib(a.cgroup.limit)}, ${gib(a.cgroup.workingSet)} in use`);
  if (a.memAvailable !== undefined) parts.push(`MemAvailable ${gib(a.memAvailable)}`);
  return parts.join('; ') || 'no limit found';
}

/**
 * The checkpoint as the user most likely named it: callers resolve paths before they
 * reach the worker, so a path under the working directory is shown relative to it.
 */
export function displayPath(dir: string, cwd = process.cwd()): string {
  if (!isAbsolute(dir)) return dir;
  const rel = relative(cwd, dir);
  return rel === '' ? '.' : rel.length < dir.length && !isAbsolute(rel) ? rel : dir;
}

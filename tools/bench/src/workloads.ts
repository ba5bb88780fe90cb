/**
 * The two models the extraction and training benches (and their diagnostics) run on, and
 * where the generated one is cached. One place, so every script means the same folder by
 * the same id.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { smallLmDir } from '@tuned-lens/fixtures';
import { ensureRandomGpt2, gpt2SmallShape } from './gpt2Random';

export type WorkloadId = 'small-lm' | 'gpt2-small';
export const WORKLOADS: readonly WorkloadId[] = ['small-lm', 'gpt2-small'];

/** Where generated models are kept when no --cache-dir is given: $TUNED_LENS_BENCH_DIR, else /tmp/tuned-lens-bench. */
export function defaultCacheDir(): string {
  return process.env.TUNED_LENS_BENCH_DIR ?? join('/tmp', 'tuned-lens-bench');
}

/**
 * The model folder of a workload: the trained small-lm fixture, or the random GPT-2-small
 * folder (generated into cacheDir on first use, seeded, then reused).
 */
export function workloadModelDir(id: WorkloadId, cacheDir: string, seed: number, log?: (line: string) => void): string {
  return id === 'small-lm' ? smallLmDir : ensureRandomGpt2(cacheDir, gpt2SmallShape, seed, log);
}

/**
 * Runs `run` on each workload --only selects, in order, and collects the results. They
 * share one scratch folder, `<cacheDir>/<scratchName>`, removed at the end (also when a
 * workload throws).
 */
export async function forEachWorkload<T>(o: { only?: WorkloadId; cacheDir: string }, scratchName: string, run: (id: WorkloadId, scratch: string) => Promise<T>): Promise<T[]> {
  const scratch = join(o.cacheDir, scratchName);
  mkdirSync(scratch, { recursive: true });
  const results: T[] = [];
  try {
    for (const id of WORKLOADS) if (!o.only || o.only === id) results.push(await run(id, scratch));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return results;
}

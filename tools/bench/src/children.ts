/**
 * How the benches start the processes they measure, ours and the Python baselines', so
 * that both sides of every comparison run under the same conditions:
 *
 * - GLIBC_TUNABLES=glibc.malloc.hugetlb=1 for every measured process. glibc reads it at
 *   process start, so it has to be in the child's environment (fresh memory is ~20x slower
 *   without it on this VM; toolchain notes, finding B).
 * - The same thread count wherever a runtime looks for one: TUNED_LENS_ORT_THREADS for
 *   onnxruntime, OMP/OPENBLAS/MKL_NUM_THREADS for torch's OpenMP and BLAS.
 * - Our side is a node child running a bench script from tools/bench (`--import tsx`
 *   resolves from there), under `taskset` when cpuPin says so (tfjs only).
 *
 * Two ways to run such a child: runJob waits for it to exit and reads the result file it
 * wrote; serveJob keeps it alive for paired timing (paired.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { benchRoot, HUGETLB, type EngineKind } from './common';
import { ServedProcess } from './paired';
import { cpuPin } from './pinning';

/** The parent's environment with the malloc setting every measured process gets. */
export function hugetlbEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GLIBC_TUNABLES: HUGETLB };
}

/** Our node children: hugetlb malloc, ORT and OpenMP threads, quiet logs. */
export function ourEnv(threads: number): NodeJS.ProcessEnv {
  return {
    ...hugetlbEnv(), TUNED_LENS_ORT_THREADS: String(threads), OMP_NUM_THREADS: String(threads),
    TUNED_LENS_LOG_LEVEL: process.env.TUNED_LENS_LOG_LEVEL ?? 'warn',
  };
}

/** A Python baseline (torch's OpenMP pool and whichever BLAS it links): hugetlb malloc, threads pinned everywhere they are read. */
export function pythonEnv(threads: number): NodeJS.ProcessEnv {
  const t = String(threads);
  return { ...hugetlbEnv(), OMP_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t, MKL_NUM_THREADS: t };
}

/** What a node child of ours is started as: `[taskset -c CPUS] node --import tsx <script> ...args`. */
export interface NodeCommand {
  command: string;
  args: string[];
}

/** `script` is relative to tools/bench; `engine` decides the CPU pinning (cpuPin). */
export function nodeCommand(script: string, args: string[], engine: EngineKind, threads: number): NodeCommand {
  const node = ['--import', 'tsx', script, ...args];
  const pin = cpuPin(engine, threads);
  return pin ? { command: 'taskset', args: ['-c', pin, process.execPath, ...node] } : { command: process.execPath, args: node };
}

export interface JobOptions {
  engine: EngineKind;
  threads: number;
  /** A child that takes longer is stopped (SIGTERM, SIGKILL 5 s later) and the job fails. */
  timeoutMs: number;
  /** Names the child in a failure message ("<name> exited with 1"). */
  name: string;
}

/**
 * Runs `script` with the job (JSON, its one argument) in a fresh node process and resolves
 * with the JSON the child wrote to `job.resultFile`. Its stdout is passed through; its
 * stderr is echoed without stack frames and its last lines make the error when it fails.
 */
export function runJob<T>(script: string, job: { resultFile: string }, o: JobOptions): Promise<T> {
  const { command, args } = nodeCommand(script, [JSON.stringify(job)], o.engine, o.threads);
  return new Promise((resolve, reject) => {
    rmSync(job.resultFile, { force: true });
    const child = spawn(command, args, { cwd: benchRoot, env: ourEnv(o.threads), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => process.stdout.write(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      // echo warnings and errors, not the stack frames (the JSON keeps the message)
      const lines = d.split('\n').filter((l) => l.trim() && !/^\s+at /.test(l));
      if (lines.length) process.stdout.write(lines.map((l) => `    | ${l.length > 300 ? `${l.slice(0, 297)}...` : l}\n`).join(''));
    });
    // A child that hangs (seen: tfjs' threaded wasm growing its shared heap on
    // gpt2-small) must not stall the whole run: stop it, record why, go on.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, o.timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`timed out after ${(o.timeoutMs / 60_000).toFixed(0)} min (--timeout-min)`));
      else if (code === 0 && existsSync(job.resultFile)) resolve(JSON.parse(readFileSync(job.resultFile, 'utf8')) as T);
      else {
        const last = stderr.trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-2).join(' ');
        reject(new Error(last || `${o.name} exited with ${signal ?? code}`));
      }
    });
  });
}

/** `script` with the job in a live node process speaking the paired protocol (paired.ts). */
export function serveJob(name: string, script: string, job: unknown, o: Omit<JobOptions, 'name'> & { echo: (line: string) => void }): ServedProcess {
  const { command, args } = nodeCommand(script, [JSON.stringify(job)], o.engine, o.threads);
  return new ServedProcess(name, command, args, { cwd: benchRoot, env: ourEnv(o.threads), echo: o.echo, timeoutMs: o.timeoutMs });
}

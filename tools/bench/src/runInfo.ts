/** What a results file records about the run itself (the CPU, the commit, package versions), and writing it. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { benchRoot } from './common';

/** "Intel(R) Xeon(R) Processor (family 6 model 207)": the model number is what OpenBLAS keys its kernels on. */
export function cpuDescription(): string {
  const name = cpus()[0]?.model.trim() ?? '?';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const fam = /^cpu family\s*:\s*(\d+)/m.exec(info)?.[1];
    const model = /^model\s*:\s*(\d+)/m.exec(info)?.[1];
    return fam && model ? `${name} (family ${fam} model ${model})` : name;
  } catch {
    return name;
  }
}

/** The short commit, marked when the working tree has uncommitted changes. */
export function gitCommit(): string | undefined {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: benchRoot, encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const dirty = spawnSync('git', ['status', '--porcelain'], { cwd: benchRoot, encoding: 'utf8' }).stdout.trim() ? ' (+ uncommitted changes)' : '';
  return r.stdout.trim() + dirty;
}

/** The installed version of a package, as the bench resolves it. */
export function packageVersion(pkg: string): string | undefined {
  try {
    const require = createRequire(join(benchRoot, 'package.json'));
    return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** The machine a run measured on, as every results file records it. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memGiB: number;
  kernel: string;
  node: string;
  onnxruntime?: string;
  /** Load averages (1/5/15 min) at the start and at the end of the run. */
  loadBefore: number[];
  loadAfter: number[];
}

/** What every results file records about its run; `M` is what a bench adds to the machine (its baseline's versions). */
export interface RunRecord<M extends object = object> {
  /** The start of the run (ISO); the results files are named after it. */
  date: string;
  /** At the end of the run. */
  gitCommit?: string;
  machine: MachineInfo & M;
  wallSeconds: number;
}

/** A bench run from its start: when it began and the load then; record() at its end. */
export class BenchRun {
  readonly date = new Date();
  readonly loadBefore = loadavg();
  private readonly started = performance.now();

  record<M extends object>(machineExtras: M): RunRecord<M> {
    const machine: MachineInfo = {
      cpuModel: cpuDescription(), cores: availableParallelism(), memGiB: totalmem() / 2 ** 30, kernel: release(), node: process.versions.node,
      onnxruntime: packageVersion('onnxruntime-node'), loadBefore: this.loadBefore, loadAfter: loadavg(),
    };
    return { date: this.date.toISOString(), gitCommit: gitCommit(), machine: { ...machine, ...machineExtras }, wallSeconds: (performance.now() - this.started) / 1000 };
  }
}

/** A path relative to the repository root when it lies inside it (shorter in logs and reports). */
export function relOrAbs(p: string): string {
  const r = relative(join(benchRoot, '..', '..'), p);
  return r.startsWith('..') ? p : r;
}

/**
 * Writes `<kind>-<UTC stamp>.json` (everything) and `<kind>-latest.md` (the tables) into
 * outDir and prints the tables and both paths.
 */
export function saveResults(outDir: string, kind: 'extract' | 'train' | 'lens-quality' | 'scale', date: Date, results: unknown, markdown: string, say: (line: string) => void): void {
  mkdirSync(outDir, { recursive: true });
  const stamp = date.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const jsonFile = join(outDir, `${kind}-${stamp}.json`);
  const mdFile = join(outDir, `${kind}-latest.md`);
  writeFileSync(jsonFile, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(mdFile, markdown);
  say(`\n${'='.repeat(100)}\n${markdown}`);
  say(`results: ${relOrAbs(jsonFile)}, ${relOrAbs(mdFile)}`);
}

/** What a results file records about the run itself: the CPU, the commit, package versions. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { join } from 'node:path';
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

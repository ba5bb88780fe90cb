/**
 * The command line of a bench main: --help, usage errors, whole-number flags and the
 * workload and engine lists, checked the same way by every bench.
 */
import { ENGINES, type EngineKind } from './common';
import { WORKLOADS, type WorkloadId } from './workloads';

export class CommandLine {
  /** `prog` prefixes every usage error ("bench:train: ..."); `usage` is the --help text. */
  constructor(private readonly prog: string, private readonly usage: string) {}

  /** --help: the usage on stdout, exit 0. */
  help(): never {
    console.log(this.usage);
    process.exit(0);
  }

  /** A usage error: the message and the usage on stderr, exit 2. */
  fail(message: string): never {
    console.error(`${this.prog}: ${message}\n\n${this.usage}`);
    process.exit(2);
  }

  /** A whole-number flag ≥ min; an absent optional flag stays undefined. */
  int(flag: string, raw: string, min?: number): number;
  int(flag: string, raw: string | undefined, min?: number): number | undefined;
  int(flag: string, raw: string | undefined, min = 1): number | undefined {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) this.fail(`--${flag} must be an integer ≥ ${min}, got "${raw}"`);
    return n;
  }

  /** --only: one of WORKLOADS, or undefined for all of them. */
  workload(raw: string | undefined): WorkloadId | undefined {
    const only = raw as WorkloadId | undefined;
    if (only !== undefined && !WORKLOADS.includes(only)) this.fail(`--only must be one of ${WORKLOADS.join(', ')}, got "${only}"`);
    return only;
  }

  /** --engines: a comma-separated list of our engines. */
  engines(raw: string): EngineKind[] {
    const engines = raw.split(',').map((e) => e.trim()).filter(Boolean) as EngineKind[];
    for (const e of engines) if (!ENGINES.includes(e)) this.fail(`unknown engine "${e}" (known: ${ENGINES.join(', ')})`);
    return engines;
  }
}

/**
 * What the benches' markdown reports share: number cells, the machine / setting table and
 * the frame of a results document (title, target, settings, sections, how to read them,
 * wall time). Each report supplies its own rows and sections.
 */
import type { MachineInfo } from './runInfo';
import { blasDescription, type BlasChoice, type TorchStatus } from './torch';

/** x with `digits` decimals, or '–' when there is no finite number. */
export function fixed(x: number | undefined, digits: number): string {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

/** The CPU row's value: model, cores, memory, kernel. */
export function machineCell(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} cores, ${m.memGiB.toFixed(0)} GiB, Linux ${m.kernel}`;
}

/** The load-average row's value: 1/5/15 min before and after the run. */
export function loadCell(m: MachineInfo): string {
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  return `before ${load(m.loadBefore)}, after ${load(m.loadAfter)}`;
}

/**
 * The rows saying how a torch-vs-ours bench (extraction, training) kept the comparison
 * fair: one thread count reaching each side, torch's BLAS kernels, the malloc setting
 * (`ourProcesses` names our side's processes), and the machine's load meanwhile.
 */
export function fairnessRows(threads: number, blas: BlasChoice | undefined, glibcTunables: string, ourProcesses: string, m: MachineInfo): Array<[string, string]> {
  return [
    ['threads (both sides)', `${threads}: torch.set_num_threads + OMP/OPENBLAS/MKL_NUM_THREADS; TUNED_LENS_ORT_THREADS for onnx; tfjs sizes its wasm pool from the CPU affinity, so it runs under \`taskset\` when threads < cores`],
    ['torch BLAS', blasDescription(blas)],
    ['malloc', `GLIBC_TUNABLES=${glibcTunables} for torch and ${ourProcesses}`],
    ['load average (1/5/15 min)', loadCell(m)],
  ];
}

/** The note a torch-vs-ours report opens its sections with when PyTorch could not be had (none otherwise). */
export function torchUnavailableNotes(torch: TorchStatus): string[] {
  return torch.available ? [] : [`**PyTorch unavailable**: ${torch.reason}. Ratios are not computed.`];
}

export interface ResultsDocument {
  /** The heading, without the leading '# '. */
  title: string;
  /** The target verdict line under the title, when the bench has one. */
  target?: string;
  /** Rows of the machine / setting table: [name, value]. */
  settings: Array<[string, string]>;
  /** Markdown blocks after the table (notes, one per workload or model), a blank line after each. */
  sections: string[];
  /** How to read the tables: one paragraph. */
  reading: string;
  wallSeconds: number;
}

export function resultsDocument(d: ResultsDocument): string {
  const out = [`# ${d.title}`, ''];
  if (d.target !== undefined) out.push(d.target, '');
  out.push('| machine / setting | value |', '|---|---|', ...d.settings.map(([name, value]) => `| ${name} | ${value} |`), '');
  for (const s of d.sections) out.push(s, '');
  out.push(d.reading, '', `Total wall time ${(d.wallSeconds / 60).toFixed(1)} min.`);
  return out.join('\n') + '\n';
}

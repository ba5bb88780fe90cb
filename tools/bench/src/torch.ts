/**
 * The PyTorch side: making sure Debian's torch + OpenBLAS are there, and running
 * python/torch_forward.py with the same thread count and malloc settings as our side.
 *
 * Why Debian's packages and not pip: the machine reaches only the package registries,
 * Debian's python3-torch 1.13 is what the toolchain notes measured, and without
 * libopenblas0-pthread it silently runs on the reference BLAS (~20x slower), which would
 * make every ratio meaningless. So both packages are required, and installed when missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { shortError, systemPython, torchScript } from './common';
import { pythonEnv } from './children';

export interface TorchStatus {
  available: boolean;
  version?: string;
  /** What ensureTorch did, in order (printed and kept in the results). */
  actions: string[];
  reason?: string;
}

/** What both PyTorch scripts report about their process (python/bench_child.py torch_info) and their load time. */
export interface TorchInfo {
  torch_version: string;
  threads: number;
  blas: string[];
  openblas_corename: string | null;
  openblas_coretype_env: string | null;
  glibc_tunables: string | null;
  load_seconds: number;
}

/** A torch_forward.py run. */
export interface TorchRun extends TorchInfo {
  times: number[];
  median_seconds: number;
  tokens: number;
  tokens_per_second: number;
  hidden_states: number;
  hidden_shape: number[];
}

/** "torch 1.13.0a0, 1 thread(s), OpenBLAS SkylakeX (forced)": the set-up a torch row ran with. */
export function torchSetupNote(t: TorchInfo): string {
  return `torch ${t.torch_version}, ${t.threads} thread(s), OpenBLAS ${t.openblas_corename}${t.openblas_coretype_env ? ' (forced)' : ''}`;
}

const PACKAGES = ['python3-torch', 'libopenblas0-pthread'];

/** Whether /usr/bin/python3 imports torch (and numpy); its version, or why not. */
export function probeTorch(): { ok: boolean; version?: string; why?: string } {
  if (!existsSync(systemPython)) return { ok: false, why: `${systemPython} does not exist` };
  const r = spawnSync(systemPython, ['-c', 'import numpy, torch; print(torch.__version__)'], { encoding: 'utf8', env: { ...process.env, PYENV_VERSION: 'system' } });
  if (r.status === 0) return { ok: true, version: r.stdout.trim() };
  return { ok: false, why: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').at(-1) };
}

function dpkgInstalled(pkg: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/**
 * Installs python3-torch and libopenblas0-pthread with apt when either is missing (needs
 * root), printing each command. Never throws: when torch cannot be had, the result says
 * why and the bench goes on with our engines only.
 */
export function ensureTorch(opts: { allowInstall: boolean; log: (line: string) => void }): TorchStatus {
  const actions: string[] = [];
  const note = (s: string) => { actions.push(s); opts.log(s); };
  const missing = PACKAGES.filter((p) => !dpkgInstalled(p));
  let probe = probeTorch();
  if (probe.ok && missing.length === 0) {
    note(`torch ${probe.version} and OpenBLAS present (${PACKAGES.join(', ')} installed)`);
    return { available: true, version: probe.version, actions };
  }
  note(`missing: ${[...missing, ...(probe.ok ? [] : [`torch import (${probe.why})`])].join(', ')}`);
  if (!opts.allowInstall) return unavailable(actions, probe, 'installation disabled (--no-apt)');
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return unavailable(actions, probe, `not root: run "apt-get update && apt-get install -y ${PACKAGES.join(' ')}" as root`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', ...PACKAGES]]) {
    note(`$ apt-get ${args.join(' ')}`);
    const t0 = performance.now();
    const r = spawnSync('apt-get', args, { encoding: 'utf8', env, maxBuffer: 64 * 2 ** 20 });
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
    if (r.status !== 0) {
      note(`  failed (${r.error?.message ?? `exit ${r.status}`}): ${tail}`);
      return unavailable(actions, probe, `apt-get ${args[0]} failed`);
    }
    note(`  ok in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${tail}`);
  }
  probe = probeTorch();
  if (!probe.ok) return unavailable(actions, probe, 'torch still does not import after apt-get install');
  note(`torch ${probe.version} installed`);
  return { available: true, version: probe.version, actions };
}

function unavailable(actions: string[], probe: { why?: string }, reason: string): TorchStatus {
  return { available: false, actions, reason: probe.why ? `${reason} (${probe.why})` : reason };
}

/**
 * The environment of the torch process: thread counts pinned everywhere BLAS/OpenMP look,
 * and OPENBLAS_CORETYPE when a kernel family is forced (removed otherwise: OpenBLAS
 * treats an empty value differently from an absent one).
 */
export function torchEnv(threads: number, coretype?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...pythonEnv(threads), PYENV_VERSION: 'system' };
  if (coretype) env.OPENBLAS_CORETYPE = coretype;
  else delete env.OPENBLAS_CORETYPE;
  return env;
}

export interface GemmProbe {
  /** OPENBLAS_CORETYPE given, or null for OpenBLAS's own choice. */
  coretype: string | null;
  /** The kernel family OpenBLAS actually used. */
  corename: string | null;
  gflops: number;
}

export interface BlasChoice {
  mode: string;
  /** OPENBLAS_CORETYPE for every torch run, or undefined for OpenBLAS's own choice. */
  coretype?: string;
  corename: string | null;
  gflops: number;
  /** The stock choice (no OPENBLAS_CORETYPE), when it was probed. */
  stock?: GemmProbe;
  candidates: GemmProbe[];
}

/** Kernel families worth trying on this CPU, from /proc/cpuinfo's flags. */
export function coretypeCandidates(flags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  if (['avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512cd'].every((f) => flags.has(f))) out.push('SkylakeX');
  if (flags.has('avx2') && flags.has('fma')) out.push('Haswell');
  return out;
}

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

export function probeGemm(threads: number, coretype?: string): GemmProbe {
  const r = spawnSync(systemPython, [torchScript, '--gemm-probe', '--threads', String(threads)], { encoding: 'utf8', env: torchEnv(threads, coretype) });
  if (r.status !== 0) throw new Error(`gemm probe failed: ${(r.stderr ?? '').trim().split('\n').at(-1)}`);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { corename: string | null; gflops: number };
  return { coretype: coretype ?? null, corename: j.corename, gflops: j.gflops };
}

/**
 * Which OpenBLAS kernels torch runs with. Why this exists: OpenBLAS 0.3.21 (Debian 12)
 * identifies CPUs by model number, and on CPUs newer than it (e.g. Intel family 6 model
 * 207) it falls back to its generic "Prescott" SSE3 kernels: ~32 GFLOP/s instead of ~155
 * with its AVX-512 "SkylakeX" kernels on the same core. A baseline running on the
 * fallback would make every ratio ~3x too flattering. 'auto' (default) measures the
 * stock choice and each kernel family the CPU flags allow, and keeps the fastest (the
 * stock one unless another is > 5% faster); 'stock' never overrides; any other value is
 * passed as OPENBLAS_CORETYPE.
 */
export function chooseBlas(threads: number, mode: string, log: (line: string) => void): BlasChoice {
  if (mode !== 'auto') {
    const p = probeGemm(threads, mode === 'stock' ? undefined : mode);
    log(`OpenBLAS kernels: ${mode === 'stock' ? 'stock choice' : `OPENBLAS_CORETYPE=${mode}`} -> ${p.corename}, ${p.gflops.toFixed(0)} GFLOP/s`);
    return { mode, coretype: p.coretype ?? undefined, corename: p.corename, gflops: p.gflops, candidates: [p], stock: p.coretype === null ? p : undefined };
  }
  const stock = probeGemm(threads);
  const candidates = [stock];
  for (const c of coretypeCandidates(cpuFlags())) if (c !== stock.corename) candidates.push(probeGemm(threads, c));
  log(`OpenBLAS kernels (FP32 GEMM 2048x768x3072, ${threads} thread(s)): ${candidates.map((c) => `${c.coretype ?? 'stock'} -> ${c.corename} ${c.gflops.toFixed(0)} GFLOP/s`).join('; ')}`);
  const best = candidates.reduce((a, b) => (b.gflops > a.gflops ? b : a));
  const pick = best.gflops > stock.gflops * 1.05 ? best : stock;
  log(pick === stock ? `  keeping OpenBLAS's own choice (${stock.corename})` : `  torch runs with OPENBLAS_CORETYPE=${pick.coretype} (stock choice ${stock.corename} is ${(pick.gflops / stock.gflops).toFixed(1)}x slower on this CPU)`);
  return { mode, coretype: pick.coretype ?? undefined, corename: pick.corename, gflops: pick.gflops, stock, candidates };
}

/**
 * The PyTorch side of a bench run: torch installed when missing (ensureTorch), then its
 * OpenBLAS kernels chosen (chooseBlas). Without torch the bench goes on with our engines
 * only; when the BLAS probe fails, torch runs with OpenBLAS's own choice.
 */
export function setUpTorch(o: { apt: boolean; threads: number; torchBlas: string }, say: (line: string) => void): { torch: TorchStatus; blas?: BlasChoice } {
  say('\n--- PyTorch baseline (Debian python3-torch + OpenBLAS)');
  const torch = ensureTorch({ allowInstall: o.apt, log: (l) => say(`  ${l}`) });
  if (!torch.available) {
    say(`  PyTorch UNAVAILABLE: ${torch.reason}; benching our engines without ratios`);
    return { torch };
  }
  try {
    return { torch, blas: chooseBlas(o.threads, o.torchBlas, (l) => say(`  ${l}`)) };
  } catch (err) {
    say(`  BLAS probe failed (${shortError(err)}); torch runs with OpenBLAS's own choice`);
    return { torch };
  }
}

/** The torch BLAS cell of a report: the kernels torch ran with and every probe behind the choice. */
export function blasDescription(b: BlasChoice | undefined): string {
  if (!b) return '–';
  const probes = b.candidates.map((c) => `${c.coretype ? `OPENBLAS_CORETYPE=${c.coretype}` : 'stock'} → ${c.corename} ${c.gflops.toFixed(0)} GFLOP/s`).join(', ');
  return `OpenBLAS ${b.corename} kernels${b.coretype ? ` (OPENBLAS_CORETYPE=${b.coretype}, chosen by measurement)` : ''}; FP32 GEMM probe: ${probes}`;
}

/** Runs the PyTorch forward (median of `repeats` after `warmup`); throws with stderr on failure. */
export interface TorchOptions {
  modelDir: string; idsFile: string; batch: number; seq: number; threads: number; repeats: number; warmup?: number; dumpLast?: string;
  /** OPENBLAS_CORETYPE (see chooseBlas); undefined: OpenBLAS's own choice. */
  coretype?: string;
}

/** Arguments of /usr/bin/python3 for a torch_forward.py run (the script path first). */
export function torchArgs(opts: Omit<TorchOptions, 'coretype'>): string[] {
  const args = [
    torchScript, opts.modelDir, '--ids', opts.idsFile, '--batch', String(opts.batch), '--seq', String(opts.seq),
    '--threads', String(opts.threads), '--repeats', String(opts.repeats), '--warmup', String(opts.warmup ?? 1),
  ];
  if (opts.dumpLast) args.push('--dump-last', opts.dumpLast);
  return args;
}

export function runTorch(opts: TorchOptions): TorchRun {
  const args = torchArgs(opts);
  const r = spawnSync(systemPython, args, { encoding: 'utf8', env: torchEnv(opts.threads, opts.coretype), maxBuffer: 16 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`torch_forward.py failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join('\n')}`);
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as TorchRun;
}

/** Small pieces shared by the bench's parent process and its measurement children. */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

export type EngineKind = 'onnx' | 'tfjs';
export const ENGINES: readonly EngineKind[] = ['onnx', 'tfjs'];

/** tools/bench (the project folder): children run from here so `--import tsx` resolves. */
export const benchRoot = fileURLToPath(new URL('../', import.meta.url));
export const torchScript = join(benchRoot, 'python', 'torch_forward.py');
/** The extraction bench's measuring child (relative to benchRoot, the cwd of every node child). */
export const measureScript = join('src', 'measure.ts');
/** Debian's interpreter: the `python3` on PATH is a pyenv that cannot see python3-torch. */
export const systemPython = '/usr/bin/python3';
/** Set for every measured process (see ../../shared toolchain notes, finding B). */
export const HUGETLB = 'glibc.malloc.hugetlb=1';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Largest absolute elementwise difference (Infinity on a length mismatch or NaN). */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}

/** A raw little-endian f32 dump (torch's and ours) as a Float32Array. */
export function readF32(file: string): Float32Array {
  const b = readFileSync(file);
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/**
 * An error as one line for a table cell or a log line: the first line of the message,
 * without emscripten's build hint (tfjs' wasm aborts carry it), at most maxChars long.
 */
export function shortError(err: unknown, maxChars = 160): string {
  const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0].replace(/\s*Build with -sASSERTIONS for more info\.?/g, '').trim();
  return msg.length > maxChars ? `${msg.slice(0, maxChars - 3)}...` : msg;
}

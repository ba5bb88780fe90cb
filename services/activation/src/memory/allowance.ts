/**
 * How much more memory this process may use before it is killed or thrashes, read from
 * the cgroup the process runs in (cgroup v2, else v1) and /proc/meminfo, or taken from an
 * operator's override.
 *
 * The rule (what the model check compares its estimate with):
 *
 *   allowance = min( limit - working set, over the process's cgroup and its ancestors
 *                    MemAvailable )
 *
 * - limit: cgroup v2 the lower of memory.max and memory.high ('max' = none: above
 *   memory.high the kernel throttles the whole group into reclaim, which a multi-GB load
 *   does not survive in practice); cgroup v1 memory.limit_in_bytes (values near 2^63 =
 *   none). Every ancestor's limit applies to its whole subtree, so each level visible
 *   under the mount counts and the tightest one wins.
 * - working set: the cgroup's usage (v2 memory.current, v1 memory.usage_in_bytes) minus
 *   its inactive file cache (memory.stat inactive_file / total_inactive_file), which the
 *   kernel drops before it OOM-kills; the same measure the kubelet evicts on.
 * - MemAvailable: the machine's own estimate of what can be allocated without swapping
 *   (free memory plus reclaimable cache), since a cgroup limit can exceed what the host
 *   has left, and without any cgroup limit it is the only bound.
 * - This process's own RSS is NOT added back: it is already in the cgroup's usage and
 *   outside MemAvailable, and a load frees nothing the process holds (one model, loaded
 *   once). The estimate (libs/models memory) is likewise the growth from the moment of
 *   the check, so the two compare like for like.
 * - Swap is not counted: a model that only fits by swapping is unusably slow.
 *
 * Override (tests, operators whose numbers the rule gets wrong): a total for the process,
 * from the server option or env TUNED_LENS_MEMORY_LIMIT_BYTES (bytes, or with a K/M/G/T
 * suffix, binary), replaces the detection: allowance = override - this process's RSS now.
 * 'max' turns the check off.
 *
 * Every reader takes a filesystem root ('/' by default) so tests can feed a fake tree;
 * the parsers take the files' text.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The env variable an operator sets to override the detected allowance. */
export const MEMORY_LIMIT_ENV = 'TUNED_LENS_MEMORY_LIMIT_BYTES';

/** The cgroup level whose limit leaves the least room. */
export interface CgroupBound {
  version: 1 | 2;
  /** The cgroup folder read (under the root given). */
  dir: string;
  limit: number;
  /** Usage minus inactive file cache. */
  workingSet: number;
}

export interface MemoryAllowance {
  /** Bytes this process may still allocate (>= 0); Infinity when nothing bounds it. */
  bytes: number;
  cgroup?: CgroupBound;
  /** /proc/meminfo MemAvailable, when readable. */
  memAvailable?: number;
  /** Set when an override replaced the detection. */
  override?: { limit: number; rss: number; source: string };
}

// ---------------------------------------------------------------- parsers (file text in)

/** /proc/self/cgroup: the v2 path ("0::/path") and the v1 memory controller's path. */
export function parseProcCgroup(text: string): { v2?: string; v1Memory?: string } {
  const out: { v2?: string; v1Memory?: string } = {};
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') out.v2 = m[3];
    else if (m[2].split(',').includes('memory')) out.v1Memory = m[3];
  }
  return out;
}

export interface CgroupMount {
  /** Where the hierarchy is mounted. */
  mountPoint: string;
  /** Which cgroup of the hierarchy the mount shows as its top (e.g. /docker/<id>). */
  root: string;
}

/** /proc/self/mountinfo: the cgroup2 mount and the cgroup v1 memory controller's mount. */
export function parseMountInfo(text: string): { v2?: CgroupMount; v1Memory?: CgroupMount } {
  const out: { v2?: CgroupMount; v1Memory?: CgroupMount } = {};
  for (const line of text.split('\n')) {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const fields = left.split(' ');
    const [fstype, , superOptions = ''] = right.split(' ');
    const mount = { root: unescapeMount(fields[3]), mountPoint: unescapeMount(fields[4]) };
    if (fstype === 'cgroup2' && !out.v2) out.v2 = mount;
    else if (fstype === 'cgroup' && superOptions.split(',').includes('memory') && !out.v1Memory) out.v1Memory = mount;
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 ...). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** v1 writes "no limit" as the largest page-aligned signed 64-bit value (~2^63). */
const V1_UNLIMITED = 2 ** 62;

/** A cgroup limit or counter file: 'max' (or a v1 value near 2^63) is Infinity; undefined if unparsable. */
export function parseCgroupValue(text: string): number | undefined {
  const t = text.trim();
  if (t === 'max') return Infinity;
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n >= V1_UNLIMITED ? Infinity : n;
}

/** memory.stat: "key value" per line. */
export function parseMemoryStat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

/** /proc/meminfo (or /proc/self/status) "Key:  N kB" fields, in bytes. */
export function parseKbFields(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([\w()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) out.set(m[1], Number(m[2]) * 1024);
  }
  return out;
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/**
 * A byte count as an operator writes it: "25769803776", "24G", "24Gi", "24GiB", "1.5T"
 * (K/M/G/T are binary, as cgroups and Kubernetes' Gi mean them), or "max" (no limit).
 */
export function parseByteSize(text: string): number | 'max' {
  const t = text.trim();
  if (t.toLowerCase() === 'max') return 'max';
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b?)?|b)?$/i.exec(t);
  if (!m) throw new RangeError(`"${text}" is not a byte size (e.g. 25769803776, 24G, 512Mi or max)`);
  const n = Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()];
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`"${text}" is not a positive byte size`);
  return Math.floor(n);
}

// ---------------------------------------------------------------- readers (a root in)

function read(root: string, path: string): string | undefined {
  try {
    return readFileSync(join(root, path), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The folders of the process's cgroup and its ancestors up to the mount, innermost first.
 * A path outside the mount's root (another namespace's view) falls back to the mount.
 */
function cgroupLevels(root: string, mount: CgroupMount, path: string): string[] {
  const rel = mount.root === '/' ? path : path === mount.root ? '/' : path.startsWith(`${mount.root}/`) ? path.slice(mount.root.length) : '/';
  const parts = rel.split('/').filter(Boolean);
  if (!existsSync(join(root, mount.mountPoint, ...parts))) parts.length = 0;
  const levels: string[] = [];
  for (let n = parts.length; n >= 0; n--) levels.push(join(mount.mountPoint, ...parts.slice(0, n)));
  return levels;
}

function boundAt(root: string, dir: string, version: 1 | 2): CgroupBound | undefined {
  const value = (file: string) => {
    const text = read(root, join(dir, file));
    return text === undefined ? undefined : parseCgroupValue(text);
  };
  const stat = parseMemoryStat(read(root, join(dir, 'memory.stat')) ?? '');
  let limit: number | undefined;
  let usage: number | undefined;
  let inactiveFile: number;
  if (version === 2) {
    const max = value('memory.max'), high = value('memory.high');
    if (max === undefined && high === undefined) return undefined;
    limit = Math.min(max ?? Infinity, high ?? Infinity);
    usage = value('memory.current');
    inactiveFile = stat.get('inactive_file') ?? 0;
  } else {
    limit = value('memory.limit_in_bytes');
    usage = value('memory.usage_in_bytes');
    inactiveFile = stat.get('total_inactive_file') ?? stat.get('inactive_file') ?? 0;
  }
  if (limit === undefined || limit === Infinity || usage === undefined) return undefined;
  return { version, dir, limit, workingSet: Math.max(0, usage - inactiveFile) };
}

/** The tightest cgroup bound of this process (v2 and v1 hierarchies both looked at), if any. */
export function readCgroupBound(root = '/'): CgroupBound | undefined {
  const paths = parseProcCgroup(read(root, '/proc/self/cgroup') ?? '');
  const mounts = parseMountInfo(read(root, '/proc/self/mountinfo') ?? '');
  const bounds: CgroupBound[] = [];
  // On a hybrid host the v2 hierarchy exists without the memory controller: no files, no bound.
  if (paths.v2 !== undefined && mounts.v2) {
    for (const dir of cgroupLevels(root, mounts.v2, paths.v2)) {
      const b = boundAt(root, dir, 2);
      if (b) bounds.push(b);
    }
  }
  if (paths.v1Memory !== undefined && mounts.v1Memory) {
    for (const dir of cgroupLevels(root, mounts.v1Memory, paths.v1Memory)) {
      const b = boundAt(root, dir, 1);
      if (b) bounds.push(b);
    }
  }
  let tightest: CgroupBound | undefined;
  for (const b of bounds) if (!tightest || b.limit - b.workingSet < tightest.limit - tightest.workingSet) tightest = b;
  return tightest;
}

/** MemAvailable from /proc/meminfo, if the kernel reports it. */
export function readMemAvailable(root = '/'): number | undefined {
  return parseKbFields(read(root, '/proc/meminfo') ?? '').get('MemAvailable');
}

/** This process's resident set now (VmRSS), falling back to Node's own count. */
export function readProcessRss(root = '/'): number {
  return parseKbFields(read(root, '/proc/self/status') ?? '').get('VmRSS') ?? process.memoryUsage.rss();
}

export interface AllowanceOptions {
  /** Total bytes the process may use, replacing the detection; 'max' = no limit. */
  override?: number | 'max';
  /** Where the override came from, for messages (default: the option). */
  overrideSource?: string;
  /** Filesystem root of /proc and the cgroup mounts (tests). Default '/'. */
  root?: string;
  /** Read TUNED_LENS_MEMORY_LIMIT_BYTES from here when no override is given. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** What this process may still allocate, by the rule at the top of this file. */
export function memoryAllowance(opts: AllowanceOptions = {}): MemoryAllowance {
  const root = opts.root ?? '/';
  let override = opts.override;
  let source = opts.overrideSource ?? 'the memory limit option';
  const fromEnv = (opts.env ?? process.env)[MEMORY_LIMIT_ENV];
  if (override === undefined && fromEnv !== undefined && fromEnv !== '') {
    override = parseByteSize(fromEnv);
    source = MEMORY_LIMIT_ENV;
  }
  if (override === 'max') return { bytes: Infinity, override: { limit: Infinity, rss: 0, source } };
  if (override !== undefined) {
    const rss = readProcessRss(root);
    return { bytes: Math.max(0, override - rss), override: { limit: override, rss, source } };
  }
  const cgroup = readCgroupBound(root);
  const memAvailable = readMemAvailable(root);
  const bytes = Math.max(0, Math.min(cgroup ? cgroup.limit - cgroup.workingSet : Infinity, memAvailable ?? Infinity));
  return { bytes, cgroup, memAvailable };
}

/**
 * One command run as a fresh process and watched from outside: wall time from spawn to
 * exit, peak RSS, and bytes it wrote to disk before its output appeared.
 *
 * - Peak RSS: `/usr/bin/time -f %M` (the kernel's ru_maxrss of the waited child: exact,
 *   not sampled), and, as a cross-check and for process trees, the largest sum of VmRSS
 *   over the command's process tree seen by polling /proc every `pollMs`. The reported
 *   peak is the larger of the two. File-backed pages (a mapped checkpoint) count, as they
 *   do for every RSS figure a user sees.
 * - Bytes written: /proc/<pid>/io `write_bytes` (bytes the process caused to be sent to
 *   the block layer, counted when the page is dirtied) of every process of the tree,
 *   polled: the counters vanish at exit. The output goes into a folder of its own, empty
 *   at start; "written at load" is the sum at the last poll before anything appeared in
 *   it (the output is written after the forward, which lasts longer than a poll
 *   interval), "written in total" the last poll minus the output's size.
 * - Where the RSS is: once a second /proc/<pid>/smaps is read (walking it costs a few ms, too
 *   much for every poll): total Pss (pages mapped twice in one process count once) and
 *   the Rss, Pss and number of mappings of files under `watchDir` (the checkpoint). The
 *   sample with the largest Rss is kept. Rss of the checkpoint well above its size means
 *   the same file pages are mapped more than once (each mapping counts in RSS).
 * - A guard: the run is killed when the machine's MemAvailable drops below
 *   `minAvailableBytes` (shared VM: a 7B run that does not fit must not take other
 *   people's jobs down with it); the result then says so.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface MonitoredRun {
  command: string;
  wallSeconds: number;
  exitCode: number | null;
  signal: string | null;
  ok: boolean;
  /** Why it failed (exit code, kill reason, last stderr lines). */
  error?: string;
  /** max(ru_maxrss from /usr/bin/time, polled tree VmRSS sum), bytes. */
  peakRssBytes: number;
  timeMaxRssBytes?: number;
  polledPeakRssBytes: number;
  /** At the polled peak: file-backed and anonymous parts (VmRSS = RssAnon + RssFile + RssShmem). */
  polledPeakRssFileBytes: number;
  polledPeakRssAnonBytes: number;
  /** The smaps sample (1 s cadence) with the largest Rss, see the file comment. */
  smapsPeak?: SmapsSample;
  /** Most processes seen at once in the tree (time itself excluded). */
  processes: number;
  writeBytesAtLoad: number;
  writeBytesTotal: number;
  /** write_bytes minus the output's size (>= 0 when nothing else was written). */
  writeBytesExceptOutput: number;
  cancelledWriteBytes: number;
  outputBytes: number;
  /** Seconds from spawn to the first poll that saw the output folder non-empty. */
  outputSeenSeconds?: number;
  polls: number;
  minMemAvailableBytes: number;
  killedForMemory?: boolean;
  logFile: string;
}

export interface SmapsSample {
  atSeconds: number;
  rssBytes: number;
  pssBytes: number;
  /** Mappings of files under watchDir: count, Rss, Pss. */
  watchedMaps: number;
  watchedRssBytes: number;
  watchedPssBytes: number;
}

export interface MonitorOptions {
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** The folder the command writes its output into; emptied before the run. */
  outDir: string;
  /** stdout + stderr of the command go here. */
  logFile: string;
  timeoutMs: number;
  pollMs?: number;
  /** Checkpoint folder whose mappings are accounted separately (smaps). */
  watchDir?: string;
  minAvailableBytes?: number;
  echo?: (line: string) => void;
}

const kib = (s: string | undefined) => (s ? Number(s.trim().split(/\s+/)[0]) * 1024 : 0);

function statusOf(pid: number): { rss: number; file: number; anon: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const f = (k: string) => kib(new RegExp(`^${k}:(.*)$`, 'm').exec(s)?.[1]);
    return { rss: f('VmRSS'), file: f('RssFile'), anon: f('RssAnon') };
  } catch {
    return undefined;
  }
}

function ioOf(pid: number): { write: number; cancelled: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/io`, 'utf8');
    return { write: Number(/^write_bytes:\s*(\d+)/m.exec(s)?.[1] ?? 0), cancelled: Number(/^cancelled_write_bytes:\s*(\d+)/m.exec(s)?.[1] ?? 0) };
  } catch {
    return undefined;
  }
}

/** Every descendant of pid (children of all its threads, recursively). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    let tasks: string[] = [];
    try { tasks = readdirSync(`/proc/${p}/task`); } catch { continue; }
    for (const t of tasks) {
      let kids = '';
      try { kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8'); } catch { continue; }
      for (const k of kids.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(k);
        stack.push(k);
      }
    }
  }
  return out;
}

/** Rss/Pss of one process from /proc/<pid>/smaps, with the mappings of files under watchDir apart. */
export function smapsOf(pid: number, watchDir: string | undefined): Omit<SmapsSample, 'atSeconds'> | undefined {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/smaps`, 'utf8'); } catch { return undefined; }
  const r: Omit<SmapsSample, 'atSeconds'> = { rssBytes: 0, pssBytes: 0, watchedMaps: 0, watchedRssBytes: 0, watchedPssBytes: 0 };
  let watched = false;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      watched = !!watchDir && head[1].startsWith(watchDir);
      if (watched) r.watchedMaps++;
    } else if (line.startsWith('Rss:')) {
      const b = kib(line.slice(4));
      r.rssBytes += b;
      if (watched) r.watchedRssBytes += b;
    } else if (line.startsWith('Pss:')) {
      const b = kib(line.slice(4));
      r.pssBytes += b;
      if (watched) r.watchedPssBytes += b;
    }
  }
  return r;
}

export function memAvailable(): number {
  try {
    return kib(/^MemAvailable:(.*)$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function dirBytes(dir: string): { entries: number; bytes: number } {
  let entries = 0, bytes = 0;
  try {
    for (const f of readdirSync(dir)) {
      entries++;
      try { bytes += statSync(join(dir, f)).size; } catch { /* renamed away between readdir and stat */ }
    }
  } catch { /* not there yet */ }
  return { entries, bytes };
}

export function runMonitored(o: MonitorOptions): Promise<MonitoredRun> {
  const pollMs = o.pollMs ?? 100;
  const minAvail = o.minAvailableBytes ?? 1.5 * 2 ** 30;
  rmSync(o.outDir, { recursive: true, force: true });
  mkdirSync(o.outDir, { recursive: true });
  const timeFile = join(o.outDir, '..', `.time-${process.pid}-${Date.now()}.txt`);
  const logFd = openSync(o.logFile, 'w');
  const command = [o.cmd, ...o.args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ');
  const t0 = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%M', '-o', timeFile, o.cmd, ...o.args], {
    cwd: o.cwd, env: o.env, stdio: ['ignore', logFd, logFd], detached: true,
  });
  closeSync(logFd);
  const lastIo = new Map<number, { write: number; cancelled: number }>();
  let polledPeak = 0, peakFile = 0, peakAnon = 0, processes = 0, polls = 0;
  let smapsPeak: SmapsSample | undefined, lastSmaps = 0;
  let writeAtLoad = 0, outputSeen: number | undefined, minAvailSeen = Number.POSITIVE_INFINITY, killedForMemory = false;
  const sumIo = () => [...lastIo.values()].reduce((a, b) => ({ write: a.write + b.write, cancelled: a.cancelled + b.cancelled }), { write: 0, cancelled: 0 });

  const poll = () => {
    if (child.pid === undefined) return;
    polls++;
    const pids = descendants(child.pid);
    processes = Math.max(processes, pids.length);
    let rss = 0, file = 0, anon = 0;
    for (const p of pids) {
      const s = statusOf(p);
      if (s) { rss += s.rss; file += s.file; anon += s.anon; }
      const io = ioOf(p);
      if (io) lastIo.set(p, io);
    }
    if (rss > polledPeak) { polledPeak = rss; peakFile = file; peakAnon = anon; }
    const now = performance.now();
    if (now - lastSmaps >= 1000) {
      lastSmaps = now;
      const sample = pids.map((p) => smapsOf(p, o.watchDir)).filter((x) => x !== undefined)
        .reduce((a, b) => ({ rssBytes: a.rssBytes + b.rssBytes, pssBytes: a.pssBytes + b.pssBytes, watchedMaps: a.watchedMaps + b.watchedMaps, watchedRssBytes: a.watchedRssBytes + b.watchedRssBytes, watchedPssBytes: a.watchedPssBytes + b.watchedPssBytes }),
          { rssBytes: 0, pssBytes: 0, watchedMaps: 0, watchedRssBytes: 0, watchedPssBytes: 0 });
      if (!smapsPeak || sample.rssBytes > smapsPeak.rssBytes) smapsPeak = { atSeconds: (now - t0) / 1000, ...sample };
    }
    const out = dirBytes(o.outDir);
    if (out.entries === 0) writeAtLoad = sumIo().write;
    else outputSeen ??= (performance.now() - t0) / 1000;
    const avail = memAvailable();
    minAvailSeen = Math.min(minAvailSeen, avail);
    if (avail < minAvail && !killedForMemory) {
      killedForMemory = true;
      o.echo?.(`MemAvailable ${(avail / 2 ** 30).toFixed(2)} GiB < ${(minAvail / 2 ** 30).toFixed(2)} GiB with the tree at ${(rss / 2 ** 30).toFixed(2)} GiB RSS: stopping it`);
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  };
  const timer = setInterval(poll, pollMs);
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
    setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000).unref();
  }, o.timeoutMs);

  return new Promise((resolve, reject) => {
    child.on('error', (err) => { clearInterval(timer); clearTimeout(killer); reject(err); });
    child.on('exit', (code, signal) => {
      const wallSeconds = (performance.now() - t0) / 1000;
      clearInterval(timer);
      clearTimeout(killer);
      let timeMax: number | undefined;
      try {
        const txt = readFileSync(timeFile, 'utf8').trim().split('\n');
        const last = Number(txt.at(-1));
        if (Number.isFinite(last)) timeMax = last * 1024;
        rmSync(timeFile, { force: true });
      } catch { /* time did not write it */ }
      const io = sumIo();
      const outputBytes = dirBytes(o.outDir).bytes;
      // /usr/bin/time exits with the command's status (or 128 + signal when it was killed).
      const ok = code === 0 && !killedForMemory && !timedOut;
      let error: string | undefined;
      if (!ok) {
        const tail = existsSync(o.logFile) ? readFileSync(o.logFile, 'utf8').split('\n').filter((l) => l.trim() && !/^\s+at /.test(l) && !/Loading weights/.test(l)).slice(-4).join(' | ') : '';
        error = killedForMemory ? `stopped: the machine's MemAvailable fell below ${(minAvail / 2 ** 30).toFixed(1)} GiB`
          : timedOut ? `timed out after ${(o.timeoutMs / 60_000).toFixed(0)} min`
            : `exit ${signal ?? code}`;
        if (tail) error += `: ${tail.length > 600 ? `...${tail.slice(-600)}` : tail}`;
      }
      resolve({
        command, wallSeconds, exitCode: code, signal, ok, error,
        peakRssBytes: Math.max(timeMax ?? 0, polledPeak), timeMaxRssBytes: timeMax, polledPeakRssBytes: polledPeak,
        polledPeakRssFileBytes: peakFile, polledPeakRssAnonBytes: peakAnon, smapsPeak, processes,
        writeBytesAtLoad: writeAtLoad, writeBytesTotal: io.write, writeBytesExceptOutput: io.write - outputBytes,
        cancelledWriteBytes: io.cancelled, outputBytes, outputSeenSeconds: outputSeen, polls,
        minMemAvailableBytes: minAvailSeen, killedForMemory: killedForMemory || undefined, logFile: o.logFile,
      });
    });
  });
}

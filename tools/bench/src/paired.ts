/**
 * Paired timing: PyTorch and our engine loaded in two live processes, and single forward
 * calls alternated between them (A B, B A, A B, ...).
 *
 * Why: this VM is shared and its load changes within a minute (another tenant's job can
 * take a core for 30 s, then leave). Timing torch for a minute and then our engine for a
 * minute lets such a change land on one side only: in one run here torch measured 4.9 s
 * per batch before our engine and 2.4 s after it. With alternated single calls both sides
 * see the same conditions, and the per-round ratios show how stable the comparison was.
 * Only one process computes at a time; the other waits on its stdin.
 *
 * Protocol (the Python baselines' --serve, python/bench_child.py `serve`, and our
 * children, serveTimedCalls below): the child prints `@@ready {...}` after its warm-up,
 * answers each `run` line with `@@result {"seconds": s}`, and on `finish` writes its
 * summary and exits (as `@@done {...}` when the parent asks for it). Any other stdout line
 * is progress and is echoed.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

export interface ServedProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Progress lines (everything not starting with @@) and stderr lines go here. */
  echo?: (line: string) => void;
  /** Longest wait for any one answer (load + warm-up included for @@ready). */
  timeoutMs: number;
}

export class ServedProcess {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly queue: string[] = [];
  private waiter: { resolve(line: string): void; reject(err: Error): void } | null = null;
  private exited: Error | null = null;
  private stderrTail: string[] = [];
  private readonly exit: Promise<number | null>;

  constructor(readonly name: string, command: string, args: string[], private readonly opts: ServedProcessOptions) {
    this.child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const echo = opts.echo ?? (() => {});
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (!line.startsWith('@@')) return echo(line);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve(line);
      } else this.queue.push(line);
    });
    createInterface({ input: this.child.stderr }).on('line', (line) => {
      this.stderrTail = [...this.stderrTail, line].slice(-20);
      if (line.trim() && !/^\s+at /.test(line)) echo(`| ${line.length > 300 ? `${line.slice(0, 297)}...` : line}`);
    });
    this.exit = new Promise((resolve) => {
      this.child.on('error', (err) => this.fail(new Error(`${name}: ${err.message}`)));
      this.child.on('exit', (code, signal) => {
        const why = this.stderrTail.filter((l) => l.trim() && !/^\s+at /.test(l)).slice(-2).join(' ');
        this.fail(new Error(`${name} exited (${signal ?? `code ${code}`})${why ? `: ${why}` : ''}`));
        resolve(code);
      });
    });
  }

  private fail(err: Error): void {
    this.exited ??= err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(err);
    }
  }

  /** The next `@@<tag> {json}` line, parsed; rejects on another tag, exit or timeout. */
  private async expect<T>(tag: string): Promise<T> {
    let line = this.queue.shift();
    if (line === undefined) {
      if (this.exited) throw this.exited;
      line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiter = null;
          reject(new Error(`${this.name}: no @@${tag} within ${(this.opts.timeoutMs / 60_000).toFixed(0)} min`));
        }, this.opts.timeoutMs);
        this.waiter = {
          resolve: (l) => { clearTimeout(timer); resolve(l); },
          reject: (e) => { clearTimeout(timer); reject(e); },
        };
      });
    }
    const m = /^@@(\w+)\s?(.*)$/.exec(line);
    if (!m || m[1] !== tag) throw new Error(`${this.name}: expected @@${tag}, got ${line.slice(0, 120)}`);
    return (m[2] ? JSON.parse(m[2]) : {}) as T;
  }

  ready(): Promise<Record<string, unknown>> {
    return this.expect('ready');
  }

  /** One timed forward in the child; its seconds. */
  async run(): Promise<number> {
    this.child.stdin.write('run\n');
    return (await this.expect<{ seconds: number }>('result')).seconds;
  }

  /** Ends the session; resolves with the `@@done` payload when `done` is set, after a clean exit. */
  async finish<T>(done: boolean): Promise<T | undefined> {
    this.child.stdin.write('finish\n');
    this.child.stdin.end();
    const payload = done ? await this.expect<T>('done') : undefined;
    const code = await this.exit;
    if (code !== 0) throw this.exited ?? new Error(`${this.name} exited with ${code}`);
    return payload;
  }

  /** Stops the child (used when the other side of a pair failed). */
  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

export interface PairedTimes {
  a: number[];
  b: number[];
  /** Per round: a's seconds / b's seconds (b is "faster by" this factor when > 1). */
  ratios: number[];
}

/**
 * `rounds` rounds of one call each, the order flipped every round (a b, b a, ...) so
 * neither side always runs right after the other's memory traffic.
 */
export async function pairedRounds(a: ServedProcess, b: ServedProcess, rounds: number, log: (line: string) => void): Promise<PairedTimes> {
  const out: PairedTimes = { a: [], b: [], ratios: [] };
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      out.a.push(await a.run());
      out.b.push(await b.run());
    } else {
      out.b.push(await b.run());
      out.a.push(await a.run());
    }
    out.ratios.push(out.a[i] / out.b[i]);
    log(`round ${i + 1}: ${a.name} ${out.a[i].toFixed(3)} s, ${b.name} ${out.b[i].toFixed(3)} s (ratio ${out.ratios[i].toFixed(2)})`);
  }
  return out;
}

/**
 * The child's half of the protocol: prints `@@ready {ready}`, then answers each `run`
 * line on stdin with one timed call, `@@result {"seconds": s}`, until `finish` (or the
 * end of stdin). The caller then writes its summary.
 */
export async function serveTimedCalls(ready: object, timedCall: () => Promise<number>): Promise<void> {
  const emit = (line: string) => process.stdout.write(`${line}\n`);
  emit(`@@ready ${JSON.stringify(ready)}`);
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = line.trim();
    if (cmd === 'run') emit(`@@result ${JSON.stringify({ seconds: await timedCall() })}`);
    else if (cmd === 'finish') break;
    else if (cmd) throw new Error(`unknown command ${JSON.stringify(cmd)}`);
  }
}

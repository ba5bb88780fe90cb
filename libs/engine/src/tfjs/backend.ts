/**
 * Picking and initialising the TensorFlow.js backend for this process.
 *
 * Order for 'auto': `@tensorflow/tfjs-node-gpu` (CUDA; present only on GPU images) ->
 * `@tensorflow/tfjs-node` (libtensorflow on the CPU) -> WebAssembly
 * (`@tensorflow/tfjs-backend-wasm`, SIMD, threads when the worker shim below works) ->
 * the pure-JS 'cpu' backend. Both native packages are optional dependencies whose install
 * scripts download libtensorflow, so on an offline machine npm drops them and they are
 * skipped with the reason "not installed" (see /work/shared/docs/toolchain.md, Q1).
 *
 * tf is a process-wide singleton (one engine, one active backend, globals on
 * `globalThis`), so everything here is idempotent: each backend is initialised at most
 * once per process (failures are remembered too) and calls are serialised. Switching
 * to another backend later is allowed; tensors created on the old one stay there, and
 * `TfjsEngine` re-activates its own backend before each run.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';

/** The `tf` namespace (`@tensorflow/tfjs`, or `@tensorflow/tfjs-node(-gpu)` which re-exports it). */
export type Tf = typeof tfTypes;

export type TfjsBackendPreference = 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';
/** What the engine reports as its name (and what gets logged / exported as a metric). */
export type TfjsEngineName = 'tfjs-node-gpu' | 'tfjs-node' | 'tfjs-wasm' | 'tfjs-cpu';

export interface TfjsBackendOptions {
  /**
   * WebAssembly threads. 'auto' (default): try the worker shim with one thread per CPU
   * and fall back to one thread if it fails; 'off': one thread; a number: that many
   * threads (still falling back to one thread if the shim fails). Only the first wasm
   * initialisation in a process uses this.
   */
  wasmThreads?: 'auto' | 'off' | number;
  /**
   * When the preferred backend cannot be used, continue down the order (default true).
   * false: throw an Error giving the reason instead.
   */
  fallback?: boolean;
  /** How long the threaded wasm start-up may take before falling back (default 30 s). */
  wasmThreadsTimeoutMs?: number;
}

export interface TfjsBackendSelection {
  name: TfjsEngineName;
  /** tf's own backend name: 'tensorflow' (both node packages), 'wasm' or 'cpu'. */
  tfBackend: 'tensorflow' | 'wasm' | 'cpu';
  preference: TfjsBackendPreference;
  /** What was chosen, e.g. "SIMD, 2 threads" for tfjs-wasm (log it next to `name`). */
  reason: string;
  /** Backends tried before this one and why each was skipped. */
  skipped: Array<{ name: TfjsEngineName; reason: string }>;
  /** WebAssembly details when name is 'tfjs-wasm'. */
  wasm?: { simd: boolean; threads: number; note: string };
  /** The namespace to use with this backend. */
  tf: Tf;
}

type Kind = 'node-gpu' | 'node' | 'wasm' | 'cpu';
const ORDER: Kind[] = ['node-gpu', 'node', 'wasm', 'cpu'];
const NAMES: Record<Kind, TfjsEngineName> = { 'node-gpu': 'tfjs-node-gpu', node: 'tfjs-node', wasm: 'tfjs-wasm', cpu: 'tfjs-cpu' };
const PACKAGES: Record<'node-gpu' | 'node', string> = { 'node-gpu': '@tensorflow/tfjs-node-gpu', node: '@tensorflow/tfjs-node' };

type Attempt =
  | { ok: true; tf: Tf; tfBackend: TfjsBackendSelection['tfBackend']; reason: string; wasm?: TfjsBackendSelection['wasm'] }
  | { ok: false; reason: string };

const require = createRequire(import.meta.url);

// ---- process-wide state -------------------------------------------------------------

/** One initialisation attempt per backend kind, successful or not. */
const attempts = new Map<Kind, Promise<Attempt>>();
let current: TfjsBackendSelection | null = null;
/** Serialises selectTfjsBackend calls (each awaits the previous one). */
let queue: Promise<unknown> = Promise.resolve();
let unionTf: Promise<Tf> | null = null;

/**
 * Chooses and initialises the backend (see the module comment for the order). 'auto'
 * returns the backend already in use if an earlier call chose one. The caller should log
 * `name`, `reason` and `skipped`.
 */
export function selectTfjsBackend(preference: TfjsBackendPreference = 'auto', options: TfjsBackendOptions = {}): Promise<TfjsBackendSelection> {
  const run = queue.then(() => select(preference, options));
  queue = run.catch(() => undefined);
  return run;
}

/** The tf namespace of the backend in use; throws before the first selectTfjsBackend. */
export function getTf(): Tf {
  if (!current) throw new Error('tfjs: no backend selected yet; await selectTfjsBackend() (or TfjsEngine.create()) first');
  return current.tf;
}

/** The current selection, or null before the first selectTfjsBackend. */
export function currentTfjsBackend(): TfjsBackendSelection | null {
  return current;
}

/**
 * Makes `selection`'s backend the active one again if another selection switched tf
 * away from it (cheap: the backend is already initialised).
 */
export async function activateTfjsBackend(selection: TfjsBackendSelection): Promise<void> {
  const { tf } = selection;
  if (tf.getBackend() === selection.tfBackend) return;
  if (!(await tf.setBackend(selection.tfBackend))) {
    throw new Error(`tfjs: could not re-activate backend '${selection.tfBackend}' for ${selection.name}`);
  }
  current = selection;
}

async function select(preference: TfjsBackendPreference, options: TfjsBackendOptions): Promise<TfjsBackendSelection> {
  if (preference === 'auto' && current) return current;
  if (preference !== 'auto' && !ORDER.includes(preference)) {
    throw new Error(`tfjs: unknown backend preference ${JSON.stringify(preference)} (auto, node-gpu, node, wasm or cpu)`);
  }
  if (current && preference !== 'auto' && NAMES[preference] === current.name) {
    await activateTfjsBackend(current);
    return current;
  }
  const start = preference === 'auto' ? 0 : ORDER.indexOf(preference);
  const candidates = options.fallback === false ? [ORDER[start]] : ORDER.slice(start);
  const skipped: TfjsBackendSelection['skipped'] = [];
  for (const kind of candidates) {
    let attempt = attempts.get(kind);
    if (!attempt) {
      attempt = initialise(kind, options).catch((e: unknown): Attempt => ({ ok: false, reason: `failed: ${errorText(e)}` }));
      attempts.set(kind, attempt);
    }
    const a = await attempt;
    if (!a.ok) {
      skipped.push({ name: NAMES[kind], reason: a.reason });
      continue;
    }
    if (current && current.name === NAMES[kind]) {
      // the same backend as before: keep one selection object per backend in use
      await activateTfjsBackend(current);
      return current;
    }
    if (a.tf.getBackend() !== a.tfBackend && !(await a.tf.setBackend(a.tfBackend))) {
      skipped.push({ name: NAMES[kind], reason: `tf.setBackend('${a.tfBackend}') failed` });
      continue;
    }
    current = { name: NAMES[kind], tfBackend: a.tfBackend, preference, reason: a.reason, skipped, wasm: a.wasm, tf: a.tf };
    return current;
  }
  throw new Error(`tfjs: no usable backend for preference '${preference}': ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

async function initialise(kind: Kind, options: TfjsBackendOptions): Promise<Attempt> {
  switch (kind) {
    case 'node-gpu':
    case 'node':
      return initialiseNode(kind);
    case 'wasm':
      return initialiseWasm(options);
    case 'cpu':
      return initialiseCpu();
  }
}

// ---- native (libtensorflow) ---------------------------------------------------------

async function initialiseNode(kind: 'node-gpu' | 'node'): Promise<Attempt> {
  const pkg = PACKAGES[kind];
  const short = NAMES[kind];
  // resolve first, so "not installed" is told apart from "installed but failed to load"
  try {
    require.resolve(pkg);
  } catch {
    return { ok: false, reason: `${short} not installed (${pkg} cannot be resolved)` };
  }
  let tf: Tf;
  try {
    // importing registers tf's 'tensorflow' backend (and loads libtensorflow / CUDA)
    const mod = (await import(pkg)) as { default?: Tf } & Tf;
    tf = (mod.default ?? mod) as Tf;
  } catch (e) {
    return { ok: false, reason: `${short} is installed but failed to load: ${errorText(e)}` };
  }
  if (!(await tf.setBackend('tensorflow'))) {
    return { ok: false, reason: `${short} loaded but its 'tensorflow' backend failed to initialise` };
  }
  return { ok: true, tf, tfBackend: 'tensorflow', reason: `${pkg} (libtensorflow${kind === 'node-gpu' ? ' with CUDA' : ''})` };
}

// ---- WebAssembly and pure JS --------------------------------------------------------

/** `@tensorflow/tfjs` (core + cpu + webgl + layers, and the gradients), loaded once. */
function loadUnion(): Promise<Tf> {
  unionTf ??= import('@tensorflow/tfjs').then((m) => ((m as { default?: Tf }).default ?? m) as Tf);
  return unionTf;
}

interface WasmModule {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

async function initialiseWasm(options: TfjsBackendOptions): Promise<Attempt> {
  const tf = await loadUnion();
  let wasm: WasmModule;
  try {
    // registers the 'wasm' backend with tf (the node build finds its .wasm files itself)
    const m = (await import('@tensorflow/tfjs-backend-wasm')) as { default?: WasmModule } & WasmModule;
    wasm = typeof m.setThreadsCount === 'function' ? m : (m.default as WasmModule);
  } catch (e) {
    return { ok: false, reason: `tfjs-backend-wasm not usable: ${errorText(e)}` };
  }
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const want = options.wasmThreads ?? 'auto';
  const threads = want === 'off' ? 1 : want === 'auto' ? cpus : Math.max(1, Math.floor(want));

  let note: string;
  if (threads <= 1) {
    note = want === 'off' ? 'threads off by option' : `one thread (${want === 'auto' ? `${cpus} CPU` : 'asked for 1'})`;
  } else if (!simd) {
    note = 'one thread (threaded build needs SIMD, which this runtime lacks)';
  } else {
    const failure = await tryThreadedWasm(tf, wasm, threads, options.wasmThreadsTimeoutMs ?? 30_000);
    if (failure === null) {
      const n = wasm.getThreadsCount();
      return { ok: true, tf, tfBackend: 'wasm', reason: wasmSummary(true, n), wasm: { simd, threads: n, note: `threads via worker shim (asked for ${threads})` } };
    }
    note = `one thread (threads failed: ${failure})`;
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) return { ok: false, reason: 'tfjs-wasm: the wasm backend failed to initialise (see warning above)' };
  const n = wasm.getThreadsCount();
  return { ok: true, tf, tfBackend: 'wasm', reason: wasmSummary(simd, n), wasm: { simd, threads: n, note } };
}

const wasmSummary = (simd: boolean, threads: number) => `${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'}`;

/**
 * Starts the threaded-SIMD wasm build. tfjs disables threads in Node because its pthread
 * workers are created from blob: URLs, which Node's Worker cannot load; the shim writes
 * the worker script to a private temp file and maps the blob URLs to files
 * (toolchain.md, Q1). Returns null on success, else why it failed.
 */
async function tryThreadedWasm(tf: Tf, wasm: WasmModule, threads: number, timeoutMs: number): Promise<string | null> {
  try {
    installWasmThreadShim();
  } catch (e) {
    return `shim: ${errorText(e)}`;
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  // XNNPACK caps its pool at half the logical cores (it assumes hyper-threads), so the
  // core count is doubled while the module starts, then restored
  const realCpus = os.cpus;
  os.cpus = () => realCpus().concat(realCpus());
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    const ok = await Promise.race([tf.setBackend('wasm'), timeout]);
    // On timeout the threaded start-up is left running: the next setBackend('wasm')
    // makes it stale, and tf then discards the backend it eventually builds.
    if (ok === 'timeout') return `start-up took over ${timeoutMs} ms`;
    if (!ok) return 'the threaded module failed to initialise';
  } catch (e) {
    return errorText(e);
  } finally {
    clearTimeout(timer);
    os.cpus = realCpus;
  }
  unrefPthreadWorkers(tf);
  return null;
}

/**
 * XNNPACK's pool threads are worker_threads that stay ref'd while they wait for work, so
 * without this a process that used the wasm backend would never exit on its own.
 */
function unrefPthreadWorkers(tf: Tf): void {
  const backend = tf.findBackend('wasm') as unknown as { wasm?: { PThread?: { runningWorkers?: Array<{ unref?(): void }>; unusedWorkers?: Array<{ unref?(): void }> } } };
  const pthread = backend?.wasm?.PThread;
  for (const w of [...(pthread?.runningWorkers ?? []), ...(pthread?.unusedWorkers ?? [])]) w.unref?.();
}

let shimInstalled = false;

function installWasmThreadShim(): void {
  if (shimInstalled) return;
  const glue = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as { wasmWorkerContents: string };
  // a private directory (mode 0700) rather than a guessable name in the shared temp dir
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-wasm-'));
  const workerFile = path.join(dir, 'worker.js');
  // inside each worker, importScripts(blob: URL) must resolve to the glue file on disk;
  // '\n' is escaped the same way tfjs escapes it for its Blob
  fs.writeFileSync(workerFile, `URL.createObjectURL=()=>${JSON.stringify(glue)};URL.revokeObjectURL=()=>{};\n` + wasmWorkerContents.replace(/\n/g, '\\n'));
  // not run when the process dies from a signal; the leftover is a ~3 KB file
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const original = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (obj: Blob) => (obj instanceof Blob && obj.type === 'application/javascript' ? workerFile : original(obj));
  shimInstalled = true;
}

async function initialiseCpu(): Promise<Attempt> {
  const tf = await loadUnion();
  if (!(await tf.setBackend('cpu'))) return { ok: false, reason: 'the cpu backend failed to initialise' };
  // The cpu backend prints an "install tfjs-node" banner on its first tensor; this
  // process chose cpu on purpose, so mark the banner as shown.
  const backend = tf.findBackend('cpu') as unknown as { firstUse?: boolean };
  if (backend && 'firstUse' in backend) backend.firstUse = false;
  return { ok: true, tf, tfBackend: 'cpu', reason: 'pure JavaScript (slow: ~1 GFLOP/s)' };
}

function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : typeof e === 'object' && e && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return msg.split('\n')[0];
}

/**
 * The thread's side of a WorkerChannel (workerChannel.ts has the protocol): sets up once,
 * then handles requests one at a time in the order they were sent (an optimiser step
 * must see every micro-batch sent before it; a model runs one pass at a time).
 *
 * A request still waiting when its cancel arrives is answered `cancelled` unrun; the one
 * running when its cancel arrives is finished and its result dropped (a native call
 * cannot be interrupted). The next request starts only after the messages delivered
 * meanwhile were handled: a handler blocks the thread inside the engine, messages pile
 * up, and a cancel among them must be seen before the request it cancels is started.
 * On `stop` the thread finishes what was sent before it, disposes and exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './workerChannel';

/** A handler's answer: the value and the buffers to move (not copy) to the service. */
export interface Handled<Res> {
  value: Res;
  transfer?: ArrayBuffer[];
}

export interface WorkerService<Req, Res> {
  handle(request: Req): Promise<Handled<Res>>;
  dispose?(): Promise<void> | void;
}

/**
 * Runs in a worker thread: `setup(workerData)` builds the service and what `ready`
 * reports (a thrown error is posted as `failed`), then requests are served until `stop`.
 */
export async function serveWorker<Req, Res, Ready extends object>(setup: (data: unknown) => Promise<{ ready: Ready; transfer?: ArrayBuffer[]; service: WorkerService<Req, Res> }>): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('serveWorker runs in a worker thread');
  const post = (msg: FromWorker<Res, Ready>, transfer: ArrayBuffer[] = []) => {
    try {
      port.postMessage(msg, transfer);
    } catch {
      port.postMessage(msg); // buffers that cannot be detached (external memory) are copied
    }
  };

  let service: WorkerService<Req, Res>;
  try {
    const built = await setup(workerData);
    service = built.service;
    post({ type: 'ready', ...built.ready } as FromWorker<Res, Ready>, built.transfer);
  } catch (err) {
    post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    return;
  }

  /** Requests received and not started, in arrival order. */
  const waiting: Array<{ id: number; request: Req }> = [];
  /** The request in progress; `cancelled` once the service no longer wants its result. */
  let running: { id: number; cancelled: boolean } | undefined;
  let stopping = false;
  let exiting = false;

  const runNext = async (): Promise<void> => {
    if (running) return;
    const next = waiting.shift();
    if (!next) {
      if (stopping && !exiting) {
        exiting = true;
        void Promise.resolve(service.dispose?.()).finally(() => process.exit(0));
      }
      return;
    }
    const current = (running = { id: next.id, cancelled: false });
    try {
      const { value, transfer } = await service.handle(next.request);
      if (current.cancelled) post({ type: 'cancelled', id: next.id, ran: true });
      else post({ type: 'result', id: next.id, result: value }, transfer ? [...new Set(transfer)] : []);
    } catch (err) {
      if (current.cancelled) post({ type: 'cancelled', id: next.id, ran: true });
      else post({ type: 'error', id: next.id, message: err instanceof Error ? err.message : String(err), name: err instanceof Error ? err.name : undefined, fields: ownFields(err) });
    }
    running = undefined;
    startSoon();
  };
  const startSoon = () => setImmediate(() => void runNext());

  port.on('message', (msg: ToWorker<Req>) => {
    switch (msg.type) {
      case 'request':
        waiting.push({ id: msg.id, request: msg.request });
        break;
      case 'cancel': {
        const i = waiting.findIndex((w) => w.id === msg.id);
        if (i >= 0) {
          waiting.splice(i, 1);
          post({ type: 'cancelled', id: msg.id, ran: false });
        } else if (running?.id === msg.id) {
          running.cancelled = true;
        } // else: already answered; the service ignores answers it no longer waits for
        break;
      }
      case 'stop':
        stopping = true;
        break;
    }
    startSoon();
  });
}

/** An error's own enumerable properties that survive a structured clone (a typed error's details). */
function ownFields(err: unknown): Record<string, unknown> | undefined {
  if (!(err instanceof Error)) return undefined;
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(err)) {
    if (k !== 'name' && k !== 'message' && (v === null || ['string', 'number', 'boolean'].includes(typeof v))) fields[k] = v;
  }
  return Object.keys(fields).length ? fields : undefined;
}

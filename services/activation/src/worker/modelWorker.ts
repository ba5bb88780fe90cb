/**
 * The model worker thread: loads the checkpoint, creates the engine, runs forward
 * passes one at a time as the service asks. Result buffers are transferred (not
 * copied) back when the engine's arrays own their memory.
 *
 * The service posts the next batch while the current one still runs (pipelined
 * Extract), so requests wait here in `waiting`; a `cancel` takes one out before it runs,
 * or marks the running one so its result is dropped instead of sent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createEngine } from '@tuned-lens/engine';
import { loadModel, ModelRunner, type ForwardRequest, type UnembeddingTensors } from '@tuned-lens/models';
import { checkLoadMemory } from '../memory/loadCheck';
import type { FromWorker, ToWorker, WorkerStart } from './protocol';

const port = parentPort!;
const start = workerData as WorkerStart;
const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => {
  try {
    port.postMessage(msg, transfer);
  } catch {
    port.postMessage(msg); // buffers that cannot be detached (external memory) are copied
  }
};

interface Job {
  id: number;
  req: ForwardRequest;
}

async function load(): Promise<ModelRunner | undefined> {
  const t0 = performance.now();
  const logs: string[] = [];
  try {
    // Refuses (with both numbers) a load that would not fit, before any weight is read.
    const memory = checkLoadMemory(start.modelDir, { engine: start.engine, override: start.memoryLimit });
    if (memory) logs.push(memory.summary);
    const model = await loadModel(start.modelDir);
    const engine = await createEngine(start.engine, { logger: { info: (m, f) => logs.push(`${m} ${JSON.stringify(f)}`) } });
    const runner = new ModelRunner(model, engine);
    if (start.warmup) await runner.forward({ inputIds: new Int32Array(2), batch: 1, seq: 2 });
    const m = runner.model;
    const unembedHash = m.unembedHash();
    // unembedding() builds W_U afresh on each call (read from the checkpoint, or transposed),
    // so its buffer is handed over, not cloned: a clone costs two more [vocab, d] f32
    // copies at the end of the load (serialised, then deserialised), 1 GiB for a 7B head.
    const unembedding = ownBuffers(m.unembedding());
    post({
      type: 'ready',
      description: {
        name: m.name, dims: m.dims, weightsDtype: m.weightsDtype, unembedHash,
        engine: engine.name, finalNorm: m.arch.unembedding(m.config).norm,
      },
      unembedding,
      log: `${logs.join('; ')}; loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
    }, [unembedding.lmHead.buffer as ArrayBuffer]);
    return runner;
  } catch (err) {
    post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}

/**
 * The unembedding with every array owning its buffer. Posting a view clones its whole
 * ArrayBuffer: the final norm of an F32 checkpoint is a view of the checkpoint's data, so
 * posting it as is copied the entire checkpoint to the service's thread (measured: +2 x
 * the file size at the end of the load, and one copy kept).
 */
function ownBuffers(u: UnembeddingTensors): UnembeddingTensors {
  const own = (a: Float32Array | undefined) => (a && (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) ? a.slice() : a);
  return { ...u, normWeight: own(u.normWeight)!, normBias: own(u.normBias), lmHead: own(u.lmHead)!, lmHeadBias: own(u.lmHeadBias) };
}

function serve(runner: ModelRunner): void {
  /** Forward requests received and not started, in arrival order. */
  const waiting: Job[] = [];
  /** The pass in progress; `cancelled` once the service no longer wants its result. */
  let running: { id: number; cancelled: boolean } | undefined;
  let stopping = false;
  let exiting = false;

  const runNext = async (): Promise<void> => {
    if (running) return;
    const job = waiting.shift();
    if (!job) {
      // 'stop' waits for the passes already asked for, then frees the engine.
      if (stopping && !exiting) {
        exiting = true;
        void runner.dispose().finally(() => process.exit(0));
      }
      return;
    }
    const current = (running = { id: job.id, cancelled: false });
    try {
      const out = await runner.forward(job.req);
      if (current.cancelled) post({ type: 'cancelled', id: job.id, ran: true });
      else {
        const layers = [...out.hiddenStates.keys()];
        const hiddenStates = layers.map((l) => out.hiddenStates.get(l)!);
        const buffers = [...hiddenStates, ...(out.logits ? [out.logits] : [])].map((a) => a.buffer as ArrayBuffer);
        post({ type: 'result', id: job.id, layers, hiddenStates, logits: out.logits, seconds: out.seconds }, [...new Set(buffers)]);
      }
    } catch (err) {
      if (current.cancelled) post({ type: 'cancelled', id: job.id, ran: true });
      else post({ type: 'error', id: job.id, message: err instanceof Error ? err.message : String(err), rangeError: err instanceof RangeError });
    }
    running = undefined;
    startSoon();
  };
  // The next pass starts only after the messages already delivered were handled: a pass
  // runs synchronously inside the engine, so messages pile up meanwhile, and a 'cancel'
  // among them must be seen before the pass it cancels is started.
  const startSoon = () => setImmediate(() => void runNext());

  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'forward':
        waiting.push({ id: msg.id, req: msg.req });
        break;
      case 'cancel': {
        const i = waiting.findIndex((j) => j.id === msg.id);
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

const runner = await load();
if (runner) serve(runner);

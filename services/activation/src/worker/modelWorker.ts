/**
 * The model worker thread: loads the checkpoint, creates the engine, runs forward
 * passes one at a time as the service asks. Result buffers are transferred (not
 * copied) back when the engine's arrays own their memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createEngine } from '@tuned-lens/engine';
import { loadModel, ModelRunner } from '@tuned-lens/models';
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

async function main(): Promise<void> {
  let runner: ModelRunner;
  const t0 = performance.now();
  const logs: string[] = [];
  try {
    const model = await loadModel(start.modelDir);
    const engine = await createEngine(start.engine, { logger: { info: (m, f) => logs.push(`${m} ${JSON.stringify(f)}`) } });
    runner = new ModelRunner(model, engine);
    if (start.warmup) await runner.forward({ inputIds: new Int32Array(2), batch: 1, seq: 2 });
    const m = runner.model;
    post({
      type: 'ready',
      description: {
        name: m.name, dims: m.dims, weightsDtype: m.weightsDtype, unembedHash: m.unembedHash(),
        engine: engine.name, finalNorm: m.arch.unembedding(m.config).norm,
      },
      unembedding: m.unembedding(),
      log: `${logs.join('; ')}; loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
    });
  } catch (err) {
    post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    return;
  }
  let queue = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'stop') {
      queue.then(() => runner.dispose()).finally(() => process.exit(0));
      return;
    }
    queue = queue.then(async () => {
      try {
        const out = await runner.forward(msg.req);
        const layers = [...out.hiddenStates.keys()];
        const hiddenStates = layers.map((l) => out.hiddenStates.get(l)!);
        const buffers = [...hiddenStates, ...(out.logits ? [out.logits] : [])].map((a) => a.buffer as ArrayBuffer);
        post({ type: 'result', id: msg.id, layers, hiddenStates, logits: out.logits, seconds: out.seconds }, [...new Set(buffers)]);
      } catch (err) {
        post({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err), rangeError: err instanceof RangeError });
      }
    });
  });
}

void main();

/**
 * The model worker thread: loads the checkpoint, creates the engine, runs forward
 * passes one at a time as the service asks (grpc-kit's serveWorker: requests wait in
 * order; a cancel takes one out before it runs, or drops the running one's result).
 * Result buffers are transferred (not copied) back when the engine's arrays own their
 * memory.
 */
import { createEngine } from '@tuned-lens/engine';
import { serveWorker } from '@tuned-lens/grpc-kit';
import { loadModel, ModelRunner, type ForwardRequest, type UnembeddingTensors } from '@tuned-lens/models';
import { checkLoadMemory } from '../memory/loadCheck';
import type { ForwardAnswer, WorkerReady, WorkerStart } from './protocol';

async function load(start: WorkerStart) {
  const t0 = performance.now();
  const logs: string[] = [];
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
  const ready: WorkerReady = {
    description: {
      name: m.name, dims: m.dims, weightsDtype: m.weightsDtype, unembedHash,
      engine: engine.name, finalNorm: m.arch.unembedding(m.config).norm,
    },
    unembedding,
    log: `${logs.join('; ')}; loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
  };
  return { runner, ready, transfer: [unembedding.lmHead.buffer as ArrayBuffer] };
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

void serveWorker<ForwardRequest, ForwardAnswer, WorkerReady>(async (data) => {
  const { runner, ready, transfer } = await load(data as WorkerStart);
  return {
    ready,
    transfer,
    service: {
      async handle(req) {
        const out = await runner.forward(req);
        const layers = [...out.hiddenStates.keys()];
        const hiddenStates = layers.map((l) => out.hiddenStates.get(l)!);
        const buffers = [...hiddenStates, ...(out.logits ? [out.logits] : [])].map((a) => a.buffer as ArrayBuffer);
        return { value: { layers, hiddenStates, logits: out.logits, seconds: out.seconds }, transfer: buffers };
      },
      dispose: () => runner.dispose(),
    },
  };
});

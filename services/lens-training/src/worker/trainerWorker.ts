/**
 * The trainer thread: creates the engine and the TranslatorTrainer from workerData,
 * then answers the job's requests one at a time, in the order they were sent (an
 * optimiser step must see every micro-batch sent before it). onnxruntime's run blocks
 * the calling thread for 0.1-2 s per call; here that blocks only this thread, so the
 * service keeps answering gRPC calls and the job keeps fetching hidden states.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createEngine, type Engine } from '@tuned-lens/engine';
import { TranslatorTrainer, type TunedLensWeights, type OptimizerState } from '@tuned-lens/lens';
import type { FromTrainer, ToTrainer, TrainerRequest, TrainerResults, TrainerStart } from './protocol';
import { transferList } from './transfer';
import { isStopped, stoppableEngine, TrainerStopped } from './stoppableEngine';

const port = parentPort!;
const start = workerData as TrainerStart;
const post = (msg: FromTrainer, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

/** Fresh copies of the lens and optimiser state (ours keep changing), ready to transfer. */
function snapshot(trainer: TranslatorTrainer): { value: TrainerResults['snapshot']; buffers: ArrayBuffer[] } {
  const lens: TunedLensWeights = {
    dModel: trainer.lens.dModel,
    translators: trainer.lens.translators.map((t) => ({ weight: t.weight.slice(), bias: t.bias ? t.bias.slice() : null })),
  };
  const s = trainer.optimizer.state;
  const copy = (m: Record<string, Float32Array>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.slice()]));
  const optimizer: OptimizerState = { step: s.step, m: copy(s.m), v: copy(s.v), vmax: copy(s.vmax) };
  const arrays = [
    ...lens.translators.flatMap((t) => (t.bias ? [t.weight, t.bias] : [t.weight])),
    ...[optimizer.m, optimizer.v, optimizer.vmax].flatMap((m) => Object.values(m)),
  ];
  return { value: { lens, optimizer }, buffers: transferList(arrays) };
}

async function handle(trainer: TranslatorTrainer, req: TrainerRequest): Promise<{ value: TrainerResults[TrainerRequest['kind']]; buffers?: ArrayBuffer[] }> {
  switch (req.kind) {
    case 'accumulate': {
      const mb = req.microBatch;
      const hiddenStates = new Map(mb.layers.map((l, i) => [l, mb.hiddenStates[i]]));
      return { value: await trainer.accumulate({ batch: mb.batch, seq: mb.seq, inputIds: mb.inputIds, hiddenStates }, req.weight) };
    }
    case 'step':
      return { value: await trainer.step(req.step) };
    case 'snapshot':
      return snapshot(trainer);
  }
}

async function main(): Promise<void> {
  let engine: Engine | undefined;
  let trainer: TranslatorTrainer;
  const logs: string[] = [];
  try {
    engine = await createEngine(start.engine, { logger: { info: (m, f) => logs.push(`${m} ${JSON.stringify(f)}`) } });
    trainer = await TranslatorTrainer.create(stoppableEngine(engine, start.stopFlag), start.unembedding, start.options, start.lens, start.optimizer);
  } catch (err) {
    post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    await engine?.dispose?.();
    return;
  }
  post({ type: 'ready', engine: engine.name, log: logs.join('; ') });
  let queue = Promise.resolve();
  port.on('message', (msg: ToTrainer) => {
    if (msg.type === 'stop') {
      queue.then(() => trainer.dispose()).then(() => engine?.dispose?.()).finally(() => process.exit(0));
      return;
    }
    queue = queue.then(async () => {
      try {
        // Work queued behind a stop is dropped unrun (a step must not apply half a micro-batch).
        if (isStopped(start.stopFlag)) throw new TrainerStopped();
        const { value, buffers } = await handle(trainer, msg.request);
        post({ type: 'result', id: msg.id, result: value }, buffers);
      } catch (err) {
        post({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) });
      }
    });
  });
}

void main();

/**
 * The trainer thread: creates the engine and the TranslatorTrainer from workerData,
 * then answers the job's requests one at a time, in the order they were sent (an
 * optimiser step must see every micro-batch sent before it). onnxruntime's run blocks
 * the calling thread for 0.1-2 s per call; here that blocks only this thread, so the
 * service keeps answering gRPC calls and the job keeps fetching hidden states.
 */
import { createEngine } from '@tuned-lens/engine';
import { TranslatorTrainer, type TunedLensWeights, type OptimizerState } from '@tuned-lens/lens';
import { serveWorker, type Handled } from '@tuned-lens/grpc-kit';
import type { TrainerReady, TrainerRequest, TrainerResults, TrainerStart } from './protocol';
import { transferList } from './transfer';
import { isStopped, stoppableEngine, TrainerStopped } from './stoppableEngine';

/** Fresh copies of the lens and optimiser state (ours keep changing), ready to transfer. */
function snapshot(trainer: TranslatorTrainer): Handled<TrainerResults['snapshot']> {
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
  return { value: { lens, optimizer }, transfer: transferList(arrays) };
}

async function handle(trainer: TranslatorTrainer, req: TrainerRequest): Promise<Handled<TrainerResults[TrainerRequest['kind']]>> {
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

void serveWorker<TrainerRequest, TrainerResults[TrainerRequest['kind']], TrainerReady>(async (data) => {
  const start = data as TrainerStart;
  const logs: string[] = [];
  const engine = await createEngine(start.engine, { logger: { info: (m, f) => logs.push(`${m} ${JSON.stringify(f)}`) } });
  let trainer: TranslatorTrainer;
  try {
    trainer = await TranslatorTrainer.create(stoppableEngine(engine, start.stopFlag), start.unembedding, start.options, start.lens, start.optimizer);
  } catch (err) {
    await engine.dispose?.();
    throw err;
  }
  return {
    ready: { engine: engine.name, log: logs.join('; ') },
    service: {
      handle(request) {
        // Work queued behind a stop is dropped unrun (a step must not apply half a micro-batch).
        if (isStopped(start.stopFlag)) throw new TrainerStopped();
        return handle(trainer, request);
      },
      async dispose() {
        await trainer.dispose();
        await engine.dispose?.();
      },
    },
  };
});

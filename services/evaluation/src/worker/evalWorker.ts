/**
 * The evaluation thread: one job's lens math (evalCompute.ts) on an engine of its own,
 * batch by batch in the order sent; hidden states arrive transferred, not copied.
 */
import { serveWorker } from '@tuned-lens/grpc-kit';
import { inProcessFor, type EvalAnswer, type EvalRequest, type EvalWorkerStart } from '../evalCompute';

void serveWorker<EvalRequest, EvalAnswer, object>(async (data) => {
  const { compute, engine } = await inProcessFor(data as EvalWorkerStart);
  return {
    ready: { engine: engine.name },
    service: {
      async handle(req) {
        if (req.kind === 'finish') return { value: await compute.finish() };
        const b = req.batch;
        const hiddenStates = new Map(b.layers.map((l, i) => [l, b.hiddenStates[i]]));
        return { value: await compute.addBatch({ batch: b.batch, seq: b.seq, inputIds: b.inputIds, hiddenStates }) };
      },
      async dispose() {
        await compute.dispose();
        await engine.dispose?.();
      },
    },
  };
});

// The model worker thread's cancellation (tiny-gpt2, onnx): passes whose signal fires
// are answered as cancelled and leave nothing pending, uncancelled ones before and after
// them still give the right hidden states, and the worker keeps serving.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { WorkerBackend } from '../src/workerBackend';
import { ForwardCancelledError } from '../src/cancelled';

const backends: WorkerBackend[] = [];
after(async () => { for (const b of backends) await b.dispose(); });

test('cancelled passes reject with ForwardCancelledError, leave nothing in flight, and the worker keeps serving', async () => {
  const backend = await WorkerBackend.start({ modelDir: join(tinyModelsDir, 'tiny-gpt2'), engine: 'onnx', warmup: false });
  backends.push(backend);
  const req = (id: number) => ({ inputIds: Int32Array.from([id, 2, 3, 4]), batch: 1, seq: 4 });
  const reference = await backend.forward(req(1));

  // Posted back to back: the worker is busy with the first when the cancels arrive, so the
  // others are dropped from its queue (or, if it got to them, their results are dropped).
  const kept = backend.forward(req(1));
  const controllers = [new AbortController(), new AbortController()];
  // allSettled attaches the handlers now: the second pass may reject while the first is awaited
  const cancelled = Promise.allSettled(controllers.map((c, i) => backend.forward(req(10 + i), c.signal)));
  const afterThem = backend.forward(req(1));
  for (const c of controllers) c.abort();
  for (const outcome of await cancelled) {
    assert.equal(outcome.status, 'rejected');
    assert.ok(outcome.status === 'rejected' && outcome.reason instanceof ForwardCancelledError, `rejected with ${String((outcome as PromiseRejectedResult).reason)}`);
  }
  for (const p of [kept, afterThem]) assert.deepEqual((await p).hiddenStates, reference.hiddenStates);
  assert.equal(backend.inFlight, 0);
  // Each cancelled pass got exactly one answer. Usually the worker drops or discards it
  // itself; when this thread is descheduled between posting and aborting (a loaded CI
  // machine), the worker may finish both first and their results are dropped here.
  const { skipped, discarded, late } = backend.cancelled;
  assert.equal(skipped + discarded + late, 2, JSON.stringify(backend.cancelled));

  // Cancelling a pass that already answered changes nothing; one cancelled before it is
  // posted never reaches the worker.
  const done = new AbortController();
  await backend.forward(req(1), done.signal);
  done.abort();
  await assert.rejects(backend.forward(req(1), done.signal), ForwardCancelledError);
  assert.equal(backend.inFlight, 0);
  assert.deepEqual((await backend.forward(req(1))).hiddenStates, reference.hiddenStates);
});

// ForwardQueue: one pass at a time in arrival order, a bound on waiting work, and
// cancellation of waiting work through an AbortSignal (it leaves at once, never runs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@tuned-lens/grpc-kit';
import { Gauge, Registry } from '@tuned-lens/metrics';
import { ForwardQueue } from '../src/forwardQueue';
import { ForwardCancelledError } from '../src/cancelled';

const settle = () => new Promise((r) => setImmediate(r));

function manualWork(started: string[], name: string) {
  let finish!: (v: string) => void;
  const work = () => {
    started.push(name);
    return new Promise<string>((r) => { finish = r; });
  };
  return { work, finish: (v = name) => finish(v) };
}

test('passes run one at a time in arrival order; the depth gauge counts running and waiting', async () => {
  const depth = new Gauge({ name: 'depth', help: 'h', registers: [new Registry()] });
  const q = new ForwardQueue(8, depth);
  const started: string[] = [];
  const a = manualWork(started, 'a'), b = manualWork(started, 'b');
  const pa = q.run(a.work), pb = q.run(b.work);
  await settle();
  assert.deepEqual(started, ['a']);
  assert.equal((await depth.get()).values[0].value, 2);
  a.finish();
  assert.equal(await pa, 'a');
  await settle();
  assert.deepEqual(started, ['a', 'b']);
  b.finish();
  assert.equal(await pb, 'b');
  assert.equal(q.size, 0);
  assert.equal((await depth.get()).values[0].value, 0);
});

test('aborting waiting work frees its slot at once and it never runs; running work keeps its slot', async () => {
  const q = new ForwardQueue(2);
  const started: string[] = [];
  const a = manualWork(started, 'a'), b = manualWork(started, 'b'), c = manualWork(started, 'c');
  const ca = new AbortController(), cb = new AbortController();
  const pa = q.run(a.work, ca.signal);
  const pb = q.run(b.work, cb.signal);
  await assert.rejects(q.run(c.work), (e: { code?: number }) => e.code === status.RESOURCE_EXHAUSTED);

  cb.abort();
  await assert.rejects(pb, ForwardCancelledError);
  assert.equal(q.size, 1);
  const pc = q.run(c.work); // the freed slot takes new work
  ca.abort(); // a's work has started: the signal is its business, the queue waits for it
  assert.equal(q.size, 2);
  a.finish();
  assert.equal(await pa, 'a');
  await settle();
  c.finish();
  assert.equal(await pc, 'c');
  assert.deepEqual(started, ['a', 'c'], 'b never ran');
  await assert.rejects(q.run(b.work, cb.signal), ForwardCancelledError, 'an aborted signal is refused up front');
  assert.equal(q.size, 0);
});

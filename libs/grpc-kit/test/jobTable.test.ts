// JobTable: limits, queue, cancel, watch, retention, shutdown, with jobs whose work is a
// promise the test resolves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { JobTable, TableJob } from '../src/jobTable';
import { createLogger } from '../src/logger';

const quiet = createLogger('test', { level: 'error', write: () => {} });

class Gate extends TableJob {
  private open!: (outcome: 'ok' | 'fail') => void;
  private readonly opened = new Promise<'ok' | 'fail'>((resolve) => { this.open = resolve; });
  steps = 0;

  finish(outcome: 'ok' | 'fail' = 'ok'): void {
    this.open(outcome);
  }

  step(): void {
    this.steps++;
    this.changedNow();
  }

  protected async execute(): Promise<void> {
    const stopped = new Promise<'stop'>((resolve) => this.cancelSignal.signal.addEventListener('abort', () => resolve('stop')));
    const how = await Promise.race([this.opened, stopped]);
    if (how === 'stop') this.setState('cancelled', 'stopped');
    else if (how === 'fail') throw Object.assign(new Error('boom'), { code: status.INTERNAL });
    else this.setState('succeeded', 'done');
  }
}

const settle = () => new Promise((r) => setImmediate(r));

test('at most maxRunning run; the rest queue up to maxQueued, then RESOURCE_EXHAUSTED; a finished job lets the next start', async () => {
  const t = new JobTable<Gate>({ what: 'gate', maxRunning: 1, maxQueued: 1, keepFinished: 10, log: quiet });
  const [a, b] = [t.add(new Gate()), t.add(new Gate())];
  assert.equal(a.state, 'running');
  assert.equal(b.state, 'queued');
  assert.throws(() => t.add(new Gate()), (e: { code: number; message: string }) => e.code === status.RESOURCE_EXHAUSTED && /1 gates are already waiting \(limit 1\)/.test(e.message));
  a.finish();
  await settle(); await settle();
  assert.equal(a.state, 'succeeded');
  assert.equal(b.state, 'running');
  b.finish('fail');
  await settle(); await settle();
  assert.equal(b.state, 'failed');
  assert.equal(b.message, 'boom', 'a thrown error becomes the failed state and its message');
  assert.deepEqual(Object.fromEntries(t.counts()), { queued: 0, running: 0, succeeded: 1, failed: 1, cancelled: 0 });
  const none = new JobTable<Gate>({ what: 'gate', maxRunning: 1, maxQueued: 0, keepFinished: 10, log: quiet });
  none.add(new Gate());
  assert.throws(() => none.add(new Gate()), (e: { code: number; message: string }) => e.code === status.RESOURCE_EXHAUSTED && /1 gates are running, the limit is 1/.test(e.message));
});

test('cancel: a queued job ends at once; a running one is asked and ends in its own time; unknown ids are NOT_FOUND', async () => {
  const t = new JobTable<Gate>({ what: 'gate', maxRunning: 1, maxQueued: 5, keepFinished: 10, log: quiet });
  const [a, b] = [t.add(new Gate()), t.add(new Gate())];
  t.cancel(b.id);
  assert.equal(b.state, 'cancelled');
  assert.equal(b.message, 'cancelled before it started');
  t.cancel(a.id);
  await settle();
  assert.equal(a.state, 'cancelled');
  assert.equal(a.message, 'stopped');
  assert.throws(() => t.get('nope'), (e: { code: number; message: string }) => e.code === status.NOT_FOUND && /no gate "nope" on this server/.test(e.message));
});

test('watch sends the status now, after changes, and the final one; it returns when the job ends or the client leaves', async () => {
  const t = new JobTable<Gate>({ what: 'gate', maxRunning: 1, maxQueued: 0, keepFinished: 10, log: quiet });
  const job = t.add(new Gate());
  const seen: string[] = [];
  const watching = t.watch(job.id, (j) => `${j.state}:${j.steps}`, async (s) => { seen.push(s); }, new Promise(() => {}));
  await settle();
  job.step();
  await settle();
  job.step();
  await settle();
  job.finish();
  await watching;
  assert.equal(seen[0], 'running:0');
  assert.equal(seen.at(-1), 'succeeded:2');
  assert.ok(seen.includes('running:1'));

  const other = t.add(new Gate());
  let leave!: () => void;
  const gone = new Promise<void>((r) => { leave = r; });
  const left = t.watch(other.id, (j) => j.state, async () => {}, gone);
  leave();
  await left; // returns although the job still runs
  assert.equal(other.state, 'running');
  other.finish();
});

test('retention: beyond keepFinished the oldest finished jobs are forgotten and onForget sees each', async () => {
  const forgotten: string[] = [];
  const t = new JobTable<Gate>({ what: 'gate', maxRunning: 5, maxQueued: 0, keepFinished: 2, log: quiet, onForget: (j) => forgotten.push(j.id) });
  const jobs = [0, 1, 2].map(() => t.add(new Gate()));
  for (const j of jobs) j.finish();
  await settle(); await settle();
  const fourth = t.add(new Gate());
  assert.deepEqual(forgotten, [jobs[0].id]);
  assert.deepEqual(t.list().map((j) => j.id), [jobs[1].id, jobs[2].id, fourth.id]);
  fourth.finish();
});

test('shutdown ends queued jobs, stops running ones and waits for them (bounded)', async () => {
  const t = new JobTable<Gate>({ what: 'gate', maxRunning: 1, maxQueued: 2, keepFinished: 10, log: quiet });
  const [a, b] = [t.add(new Gate()), t.add(new Gate())];
  await t.shutdown(1_000);
  assert.equal(a.state, 'cancelled');
  assert.equal(b.state, 'cancelled');
  assert.equal(b.message, 'the server is shutting down');
});

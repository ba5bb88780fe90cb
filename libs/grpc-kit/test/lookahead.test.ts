// The one-ahead ordered pipeline behind Extract (src/lookahead.ts), on a scripted
// source and computations the test settles by hand. Evidence is ordering only: what was
// read and started after the pending callbacks ran (setImmediate), no clocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lookahead } from '../src/async';

const settle = () => new Promise((r) => setImmediate(r));

/** A computation the test finishes: resolve / reject by item, signal recorded. */
function scripted() {
  const reads: number[] = [];
  const starts: number[] = [];
  const signals = new Map<number, AbortSignal>();
  const finish = new Map<number, { resolve(v: string): void; reject(e: Error): void }>();
  const source = (items: Array<number | Error>) => {
    let i = 0;
    return async () => {
      if (i >= items.length) return undefined;
      const item = items[i++];
      if (item instanceof Error) throw item;
      reads.push(item);
      return item;
    };
  };
  const compute = (item: number, signal: AbortSignal) => {
    starts.push(item);
    signals.set(item, signal);
    return new Promise<string>((resolve, reject) => finish.set(item, { resolve, reject }));
  };
  return { reads, starts, signals, finish, source, compute };
}

test('items come out in order with exactly one computed ahead of the one the consumer holds', async () => {
  const s = scripted();
  const pipe = new Lookahead(s.source([1, 2, 3, 4]), s.compute);
  const first = pipe.next();
  await settle();
  assert.deepEqual(s.starts, [1, 2], 'item 2 starts with item 1');
  s.finish.get(2)!.resolve('r2'); // finishing out of order changes nothing
  s.finish.get(1)!.resolve('r1');
  assert.equal(await first, 'r1');
  await settle();
  assert.deepEqual(s.reads, [1, 2], 'item 3 is not read while the consumer holds item 1');

  const second = pipe.next();
  await settle();
  assert.deepEqual(s.starts, [1, 2, 3]);
  assert.equal(await second, 'r2');
  const third = pipe.next();
  await settle();
  assert.deepEqual(s.starts, [1, 2, 3, 4]);
  s.finish.get(3)!.resolve('r3');
  assert.equal(await third, 'r3');
  const fourth = pipe.next();
  s.finish.get(4)!.resolve('r4');
  assert.equal(await fourth, 'r4');
  assert.equal(await pipe.next(), undefined, 'the end of the source');
  assert.equal(await pipe.next(), undefined);
  assert.deepEqual(s.reads, [1, 2, 3, 4]);
});

test('a read failure reaches the consumer after the items before it; nothing after it is read', async () => {
  const s = scripted();
  const bad = new Error('batch 2 is bad');
  const pipe = new Lookahead(s.source([1, bad, 3]), s.compute);
  const first = pipe.next();
  await settle();
  assert.deepEqual(s.starts, [1]);
  s.finish.get(1)!.resolve('r1');
  assert.equal(await first, 'r1');
  await assert.rejects(pipe.next(), bad);
  assert.equal(await pipe.next(), undefined);
  await settle();
  assert.deepEqual(s.reads, [1], 'item 3 is never read');
});

test('a computation failure reaches the consumer in its place, after the items before it', async () => {
  const s = scripted();
  const pipe = new Lookahead(s.source([1, 2, 3]), s.compute);
  const first = pipe.next();
  await settle();
  s.finish.get(2)!.reject(new RangeError('token id out of range')); // fails while item 1 is still computing
  s.finish.get(1)!.resolve('r1');
  assert.equal(await first, 'r1');
  await assert.rejects(pipe.next(), /token id out of range/);
});

test('close() aborts the item computed ahead and stops reading', async () => {
  const s = scripted();
  const pipe = new Lookahead(s.source([1, 2, 3]), s.compute);
  const first = pipe.next();
  await settle();
  s.finish.get(1)!.resolve('r1');
  assert.equal(await first, 'r1');
  assert.equal(s.signals.get(2)!.aborted, false);
  pipe.close();
  assert.equal(s.signals.get(2)!.aborted, true, 'the computation ahead sees the abort');
  // Its rejection is nobody's to report: no unhandled rejection may come of it.
  s.finish.get(2)!.reject(new Error('cancelled'));
  await settle();
  assert.equal(await pipe.next().catch(() => 'rejected'), 'rejected', 'the item ahead was abandoned');
  assert.equal(await pipe.next(), undefined);
  assert.deepEqual(s.reads, [1, 2], 'item 3 is never read');
});

test('depth 0: each item is read and computed only when the consumer asks for it', async () => {
  const s = scripted();
  const pipe = new Lookahead(s.source([1, 2]), s.compute, 0);
  const first = pipe.next();
  await settle();
  assert.deepEqual(s.starts, [1]);
  s.finish.get(1)!.resolve('r1');
  assert.equal(await first, 'r1');
  await settle();
  assert.deepEqual(s.reads, [1]);
  const second = pipe.next();
  await settle();
  assert.deepEqual(s.starts, [1, 2]);
  s.finish.get(2)!.resolve('r2');
  assert.equal(await second, 'r2');
  assert.equal(await pipe.next(), undefined);
});

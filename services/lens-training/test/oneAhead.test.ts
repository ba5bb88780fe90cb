// OneAhead: reads exactly one item ahead of its consumer, and a failure of the
// read-ahead reaches the consumer on its next call (not as an unhandled rejection).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OneAhead } from '../src/oneAhead';

/** A source that counts how many items have been asked for. */
function counting(items: number, failAt = -1) {
  const source = {
    asked: 0,
    async next(): Promise<IteratorResult<number>> {
      const i = source.asked++;
      if (i === failAt) throw new Error(`item ${i} failed`);
      return i < items ? { done: false, value: i } : { done: true, value: undefined };
    },
  };
  return source;
}

test('handing out item k asks for item k+1 and no further', async () => {
  const source = counting(3);
  const feed = new OneAhead(source);
  assert.equal(source.asked, 0, 'nothing is read before the first call');
  assert.deepEqual(await feed.next(), { done: false, value: 0 });
  assert.equal(source.asked, 2, 'item 1 is being read while the consumer works on item 0');
  assert.deepEqual(await feed.next(), { done: false, value: 1 });
  assert.equal(source.asked, 3);
  assert.deepEqual(await feed.next(), { done: false, value: 2 });
  assert.equal(source.asked, 4);
  assert.deepEqual(await feed.next(), { done: true, value: undefined });
  assert.equal(source.asked, 4, 'nothing is read after the end');
});

test('start() reads the first item early; later calls stay one ahead', async () => {
  const source = counting(2);
  const feed = new OneAhead(source);
  feed.start();
  feed.start();
  assert.equal(source.asked, 1);
  assert.deepEqual(await feed.next(), { done: false, value: 0 });
  assert.equal(source.asked, 2);
});

test('a failed read-ahead rejects the next call', async () => {
  const feed = new OneAhead(counting(5, 1));
  assert.deepEqual(await feed.next(), { done: false, value: 0 });
  await new Promise((r) => setImmediate(r)); // the read-ahead has failed by now, unobserved
  await assert.rejects(feed.next(), /item 1 failed/);
});

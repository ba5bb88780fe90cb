// readAhead: reads exactly one item ahead of its consumer, and a failure of the
// read-ahead reaches the consumer on its next call (not as an unhandled rejection).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readAhead } from '../src/async';

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

const settle = () => new Promise((r) => setImmediate(r));

test('handing out item k asks for item k+1 and no further', async () => {
  const source = counting(3);
  const feed = readAhead(source);
  assert.equal(source.asked, 0, 'nothing is read before the first call');
  assert.equal(await feed.next(), 0);
  await settle();
  assert.equal(source.asked, 2, 'item 1 is being read while the consumer works on item 0');
  assert.equal(await feed.next(), 1);
  await settle();
  assert.equal(source.asked, 3);
  assert.equal(await feed.next(), 2);
  await settle();
  assert.equal(source.asked, 4);
  assert.equal(await feed.next(), undefined);
  await settle();
  assert.equal(source.asked, 4, 'nothing is read after the end');
});

test('prime() reads the first item early; later calls stay one ahead', async () => {
  const source = counting(2);
  const feed = readAhead(source);
  feed.prime();
  feed.prime();
  await settle();
  assert.equal(source.asked, 1);
  assert.equal(await feed.next(), 0);
  await settle();
  assert.equal(source.asked, 2);
});

test('a failed read-ahead rejects the next call', async () => {
  const feed = readAhead(counting(5, 1));
  assert.equal(await feed.next(), 0);
  await settle(); // the read-ahead has failed by now, unobserved
  await assert.rejects(feed.next(), /item 1 failed/);
});

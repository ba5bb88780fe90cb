// Shared by the io tests: bad lens files must fail with a LensIOError of a given kind whose
// message says what is wrong.
import assert from 'node:assert/strict';
import { LensIOError } from '../src/io/index.js';

export function expectError(fn: () => unknown, kind: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LensIOError, `expected LensIOError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

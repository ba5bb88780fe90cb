// Shared by the zip and torch tests: bad archives must fail with a FormatError of a given
// kind whose message says what is wrong.
import assert from 'node:assert/strict';
import { FormatError, type FormatErrorKind } from '../src/index.js';

export function expectError(fn: () => unknown, kind: FormatErrorKind, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

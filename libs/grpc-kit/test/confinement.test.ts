import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { resolveFileInRoots, resolveDirInRoots, resolveOutputInRoots, status } from '../src/index';

const base = mkdtempSync(join(tmpdir(), 'confine-'));
const root = join(base, 'root');
const outside = join(base, 'outside');
mkdirSync(join(root, 'corpora'), { recursive: true });
mkdirSync(outside);
writeFileSync(join(root, 'corpora', 'a.jsonl'), '{"text":"x"}\n');
writeFileSync(join(outside, 'secret.txt'), 'secret');
symlinkSync(join(outside, 'secret.txt'), join(root, 'link-out'));
symlinkSync(outside, join(root, 'dir-out'));
symlinkSync(join(root, 'corpora', 'a.jsonl'), join(root, 'link-in'));
execFileSync('mkfifo', [join(root, 'fifo')]);
const cfg = { roots: [root] };
const code = (c: number) => (e: { code?: number }) => e.code === c;

test('relative and absolute paths inside the root resolve', () => {
  assert.equal(resolveFileInRoots('corpora/a.jsonl', cfg), join(root, 'corpora', 'a.jsonl'));
  assert.equal(resolveFileInRoots(join(root, 'corpora/a.jsonl'), cfg), join(root, 'corpora', 'a.jsonl'));
  assert.equal(resolveFileInRoots('link-in', cfg), join(root, 'corpora', 'a.jsonl'), 'a symlink staying inside is fine');
  assert.equal(resolveDirInRoots('corpora', cfg), join(root, 'corpora'));
});

test('every kind of escape is refused', () => {
  assert.throws(() => resolveFileInRoots('../outside/secret.txt', cfg), code(status.PERMISSION_DENIED));
  assert.throws(() => resolveFileInRoots('corpora/../../outside/secret.txt', cfg), code(status.PERMISSION_DENIED));
  assert.throws(() => resolveFileInRoots(join(outside, 'secret.txt'), cfg), code(status.PERMISSION_DENIED));
  assert.throws(() => resolveFileInRoots('/etc/passwd', cfg), code(status.PERMISSION_DENIED));
  assert.throws(() => resolveFileInRoots('link-out', cfg), code(status.PERMISSION_DENIED));
  assert.throws(() => resolveFileInRoots('dir-out/secret.txt', cfg), code(status.PERMISSION_DENIED));
  assert.throws(() => resolveOutputInRoots('dir-out/new-lens', cfg), code(status.PERMISSION_DENIED));
  assert.throws(() => resolveOutputInRoots('../x', cfg), code(status.PERMISSION_DENIED));
});

test('non-regular files, missing files and bad strings get clear errors', () => {
  assert.throws(() => resolveFileInRoots('fifo', cfg), code(status.INVALID_ARGUMENT));
  assert.throws(() => resolveFileInRoots('corpora', cfg), code(status.INVALID_ARGUMENT));
  assert.throws(() => resolveFileInRoots('nope.jsonl', cfg), (e: { code: number; message: string }) => e.code === status.NOT_FOUND && /nope\.jsonl/.test(e.message));
  assert.throws(() => resolveFileInRoots('', cfg), code(status.INVALID_ARGUMENT));
  assert.throws(() => resolveFileInRoots('a\0b', cfg), code(status.INVALID_ARGUMENT));
  assert.throws(() => resolveFileInRoots('x', { roots: [] }), code(status.PERMISSION_DENIED));
});

test('output paths may not exist yet but must stay inside', () => {
  assert.equal(resolveOutputInRoots('lenses/new', cfg), join(root, 'lenses', 'new'));
  assert.throws(() => resolveOutputInRoots('corpora/a.jsonl', cfg), code(status.INVALID_ARGUMENT));
});

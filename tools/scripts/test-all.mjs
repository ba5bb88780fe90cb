#!/usr/bin/env node
// The README's test command: module-boundary lint, type check, then every project's
// tests through nx, then one total over all projects ("N passed, N failed").
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const env = {
  ...process.env,
  NX_DAEMON: 'false',
  NX_NO_CLOUD: 'true',
  NX_TUI: 'false',
  GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.hugetlb=1',
};
const bin = (name) => join(root, 'node_modules', '.bin', name);

function step(title, cmd, args) {
  console.log(`\n== ${title}`);
  const run = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  return run.status === 0;
}

let ok = step('generated proto code is current', process.execPath, [join(root, 'tools/scripts/gen-proto.mjs'), '--check']);
ok = step('buf lint', bin('buf'), ['lint', 'proto']) && ok;
ok = step('module boundaries', process.execPath, [join(root, 'tools/scripts/lint-boundaries.mjs')]) && ok;
ok = step('type check (tsc --noEmit)', bin('tsc'), ['-p', 'tsconfig.json']) && ok;
rmSync(join(root, '.test-results'), { recursive: true, force: true });
const extra = process.argv.slice(2);
ok = step('tests (nx run-many -t test)', bin('nx'), [
  'run-many', '-t', 'test', '--parallel=1', '--skip-nx-cache', '--output-style=stream-without-prefixes', ...extra,
]) && ok;

let passed = 0, failed = 0, skipped = 0;
let files = [];
try { files = readdirSync(join(root, '.test-results')).filter((f) => f.endsWith('.tap')); } catch {}
for (const f of files) {
  const tap = readFileSync(join(root, '.test-results', f), 'utf8');
  // the runner's own closing lines; take the last of each (one run per file)
  const num = (k) => Number([...tap.matchAll(new RegExp(`^# ${k} (\\d+)$`, 'gm'))].at(-1)?.[1] ?? 0);
  passed += num('pass'); failed += num('fail'); skipped += num('skipped');
  console.log(`  ${f.replace(/\.tap$/, '')}: ${num('pass')} passed, ${num('fail')} failed`);
}
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(ok && failed === 0 && passed > 0 ? 0 : 1);

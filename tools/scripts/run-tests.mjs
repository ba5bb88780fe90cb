#!/usr/bin/env node
// Runs one project's tests with node's own test runner (through tsx, so .ts runs as is).
// Node 20's `--test` does not expand globs, so the test files are found here.
// Usage (from a project folder): node ../../tools/scripts/run-tests.mjs [dir ...]
// Besides the normal spec output, a TAP copy goes to <root>/.test-results/<project>.tap
// so tools/scripts/test-all.mjs can print one total for the whole workspace.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const projectDir = process.cwd();
const dirs = process.argv.slice(2).length ? process.argv.slice(2) : ['src', 'test'];

function findTests(dir, out = []) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries.sort()) {
    const full = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(full).isDirectory()) findTests(full, out);
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const files = dirs.flatMap((d) => findTests(join(projectDir, d))).map((f) => relative(projectDir, f));
const project = relative(root, projectDir).replaceAll('/', '-') || basename(projectDir);
const resultsDir = join(root, '.test-results');
mkdirSync(resultsDir, { recursive: true });
if (files.length === 0) {
  console.log(`${project}: no test files`);
  process.exit(0);
}
const args = [
  '--import', 'tsx', '--test', '--test-concurrency=1',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${join(resultsDir, project + '.tap')}`,
  ...files,
];
const env = { ...process.env, GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.hugetlb=1' };
const run = spawnSync(process.execPath, args, { stdio: 'inherit', env });
process.exit(run.status ?? 1);

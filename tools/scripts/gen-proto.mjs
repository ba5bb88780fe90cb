#!/usr/bin/env node
// Regenerates libs/proto/src/gen from proto/ with the protoc shipped in the npm `protoc`
// package and the ts-proto plugin (grpc-tools cannot install offline). The output is
// committed; `--check` regenerates into a temporary folder and fails on any difference,
// so a .proto edit without regenerating is caught in CI.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const protoDir = join(root, 'proto');
const genDir = join(root, 'libs/proto/src/gen');
const check = process.argv.includes('--check');

function list(dir, suffix, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) list(full, suffix, out);
    else if (name.endsWith(suffix)) out.push(full);
  }
  return out;
}

const protos = list(protoDir, '.proto').map((f) => relative(protoDir, f));
const outDir = check ? mkdtempSync(join(tmpdir(), 'proto-gen-')) : genDir;
if (!check) rmSync(genDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const options = [
  'outputServices=grpc-js',
  'env=node',
  'esModuleInterop=true',
  'forceLong=number',
  'oneof=unions',
  'useExactTypes=false',
  'outputJsonMethods=true',
  // Honour [jstype = JS_STRING]: such 64-bit fields are decimal strings in TypeScript
  // (every value round-trips) instead of numbers (above 2^53 the decoder throws).
  'useJsTypeOverride=true',
].join(',');
const run = spawnSync(join(root, 'node_modules/.bin/protoc'), [
  `--plugin=protoc-gen-ts_proto=${join(root, 'node_modules/.bin/protoc-gen-ts_proto')}`,
  `--ts_proto_out=${outDir}`,
  `--ts_proto_opt=${options}`,
  `-I`, protoDir,
  ...protos,
], { stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);

if (check) {
  const fresh = list(outDir, '.ts').map((f) => relative(outDir, f));
  const committed = list(genDir, '.ts').map((f) => relative(genDir, f));
  const diffs = [];
  for (const f of new Set([...fresh, ...committed])) {
    const a = existsSync(join(outDir, f)) ? readFileSync(join(outDir, f), 'utf8') : null;
    const b = existsSync(join(genDir, f)) ? readFileSync(join(genDir, f), 'utf8') : null;
    if (a !== b) diffs.push(a === null ? `${f}: committed but no longer generated` : b === null ? `${f}: generated but not committed` : `${f}: differs`);
  }
  rmSync(outDir, { recursive: true, force: true });
  if (diffs.length) {
    console.error('libs/proto/src/gen is stale; run `npm run gen:proto` and commit:');
    for (const d of diffs) console.error(`  ${d}`);
    process.exit(1);
  }
  console.log(`generated code is up to date (${fresh.length} files from ${protos.length} protos)`);
} else {
  console.log(`generated ${list(genDir, '.ts').length} files into ${relative(root, genDir)}`);
}

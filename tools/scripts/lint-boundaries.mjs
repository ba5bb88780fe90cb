#!/usr/bin/env node
// Enforces the Nx module boundaries from each project's tags (package.json "nx.tags"),
// the rules of @nx/enforce-module-boundaries without its plugin (the @nx/* plugins lag
// nx 24 in this registry and would pull a second nx):
//   type:proto   -> nothing of ours
//   type:lib     -> type:lib, type:proto
//   type:service -> type:lib, type:proto          (never another service)
//   type:tool    -> anything but type:tool         (the CLI composes services)
//   scope:X      -> scope:X or scope:shared        (tools may reach every scope)
// Test files (under a project's test/ folder) may also start other services: an
// integration test runs the real peers on loopback. They must be devDependencies.
// Every `@tuned-lens/<name>` import in a project's sources must also be declared in its
// package.json dependencies, so the npm/nx graph and the code agree.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const groups = ['libs', 'services', 'tools'];
const allowedTypes = {
  'type:proto': [],
  'type:lib': ['type:lib', 'type:proto'],
  'type:service': ['type:lib', 'type:proto'],
  'type:tool': ['type:lib', 'type:proto', 'type:service'],
};

const projects = new Map();
for (const g of groups) {
  if (!existsSync(join(root, g))) continue;
  for (const name of readdirSync(join(root, g))) {
    const pkgPath = join(root, g, name, 'package.json');
    if (!existsSync(pkgPath)) continue;
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
    const tags = pkg.nx?.tags ?? [];
    projects.set(pkg.name, { dir: join(root, g, name), pkg, tags });
  }
}

const problems = [];
const tagOf = (tags, prefix) => tags.find((t) => t.startsWith(prefix));
function* sourceFiles(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) yield* sourceFiles(full);
    else if (/\.(ts|mts|js|mjs)$/.test(name)) yield full;
  }
}

for (const [name, p] of projects) {
  const type = tagOf(p.tags, 'type:');
  const scope = tagOf(p.tags, 'scope:');
  if (!type || !(type in allowedTypes)) problems.push(`${name}: needs one tag of ${Object.keys(allowedTypes).join(', ')}`);
  if (!scope) problems.push(`${name}: needs a scope:* tag`);
  const declared = { ...p.pkg.dependencies, ...p.pkg.devDependencies };
  for (const file of sourceFiles(p.dir)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"](@tuned-lens\/[a-z0-9-]+)/g)) {
      const dep = m[1];
      if (dep === name) continue;
      const where = relative(root, file);
      const target = projects.get(dep);
      if (!target) { problems.push(`${where}: imports ${dep}, which is no project here`); continue; }
      if (!(dep in declared)) problems.push(`${where}: imports ${dep} but ${name}/package.json does not list it`);
      const tType = tagOf(target.tags, 'type:');
      const tScope = tagOf(target.tags, 'scope:');
      const isTest = relative(p.dir, file).split('/')[0] === 'test';
      const testHarness = isTest && tType === 'type:service' && dep in (p.pkg.devDependencies ?? {});
      if (type && !allowedTypes[type]?.includes(tType) && !testHarness) problems.push(`${where}: a ${type} project may not import ${dep} (${tType})`);
      if (type !== 'type:tool' && !testHarness && scope && tScope !== 'scope:shared' && tScope !== scope) {
        problems.push(`${where}: ${scope} may not import ${dep} (${tScope})`);
      }
    }
  }
}

if (problems.length) {
  console.error(`module boundaries: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`module boundaries: ${projects.size} projects, all imports allowed`);

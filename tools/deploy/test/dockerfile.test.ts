// infra/docker/Dockerfile: lint rules (no docker engine in CI) and the facts the
// manifests and the GPU story rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execForm, lintDockerfile, parseDockerfile, stagesOf, targetStages } from '../src/dockerfile';
import { dockerfilePath, dockerignorePath } from '../src/paths';

const text = readFileSync(dockerfilePath, 'utf8');
const targets = targetStages(text);
const target = (name: string) => {
  const s = targets.find((t) => t.name === name);
  assert.ok(s, `no build target "${name}"`);
  return s;
};
const last = (name: string, kw: string) => [...target(name).instructions].reverse().find((i) => i.keyword === kw);

test('Dockerfile passes the lint rules (pinned FROM, numeric non-root USER, no ADD of URLs, HEALTHCHECK, exec ENTRYPOINT, onnxruntime skip)', () => {
  assert.deepEqual(lintDockerfile(text), []);
});

test('the linter catches what it claims to catch', () => {
  const bad = [
    'FROM node:latest AS deps',
    'ADD https://example.invalid/x.tgz /x.tgz',
    'RUN npm ci',
    'FROM ubuntu AS final',
    'COPY --from=deps /app /app',
    'USER root',
    'ENTRYPOINT tuned-lens',
  ].join('\n');
  const rules = lintDockerfile(bad).map((p) => p.rule).sort();
  assert.deepEqual(rules, ['entrypoint', 'from-pinned', 'from-pinned', 'healthcheck', 'no-add-url', 'onnxruntime-skip', 'user']);
  // continuation lines, comments inside them, and ENV inherited from a named stage
  const ok = ['FROM node:20.20.2-slim AS a', 'ENV ONNXRUNTIME_NODE_INSTALL=skip', 'FROM a AS b', 'RUN npm ci \\', '  # comment', '  --omit=dev', 'USER 10001', 'HEALTHCHECK CMD ["true"]', 'ENTRYPOINT ["x"]'].join('\n');
  assert.deepEqual(lintDockerfile(ok), []);
  assert.equal(parseDockerfile(ok)[3].args, 'npm ci --omit=dev');
});

test('two build targets, cpu and gpu, each running `tuned-lens serve` as uid 10001', () => {
  assert.deepEqual(targets.map((t) => t.name).sort(), ['cpu', 'gpu']);
  for (const name of ['cpu', 'gpu']) {
    assert.deepEqual(execForm(last(name, 'ENTRYPOINT')!.args), ['tuned-lens']);
    assert.equal(execForm(last(name, 'CMD')!.args)![0], 'serve');
    assert.equal(last(name, 'USER')!.args, '10001:10001');
    assert.match(last(name, 'WORKDIR')!.args, /^\/app$/);
    assert.match(last(name, 'VOLUME')!.args, /"\/models".*"\/lenses"/);
    assert.match(last(name, 'HEALTHCHECK')!.args, /CMD \["tuned-lens", "health", "127\.0\.0\.1:50051"\]/);
  }
});

test('gpu target: CUDA 11.2 + cuDNN 8 base (libtensorflow 2.9.1 of tfjs-node-gpu 4.22) and tfjs-node-gpu built in; cpu target drops the tfjs native packages', () => {
  assert.match(target('gpu').image, /^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-/);
  const stages = stagesOf(parseDockerfile(text));
  const gpuDeps = stages.find((s) => s.name === 'gpu-deps')!;
  assert.ok(gpuDeps.instructions.some((i) => i.keyword === 'RUN' && /npm rebuild @tensorflow\/tfjs-node-gpu/.test(i.args)));
  const cpuDeps = stages.find((s) => s.name === 'cpu-deps')!;
  assert.ok(cpuDeps.instructions.some((i) => /rm -rf .*tfjs-node .*tfjs-node-gpu/.test(i.args)));
  const deps = stages.find((s) => s.name === 'deps')!;
  assert.ok(deps.instructions.some((i) => /npm ci --omit=dev --ignore-scripts/.test(i.args)));
  // the version in package.json is the one the CUDA base is chosen for
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  assert.match(pkg.optionalDependencies['@tensorflow/tfjs-node-gpu'], /^\^?4\.22\./);
});

test('the build context leaves out node_modules and .git but keeps every workspace', () => {
  const ignore = readFileSync(dockerignorePath, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  assert.ok(ignore.includes('**/node_modules'));
  assert.ok(ignore.includes('.git'));
  for (const ws of ['libs', 'services', 'tools']) assert.ok(!ignore.some((l) => l === ws || l.startsWith(`${ws}/`)), `${ws} must stay in the context`);
});

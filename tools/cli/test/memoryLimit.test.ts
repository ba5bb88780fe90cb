// A model refused by the memory check before loading: the commands that load it in
// process print the refusal and exit 1 (none hangs on a server left running), and
// `serve --memory-limit` keeps the activation service up, NOT_SERVING, saying why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { smallLmDir, tinyModelsDir, valCorpus } from '@tuned-lens/fixtures';
import { ActivationClient } from '@tuned-lens/clients';
import { checkHealth, status } from '@tuned-lens/grpc-kit';
import { serviceNames } from '@tuned-lens/proto';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'node_modules/.bin/tuned-lens');
const refusal = /model \S+ needs about \d+\.\d GiB to load \(.*\) but this process may use 0\.0 GiB \(TUNED_LENS_MEMORY_LIMIT_BYTES = 0\.0 GiB, /;

function run(args: string[]) {
  const env = { ...process.env, TUNED_LENS_MEMORY_LIMIT_BYTES: '1M', TUNED_LENS_LOG_LEVEL: 'error' };
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 90_000, env });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

const out = mkdtempSync(join(tmpdir(), 'cli-memory-'));
const commands: Array<[string, string[]]> = [
  ['extract', ['extract', '--model', join(tinyModelsDir, 'tiny-gpt2'), '--input-ids', '1,2,3', '--out', join(out, 'x.safetensors')]],
  ['predict', ['predict', '--model', smallLmDir, '--text', 'hello there']],
  ['loss', ['loss', '--model', smallLmDir, '--data', valCorpus]],
  ['eval', ['eval', '--model', smallLmDir, '--data', valCorpus, '--output', join(out, 'eval')]],
  ['train', ['train', '--model', smallLmDir, '--data', valCorpus, '--output', join(out, 'lens'), '--num-steps', '1']],
];
for (const [name, args] of commands) {
  test(`${name}: a model refused for memory is reported, exit 1`, () => {
    const r = run(args);
    assert.equal(r.signal, null, `${name} did not exit by itself: ${r.err}`);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, new RegExp(`^tuned-lens ${name}: ${refusal.source}`, 'm'));
  });
}

test('serve --memory-limit: the activation service stays up NOT_SERVING and answers with the refusal', async () => {
  const child = spawn(bin, ['serve', '--service', 'activation', '--model', smallLmDir, '--memory-limit', '16M', '--grace-ms', '500'], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TUNED_LENS_LOG_LEVEL: 'error' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (c) => reject(new Error(`serve exited ${c}: ${stderr}`)));
  });
  const address = /^activation grpc=(\S+) /.exec(line)![1];
  const client = new ActivationClient(address);
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const err = await client.info().then(() => undefined, (e: { code: number; details: string }) => e);
      assert.ok(err, 'the model must not load');
      if (err.code === status.FAILED_PRECONDITION) {
        assert.match(err.details, /may use 0\.0 GiB \(the memory limit option = 0\.0 GiB, /);
        break;
      }
      assert.equal(err.code, status.UNAVAILABLE, err.details); // still loading
      assert.ok(Date.now() < deadline, 'the refusal never came');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await checkHealth(address, serviceNames.activation), 'NOT_SERVING');
  } finally {
    client.close();
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('serve --memory-limit with a bad size is a usage error', () => {
  const r = spawnSync(bin, ['serve', '--service', 'activation', '--memory-limit', 'lots'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--memory-limit: "lots" is not a byte size/);
});

// The memory check before loading: the refusal's message (unit), then the activation
// service started with an artificially low limit on a fixture model (stays up,
// NOT_SERVING, FAILED_PRECONDITION naming both numbers, health still answered) and with
// a sufficient one (loads and serves).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { smallLmDir, tinyModelsDir } from '@tuned-lens/fixtures';
import { ActivationClient } from '@tuned-lens/clients';
import { checkHealth, createLogger, status } from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { estimateFromTensors, estimateLoadMemory, ONNX_LOAD_PLAN, type LoadPlan } from '@tuned-lens/models';
import { openCheckpoint } from '@tuned-lens/formats';
import { serviceNames } from '@tuned-lens/proto';
import { startActivationServer, type ActivationServer } from '../src/index';
import { checkLoadMemory, describeWeights, displayPath, gib, InsufficientMemoryError } from '../src/memory/loadCheck';
import { MEMORY_LIMIT_ENV } from '../src/memory/allowance';

const GiB = 2 ** 30;
const quiet = createLogger('test', { level: 'error', write: () => {} });
const servers: ActivationServer[] = [];
const work = mkdtempSync(join(tmpdir(), 'memory-check-'));
after(async () => {
  for (const s of servers) await s.shutdown(500);
  rmSync(work, { recursive: true, force: true });
});

describe('checkLoadMemory', () => {
  const dir = join(tinyModelsDir, 'tiny-llama');
  const need = gib(estimateLoadMemory(dir, ONNX_LOAD_PLAN).totalBytes);

  test('refuses with the need, the allowance and where both come from', () => {
    let err: unknown;
    try {
      checkLoadMemory(dir, { engine: 'onnx', override: 1024, env: {} });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof InsufficientMemoryError);
    const msg = err.message;
    assert.ok(msg.startsWith(`model ${displayPath(dir)} needs about ${need} to load (`), msg);
    assert.match(msg, /\(0\.0 GiB of BF16 weights; at its peak the onnx load holds runtime \d+\.\d GiB\)/, 'a tiny model is all runtime');
    assert.match(msg, / but this process may use 0\.0 GiB \(the memory limit option = 0\.0 GiB, \d+\.\d GiB already resident\); use a machine/);
    assert.match(msg, new RegExp(`${MEMORY_LIMIT_ENV} or --memory-limit`));
  });

  test('the weights described for a 7B-like BF16 checkpoint: every term of its peak, in GiB', () => {
    // Llama-2-7B's shapes: 32 layers, d 4096, MLP 11008, vocab 32000, untied head.
    const tensors = [{ dtype: 'BF16' as const, shape: [32000, 4096], bytes: 32000 * 4096 * 2 }, { dtype: 'BF16' as const, shape: [32000, 4096], bytes: 32000 * 4096 * 2 }];
    for (let i = 0; i < 32; i++) {
      for (let j = 0; j < 4; j++) tensors.push({ dtype: 'BF16', shape: [4096, 4096], bytes: 4096 * 4096 * 2 });
      for (let j = 0; j < 3; j++) tensors.push({ dtype: 'BF16', shape: [11008, 4096], bytes: 11008 * 4096 * 2 });
    }
    // A fixed plan (the load path of commit 4a89ba8), so updates of the shipped plans leave this test alone.
    const plan: LoadPlan = {
      name: 'onnx', keptBytesPerElement: { F32: 4, F16: 4, BF16: 4 }, keptAs: 'widened to f32', checkpointCopies: 1, paramsCopies: 1,
      engineCopies: 0.1, transientCopies: 0, transientHeadCopies: 1, inMemoryModel: { upToBytes: 1.5 * GiB, keptCopies: 1, transientCopies: 1 },
      unembeddingCopies: 3, tiedHeadCopies: 1, overheadBytes: 256 * 2 ** 20,
    };
    const e = estimateFromTensors(tensors, plan);
    assert.equal(describeWeights(e), '12.6 GiB of BF16 weights; at its peak the onnx load holds checkpoint data 12.6 GiB'
      + ' + params widened to f32 25.1 GiB + engine copy 2.5 GiB + unembedding copies 1.5 GiB + runtime 0.3 GiB');
    assert.equal(gib(e.totalBytes), '41.9 GiB');
  });

  test('passes with a summary when it fits; no verdict without a limit or on a broken checkpoint', () => {
    const ok = checkLoadMemory(dir, { engine: 'onnx', override: 1024 * GiB, env: {} })!;
    assert.match(ok.summary, new RegExp(`^memory check: needs about ${need} to load .* this process may use \\d+\\.\\d GiB`));
    assert.equal(checkLoadMemory(dir, { engine: 'onnx', override: 'max', env: {} }), undefined);
    assert.equal(checkLoadMemory(join(work, 'no-such-model'), { engine: 'onnx', override: 1024, env: {} }), undefined);
  });

  test('the checkpoint is named as given: relative to the working directory when under it', () => {
    assert.equal(displayPath('/srv/models/llama', '/home/me'), '/srv/models/llama');
    assert.equal(displayPath('/home/me/models/llama', '/home/me'), 'models/llama');
    assert.equal(displayPath('/home/me', '/home/me'), '.');
    assert.equal(displayPath('models/llama', '/anywhere'), 'models/llama');
  });
});

async function serve(modelDir: string, extra: Partial<Parameters<typeof startActivationServer>[0]> = {}) {
  const s = await startActivationServer({ modelDir, engine: 'onnx', logger: quiet, registry: new Registry(), metricsPort: 0, ...extra });
  servers.push(s);
  return s;
}

describe('the activation service with a memory limit', () => {
  test('too low: stays up NOT_SERVING, RPCs get FAILED_PRECONDITION with both numbers, health still answers', async () => {
    const need = gib(estimateLoadMemory(smallLmDir, ONNX_LOAD_PLAN).totalBytes);
    const server = await serve(smallLmDir, { memoryLimitBytes: 64 * 2 ** 20 });
    await assert.rejects(server.ready, (e: Error) => e.message.includes(`needs about ${need} to load`));
    assert.equal(await checkHealth(server.address, serviceNames.activation), 'NOT_SERVING');
    const client = new ActivationClient(server.address);
    try {
      for (const rpc of [() => client.info(), () => client.unembedding()]) {
        await assert.rejects(rpc(), (e: { code: number; details: string }) => {
          assert.equal(e.code, status.FAILED_PRECONDITION, e.details);
          assert.match(e.details, new RegExp(`^model could not be loaded: model \\S*small-lm needs about ${need.replace('.', '\\.')} to load \\(.*\\) but this process may use 0\\.0 GiB \\(the memory limit option = 0\\.1 GiB, `));
          return true;
        });
      }
    } finally {
      client.close();
    }
    assert.equal(await checkHealth(server.address, serviceNames.activation), 'NOT_SERVING', 'still up and answering health');
    assert.equal(await checkHealth(server.address), 'NOT_SERVING');
  });

  test(`${MEMORY_LIMIT_ENV} is read when no option is given`, async () => {
    const before = process.env[MEMORY_LIMIT_ENV];
    process.env[MEMORY_LIMIT_ENV] = '1M'; // the worker copies the environment when it starts
    try {
      const server = await serve(join(tinyModelsDir, 'tiny-gpt2'));
      await assert.rejects(server.ready, new RegExp(`may use 0\\.0 GiB \\(${MEMORY_LIMIT_ENV} = 0\\.0 GiB`));
    } finally {
      if (before === undefined) delete process.env[MEMORY_LIMIT_ENV];
      else process.env[MEMORY_LIMIT_ENV] = before;
    }
  });

  test('sufficient: loads, SERVING, the check in the load log, forward passes run', async () => {
    // A sharded copy of tiny-llama: the check sizes every shard from its header.
    const dir = join(work, 'tiny-llama-sharded');
    mkdirSync(dir);
    copyFileSync(join(tinyModelsDir, 'tiny-llama', 'config.json'), join(dir, 'config.json'));
    copyFileSync(join(tinyModelsDir, 'tiny-llama', 'model.safetensors'), join(dir, 'model-00001-of-00001.safetensors'));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({
      weight_map: Object.fromEntries(openCheckpoint(join(tinyModelsDir, 'tiny-llama')).names().map((n) => [n, 'model-00001-of-00001.safetensors'])),
    }));
    const server = await serve(dir, { memoryLimitBytes: 64 * GiB });
    const backend = await server.ready;
    assert.match((backend as { loadLog?: string }).loadLog ?? '', /memory check: needs about \d+\.\d GiB to load .* this process may use \d+\.\d GiB \(the memory limit option = 64\.0 GiB/);
    assert.equal(await checkHealth(server.address, serviceNames.activation), 'SERVING');
    const client = new ActivationClient(server.address);
    try {
      for await (const out of client.extract([{ batchId: 1, inputIds: Int32Array.from([1, 2, 3]), batch: 1, seq: 3 }])) {
        assert.equal(out.hiddenStates.size, 4);
      }
    } finally {
      client.close();
    }
  });
});

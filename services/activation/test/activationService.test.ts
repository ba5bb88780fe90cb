// Integration tests: the activation service as a real gRPC server on loopback, driven
// through the activation client, against the golden hidden states of every tiny
// checkpoint on both engines.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, mkdtempSync, mkdirSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { goldenDir, hfRealGoldenIndex, hfRealTinyModelNames, tinyModelsDir, tinyModelNames, fixturesRoot } from '@tuned-lens/fixtures';
import { ActivationClient } from '@tuned-lens/clients';
import { checkHealth, createLogger, status } from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { openCheckpoint } from '@tuned-lens/formats';
import { serviceNames } from '@tuned-lens/proto';
import { startActivationServer, type ActivationServer } from '../src/index';

const quiet = createLogger('test', { level: 'error', write: () => {} });
type GoldenIndex = {
  sequences: Record<string, number[]>;
  models: Record<string, { model_type: string; num_hidden_layers: number; files: Record<string, { path: string }> }>;
};
const index = JSON.parse(readFileSync(join(goldenDir, 'index.json'), 'utf8')) as GoldenIndex;
/** The tiny checkpoints with goldens from the real transformers (qwen3, gemma2, phi3). */
const hfRealIndex = JSON.parse(readFileSync(hfRealGoldenIndex, 'utf8')) as GoldenIndex;
const goldenSuites: Array<[GoldenIndex, readonly string[]]> = [[index, tinyModelNames], [hfRealIndex, hfRealTinyModelNames]];
const servers: ActivationServer[] = [];
after(async () => { for (const s of servers) await s.shutdown(500); });

async function serve(modelDir: string, engine: 'onnx' | 'tfjs', extra: Partial<Parameters<typeof startActivationServer>[0]> = {}) {
  const s = await startActivationServer({ modelDir, engine, logger: quiet, registry: new Registry(), metricsPort: 0, ...extra });
  servers.push(s);
  return s;
}

/** Same tolerance as libs/models golden.test.ts (see there): f32 wire adds no error. */
const TOL = 2e-5;
function assertClose(got: Float32Array, want: Float32Array, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
    if (!(e <= TOL)) assert.fail(`${what}[${i}]: ${got[i]} vs golden ${want[i]}`);
  }
}

for (const engine of ['onnx', 'tfjs'] as const) {
  for (const [gold, models] of goldenSuites) for (const model of models) {
    test(`Extract over gRPC: ${model} on ${engine} equals the goldens (all layers and logits)`, async () => {
      const server = await serve(join(tinyModelsDir, model), engine);
      await server.ready;
      const client = new ActivationClient(server.address);
      try {
        const info = await client.info();
        assert.equal(info.architecture, gold.models[model].model_type);
        assert.equal(info.numLayers, gold.models[model].num_hidden_layers);
        assert.match(info.engine, engine === 'onnx' ? /^onnxruntime/ : /^tfjs/);
        const seqs = Object.entries(gold.sequences);
        const batches = seqs.map(([, ids], i) => ({ batchId: i + 10, inputIds: Int32Array.from(ids), batch: 1, seq: ids.length }));
        let n = 0;
        for await (const out of client.extract(batches, { logits: true, maxChunkBytes: 4096 })) {
          const [seqName] = seqs[n];
          assert.equal(out.batchId, n + 10);
          const golden = openCheckpoint(join(fixturesRoot, gold.models[model].files[seqName].path));
          for (let i = 0; i <= info.numLayers; i++) assertClose(out.hiddenStates.get(i)!, golden.getF32(`hidden_states.${i}`), `${seqName} hidden_states.${i}`);
          assertClose(out.logits!, golden.getF32('logits'), `${seqName} logits`);
          n++;
        }
        assert.equal(n, seqs.length);
      } finally {
        client.close();
      }
    });
  }
}

test('health follows loading; unembedding and info agree; wire dtypes and layer selection', async () => {
  const server = await serve(join(tinyModelsDir, 'tiny-gpt2'), 'onnx');
  await server.ready;
  assert.equal(await checkHealth(server.address, serviceNames.activation), 'SERVING');
  const client = new ActivationClient(server.address);
  try {
    const info = await client.info();
    const u = await client.unembedding();
    assert.equal(u.header.unembedHash, info.unembedHash);
    assert.deepEqual(u.header.tensorNames, ['final_norm.weight', 'final_norm.bias', 'lm_head.weight']);
    assert.deepEqual(u.tensors.get('lm_head.weight')!.shape, [4096, 64]);
    // Tied head: W_U equals wte as stored in the checkpoint.
    const wte = openCheckpoint(join(tinyModelsDir, 'tiny-gpt2')).getF32('transformer.wte.weight');
    assert.deepEqual(u.tensors.get('lm_head.weight')!.data, wte);

    const ids = Int32Array.from(index.sequences.seq7);
    const [f32] = await collect(client.extract([{ batchId: 1, inputIds: ids, batch: 1, seq: 7 }], { layers: [2, 0] }));
    assert.deepEqual([...f32.hiddenStates.keys()], [0, 2]);
    const [f16] = await collect(client.extract([{ batchId: 1, inputIds: ids, batch: 1, seq: 7 }], { layers: [2], dtype: 'F16' }));
    const a = f32.hiddenStates.get(2)!, b = f16.hiddenStates.get(2)!;
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 2 ** -11 * Math.abs(a[i]) + 1e-7, `f16 ${i}`);
  } finally {
    client.close();
  }
});

test('bad requests get clear errors and the server keeps serving', async () => {
  const server = await serve(join(tinyModelsDir, 'tiny-gpt2'), 'onnx', { limits: { maxTokensPerBatch: 200 } });
  await server.ready;
  const client = new ActivationClient(server.address);
  const run = (batch: { inputIds: Int32Array; batch: number; seq: number }, opts = {}) => collect(client.extract([{ batchId: 1, ...batch }], opts));
  const code = (c: number, re: RegExp) => (e: { code?: number; details?: string }) => {
    assert.equal(e.code, c, e.details); assert.match(e.details ?? '', re); return true;
  };
  try {
    await assert.rejects(run({ inputIds: Int32Array.from([1, 4096]), batch: 1, seq: 2 }), code(status.INVALID_ARGUMENT, /token id 4096 .* outside the vocabulary/));
    await assert.rejects(run({ inputIds: Int32Array.from([1, -1]), batch: 1, seq: 2 }), code(status.INVALID_ARGUMENT, /-1/));
    await assert.rejects(run({ inputIds: new Int32Array(129), batch: 1, seq: 129 }), code(status.INVALID_ARGUMENT, /context length 128/));
    await assert.rejects(run({ inputIds: new Int32Array(201), batch: 3, seq: 67 }), code(status.RESOURCE_EXHAUSTED, /201 tokens, the limit is 200/));
    await assert.rejects(run({ inputIds: new Int32Array(4), batch: 1, seq: 4 }, { layers: [9] }), code(status.INVALID_ARGUMENT, /layer 9 is out of range: .* 0\.\.3/));
    const [ok] = await run({ inputIds: new Int32Array(4), batch: 1, seq: 4 });
    assert.equal(ok.hiddenStates.size, 4);
  } finally {
    client.close();
  }
});

test('bad checkpoints: the server stays up, NOT_SERVING, and says what is wrong', async () => {
  const work = mkdtempSync(join(tmpdir(), 'bad-ckpt-'));
  const cases: Array<[string, (dir: string) => void, RegExp]> = [
    ['truncated', (d) => { const b = readFileSync(join(tinyModelsDir, 'tiny-gpt2', 'model.safetensors')); writeFileSync(join(d, 'model.safetensors'), b.subarray(0, b.length - 100)); }, /model\.safetensors/],
    ['config-not-json', (d) => { writeFileSync(join(d, 'config.json'), '{ nope'); }, /config\.json/],
    ['unknown-type', (d) => { const c = JSON.parse(readFileSync(join(tinyModelsDir, 'tiny-gpt2', 'config.json'), 'utf8')); c.model_type = 'mamba'; writeFileSync(join(d, 'config.json'), JSON.stringify(c)); }, /mamba.*gpt2/s],
    ['wrong-shape', (d) => { const c = JSON.parse(readFileSync(join(tinyModelsDir, 'tiny-gpt2', 'config.json'), 'utf8')); c.n_embd = 96; c.n_head = 4; writeFileSync(join(d, 'config.json'), JSON.stringify(c)); }, /has shape \[4096, 64\] but the config .* needs \[4096, 96\]/],
  ];
  for (const [name, breakIt, re] of cases) {
    const dir = join(work, name);
    mkdirSync(dir);
    copyFileSync(join(tinyModelsDir, 'tiny-gpt2', 'config.json'), join(dir, 'config.json'));
    copyFileSync(join(tinyModelsDir, 'tiny-gpt2', 'model.safetensors'), join(dir, 'model.safetensors'));
    breakIt(dir);
    const server = await serve(dir, 'onnx');
    await assert.rejects(server.ready, re, name);
    assert.equal(await checkHealth(server.address, serviceNames.activation), 'NOT_SERVING', name);
    const client = new ActivationClient(server.address);
    await assert.rejects(client.info(), (e: { code: number; details: string }) => e.code === status.FAILED_PRECONDITION && re.test(e.details), name);
    client.close();
  }
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

// A failing input source ends the call with the source's error instead of hanging.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { createLogger } from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { startActivationServer } from '@tuned-lens/activation-service';
import { startTokenizerServer } from '@tuned-lens/tokenizer-service';
import { ActivationClient, TokenizerClient } from '../src/index';

const quiet = createLogger('test', { level: 'error', write: () => {} });
const stops: Array<() => Promise<void>> = [];
after(async () => { for (const s of stops) await s(); });

test('ActivationClient.extract: a throwing batch source rejects with its error', async () => {
  const s = await startActivationServer({ modelDir: join(tinyModelsDir, 'tiny-gpt2'), engine: 'onnx', logger: quiet, registry: new Registry() });
  stops.push(() => s.shutdown(200));
  await s.ready;
  const client = new ActivationClient(s.address);
  async function* batches() {
    yield { batchId: 1, inputIds: Int32Array.from([1, 2, 3]), batch: 1, seq: 3 };
    throw new Error('the corpus went away');
  }
  await assert.rejects((async () => { for await (const _ of client.extract(batches())) { /* drain */ } })(), /the corpus went away/);
  client.close();
});

test('TokenizerClient.chunkAndTokenize: a throwing document source rejects with its error', async () => {
  const s = await startTokenizerServer({ tokenizerDir: join(tinyModelsDir, 'tiny-gpt2'), logger: quiet, registry: new Registry() });
  stops.push(() => s.shutdown(200));
  await s.ready;
  const client = new TokenizerClient(s.address);
  async function* docs() {
    yield ['one document'];
    throw new Error('reader failed');
  }
  await assert.rejects((async () => { for await (const _ of client.chunkAndTokenize({ maxSeqLen: 8 }, docs())) { /* drain */ } })(), /reader failed/);
  client.close();
});

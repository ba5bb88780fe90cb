// The real tokenizer and activation services on loopback for this service's tests
// (integration tests may start peer services: see tools/scripts/lint-boundaries.mjs),
// plus the same tokenizer and model loaded in-process for the independent, offline
// side of the comparisons.
import { createHash } from 'node:crypto';
import { createLogger, type RunningServer } from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { loadTokenizer, type LoadedTokenizer } from '@tuned-lens/tokenization';
import { loadModel, ModelRunner, type LoadedModel } from '@tuned-lens/models';
import { OnnxEngine } from '@tuned-lens/engine';
import { startTokenizerServer } from '@tuned-lens/tokenizer-service';
import { startActivationServer } from '@tuned-lens/activation-service';

export const quiet = createLogger('test', { level: 'error', write: () => {} });

/** The tokenizer service for `dir` (corpora inside `dataRoot`), and the tokenizer in-process. */
export async function startTokenizer(dir: string, dataRoot: string): Promise<RunningServer & { tokenizer: LoadedTokenizer }> {
  const server = await startTokenizerServer({ tokenizerDir: dir, dataRoots: [dataRoot], logger: quiet, registry: new Registry() });
  await server.ready;
  return { ...server, tokenizer: await loadTokenizer(dir) };
}

/** The activation service for a checkpoint (onnx), and the model in-process (`runner`) for offline checks. */
export async function startActivation(modelDir: string): Promise<RunningServer & { model: LoadedModel; runner: ModelRunner }> {
  const server = await startActivationServer({ modelDir, engine: 'onnx', logger: quiet, registry: new Registry(), warmup: false });
  await server.ready;
  const model = await loadModel(modelDir);
  const runner = new ModelRunner(model, new OnnxEngine());
  const shutdown = server.shutdown;
  return { ...server, model, runner, async shutdown(ms?: number) { await shutdown(ms); await runner.dispose(); } };
}

/** sha256 of W_U's f32 bytes (our unembedding hash), for lens configs in tests. */
export function unembedSha256(model: LoadedModel): string {
  const w = model.unembedding().lmHead;
  return createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest('hex');
}

// Stand-in tokenizer and activation gRPC servers for this service's tests, built on the
// same libraries the real services use (tokenization + data, models + engine + wire),
// on loopback. A service may not import another service (module boundaries hold for
// tests too); the real tokenizer and activation services are exercised together with
// this one in tools/cli/test (eval-*.test.ts, predict-*.test.ts).
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { ServerDuplexStream, ServerWritableStream } from '@grpc/grpc-js';
import { activationV1, tensorV1, tokenizerV1, protoFiles, serviceNames } from '@tuned-lens/proto';
import {
  bidiStreamHandler, createLogger, serverStreamHandler, startServer, unaryHandler, writeMessage, invalidArgument,
  type RunningServer,
} from '@tuned-lens/grpc-kit';
import { Registry } from '@tuned-lens/metrics';
import { loadTokenizer, type LoadedTokenizer } from '@tuned-lens/tokenization';
import { chunkAndTokenize, planChunking, readCorpus } from '@tuned-lens/data';
import { loadModel, ModelRunner, type LoadedModel } from '@tuned-lens/models';
import { OnnxEngine } from '@tuned-lens/engine';
import { activationServiceDefinition, toTensorChunks } from '@tuned-lens/wire';
import { decodeTokenIds } from '@tuned-lens/tensor';

export const quiet = createLogger('test', { level: 'error', write: () => {} });

/** A tokenizer server: Encode, Decode, GetTokenizerInfo, ChunkAndTokenize over files in `dataRoot`. */
export async function startStandInTokenizer(dir: string, dataRoot: string): Promise<RunningServer & { tokenizer: LoadedTokenizer }> {
  const tokenizer = await loadTokenizer(dir);
  const impl: tokenizerV1.TokenizerServiceServer = {
    getTokenizerInfo: unaryHandler('GetTokenizerInfo', quiet, async () => ({
      name: tokenizer.name, vocabSize: tokenizer.vocabSize, eosToken: tokenizer.eosToken ?? '', eosTokenId: tokenizer.eosTokenId ?? -1,
      bosToken: tokenizer.bosToken ?? '', bosTokenId: tokenizer.bosTokenId ?? -1, modelMaxLength: tokenizer.modelMaxLength ?? 0,
      tokenizerSha256: tokenizer.tokenizerSha256 ?? '',
    })),
    encode: unaryHandler('Encode', quiet, async (req: tokenizerV1.EncodeRequest) => ({
      encodings: req.inputs.map((i) => {
        if (i.kind?.$case !== 'text' || i.kind.text === '') throw invalidArgument('empty');
        return { ids: Array.from(tokenizer.encode(i.kind.text, { addSpecialTokens: req.addSpecialTokens })), tokens: [] };
      }),
    })),
    decode: unaryHandler('Decode', quiet, async (req: tokenizerV1.DecodeRequest) => ({
      texts: req.sequences.map((s) => tokenizer.decode(s.ids, { skipSpecialTokens: req.skipSpecialTokens })),
    })),
    chunkAndTokenize: bidiStreamHandler('ChunkAndTokenize', quiet, async (call: ServerDuplexStream<tokenizerV1.ChunkAndTokenizeRequest, tokenizerV1.ChunkAndTokenizeResponse>) => {
      const it = call.iterator({ destroyOnReturn: false }) as AsyncIterator<tokenizerV1.ChunkAndTokenizeRequest>;
      const first = await it.next();
      if (first.done || first.value.payload?.$case !== 'config') throw invalidArgument('config first');
      const cfg = first.value.payload.config;
      const plan = planChunking(tokenizer, { maxSeqLen: cfg.maxSeqLen || undefined });
      await writeMessage(call, { frame: { $case: 'start', start: { chunkSize: plan.chunkSize, eosToken: plan.eosText } } });
      let sent = 0;
      for await (const ev of chunkAndTokenize(readCorpus(join(dataRoot, cfg.corpusPath)), tokenizer, plan)) {
        if (ev.type === 'summary' || (cfg.maxChunks > 0 && sent >= cfg.maxChunks)) {
          const t = ev.type === 'summary' ? ev : ev.totals;
          await writeMessage(call, { frame: { $case: 'summary', summary: {
            chunks: t.chunks, documents: t.documents, totalTokens: t.totalTokens, totalBytes: t.totalBytes,
            natsToBpb: t.totalTokens / t.totalBytes / Math.LN2, droppedTailTokens: t.droppedTailTokens, truncated: ev.type !== 'summary',
          } } });
          return;
        }
        const data = Buffer.from(ev.ids.buffer, ev.ids.byteOffset, ev.ids.byteLength);
        await writeMessage(call, { frame: { $case: 'chunks', chunks: {
          firstChunk: ev.index, documentsRead: ev.totals.documents, inputIds: { dtype: tensorV1.Dtype.DTYPE_I32, shape: [1, plan.chunkSize], data },
        } } });
        sent++;
      }
    }),
  };
  const server = await startServer({
    component: 'stand-in-tokenizer', logger: quiet, registry: new Registry(), servingAtStart: true,
    services: [{ name: serviceNames.tokenizer, definition: tokenizerV1.TokenizerServiceService, implementation: impl }],
    protoFiles: [protoFiles.tensor, protoFiles.tokenizer],
  });
  return { ...server, tokenizer };
}

const normKinds = {
  layer_norm: activationV1.NormKind.NORM_KIND_LAYER_NORM,
  rms_norm: activationV1.NormKind.NORM_KIND_RMS_NORM,
  rms_norm_plus_one: activationV1.NormKind.NORM_KIND_RMS_NORM_PLUS_ONE,
} as const;

/** An activation server for a checkpoint folder: GetModelInfo, GetUnembedding, Extract (F32). */
export async function startStandInActivation(modelDir: string): Promise<RunningServer & { model: LoadedModel; runner: ModelRunner }> {
  const model = await loadModel(modelDir);
  const runner = new ModelRunner(model, new OnnxEngine());
  const dims = model.dims;
  const u = model.unembedding();
  const info: activationV1.GetModelInfoResponse = {
    architecture: dims.modelType, modelName: model.name, numLayers: dims.numLayers, dModel: dims.dModel, vocabSize: dims.vocabSize,
    weightsDtype: tensorV1.Dtype.DTYPE_F32, contextLength: dims.contextLength, unembedHash: model.unembedHash(), engine: 'onnxruntime',
    finalNorm: normKinds[u.spec.norm],
  };
  const impl = {
    getModelInfo: unaryHandler('GetModelInfo', quiet, async () => info),
    getUnembedding: serverStreamHandler('GetUnembedding', quiet, async (call: ServerWritableStream<activationV1.GetUnembeddingRequest, activationV1.GetUnembeddingResponse>) => {
      const tensors: Array<[string, Float32Array | undefined, number[]]> = [
        ['final_norm.weight', u.normWeight, [dims.dModel]], ['final_norm.bias', u.normBias, [dims.dModel]],
        ['lm_head.weight', u.lmHead, [dims.vocabSize, dims.dModel]], ['lm_head.bias', u.lmHeadBias, [dims.vocabSize]],
      ];
      const present = tensors.filter(([, v]) => v) as Array<[string, Float32Array, number[]]>;
      await writeMessage(call, { frame: { $case: 'header', header: {
        finalNorm: normKinds[u.spec.norm], normEps: u.spec.eps, dModel: dims.dModel, vocabSize: dims.vocabSize,
        tensorNames: present.map(([n]) => n), unembedHash: info.unembedHash,
      } } });
      for (const [name, values, shape] of present) {
        for (const chunk of toTensorChunks(values, shape, 'F32')) await writeMessage(call, { frame: { $case: 'tensor', tensor: { name, chunk } } });
      }
    }),
    extract: bidiStreamHandler('Extract', quiet, async (call: ServerDuplexStream<activationV1.ExtractRequest, activationV1.ExtractResponse>) => {
      const it = call.iterator({ destroyOnReturn: false }) as AsyncIterator<activationV1.ExtractRequest>;
      const first = await it.next();
      if (first.done || first.value.payload?.$case !== 'config') throw invalidArgument('config first');
      const layers = first.value.payload.config.layers;
      for (;;) {
        const next = await it.next();
        if (next.done) return;
        if (next.value.payload?.$case !== 'batch') throw invalidArgument('batches after the config');
        const { batchId, inputIds } = next.value.payload.batch;
        const [b, t] = inputIds!.shape;
        const ids = decodeTokenIds(inputIds!.data, 'I32', { expected: b * t });
        const out = await runner.forward({ inputIds: ids, batch: b, seq: t, layers, convention: 'hf' });
        for (const [layer, values] of out.hiddenStates) {
          for (const chunk of toTensorChunks(values, [b, t, dims.dModel], 'F32')) {
            await writeMessage(call, { frame: { $case: 'chunk', chunk: { batchId, kind: activationV1.OutputKind.OUTPUT_KIND_HIDDEN_STATE, layer, chunk } } });
          }
        }
        await writeMessage(call, { frame: { $case: 'batchDone', batchDone: { batchId, forwardSeconds: out.seconds, tokens: b * t } } });
      }
    }),
  };
  const server = await startServer({
    component: 'stand-in-activation', logger: quiet, registry: new Registry(), servingAtStart: true,
    services: [{ name: serviceNames.activation, definition: activationServiceDefinition(), implementation: impl }],
    protoFiles: [protoFiles.tensor, protoFiles.activation],
  });
  const shutdown = server.shutdown;
  return { ...server, model, runner, async shutdown(ms?: number) { await shutdown(ms); await runner.dispose?.(); } };
}

/** sha256 of W_U's f32 bytes (our unembedding hash), for lens configs in tests. */
export function unembedSha256(model: LoadedModel): string {
  const w = model.unembedding().lmHead;
  return createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest('hex');
}

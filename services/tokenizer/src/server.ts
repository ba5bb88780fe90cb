/** Starts the tokenizer service: one tokenizer folder, loaded once, served over gRPC. */
import type { handleBidiStreamingCall, handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { protoFiles, serviceNames, tokenizerV1 } from '@tuned-lens/proto';
import { listenOptions, createLogger, serveWhenReady, startServer, unaryHandler, bidiStreamHandler, type Logger, type RunningServer, type ServerTlsConfig } from '@tuned-lens/grpc-kit';
import type { Registry } from '@tuned-lens/metrics';
import { defaultThreads, SerializedResponse, TokenizerHolder, type EncodeReply } from './tokenizerHolder';
import { defaultLimits, type TokenizerLimits } from './limits';
import { decode, encode, tokenizerInfo } from './encodeDecode';
import { ChunkStreams } from './chunkAndTokenize';

export interface TokenizerServerOptions {
  /** Folder with tokenizer.json (+ tokenizer_config.json, special_tokens_map.json). */
  tokenizerDir: string;
  /** Folders a ChunkAndTokenize corpus_path may point into; none = only streamed documents. */
  dataRoots?: string[];
  /** Worker threads that tokenize (all but small requests). Default min(2, available cores). */
  threads?: number;
  host?: string;
  port?: number;
  metricsPort?: number | null;
  tls?: ServerTlsConfig;
  allowPlaintext?: boolean;
  limits?: Partial<TokenizerLimits>;
  maxMessageBytes?: number;
  logger?: Logger;
  registry?: Registry;
}

export interface TokenizerServer extends RunningServer {
  /** Resolves when the tokenizer is loaded (rejects with the load error). */
  ready: Promise<void>;
}

/** The service's handlers; Encode may answer with a response a worker serialized. */
export interface TokenizerImplementation extends UntypedServiceImplementation {
  getTokenizerInfo: handleUnaryCall<tokenizerV1.GetTokenizerInfoRequest, tokenizerV1.GetTokenizerInfoResponse>;
  encode: handleUnaryCall<tokenizerV1.EncodeRequest, EncodeReply>;
  decode: handleUnaryCall<tokenizerV1.DecodeRequest, tokenizerV1.DecodeResponse>;
  chunkAndTokenize: handleBidiStreamingCall<tokenizerV1.ChunkAndTokenizeRequest, tokenizerV1.ChunkAndTokenizeResponse>;
}

/** The generated definition, with Encode sending a worker's serialized response as it is. */
const encodeMethod = tokenizerV1.TokenizerServiceService.encode;
export const tokenizerServiceDefinition = {
  ...tokenizerV1.TokenizerServiceService,
  encode: {
    ...encodeMethod,
    responseSerialize: (reply: EncodeReply): Buffer => (reply instanceof SerializedResponse
      ? Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength)
      : encodeMethod.responseSerialize(reply)),
  },
};

/** An AbortSignal that fires when the client cancels the call (or its deadline passes). */
function cancellation(call: { cancelled: boolean; once(event: 'cancelled', listener: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  if (call.cancelled) controller.abort();
  else call.once('cancelled', () => controller.abort());
  return controller.signal;
}

export function tokenizerImplementation(holder: TokenizerHolder, limits: TokenizerLimits, dataRoots: string[], log: Logger): TokenizerImplementation {
  const streams = new ChunkStreams(holder, limits, dataRoots, log);
  return {
    getTokenizerInfo: unaryHandler('GetTokenizerInfo', log, async () => tokenizerInfo(holder)),
    encode: unaryHandler('Encode', log, (req: tokenizerV1.EncodeRequest, call) => encode(holder, req, limits, cancellation(call))),
    decode: unaryHandler('Decode', log, (req: tokenizerV1.DecodeRequest, call) => decode(holder, req, limits, cancellation(call))),
    chunkAndTokenize: bidiStreamHandler('ChunkAndTokenize', log, (call) => streams.handle(call)),
  };
}

export async function startTokenizerServer(opts: TokenizerServerOptions): Promise<TokenizerServer> {
  const log = opts.logger ?? createLogger('tokenizer');
  const limits = { ...defaultLimits, ...opts.limits };
  const threads = opts.threads ?? defaultThreads();
  const holder = new TokenizerHolder(opts.tokenizerDir, threads, log);
  const running = await startServer({
    component: 'tokenizer',
    logger: log,
    registry: opts.registry,
    ...listenOptions(opts),
    services: [{
      name: serviceNames.tokenizer,
      definition: tokenizerServiceDefinition,
      implementation: tokenizerImplementation(holder, limits, opts.dataRoots ?? [], log),
    }],
    protoFiles: [protoFiles.tensor, protoFiles.tokenizer],
  });
  const ready = serveWhenReady(holder, running, log, 'tokenizer').then(({ tokenizer: t }) => {
    log.info('tokenizer loaded', { name: t.name, vocab: t.vocabSize, eos: t.eosToken, modelMaxLength: t.modelMaxLength, threads });
  });
  ready.catch(() => {});
  return {
    ...running,
    ready,
    shutdown: async (graceMs) => {
      await running.shutdown(graceMs);
      await holder.close();
    },
  };
}

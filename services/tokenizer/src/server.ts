/** Starts the tokenizer service: one tokenizer folder, loaded once, served over gRPC. */
import { protoFiles, serviceNames, tokenizerV1 } from '@tuned-lens/proto';
import {
  createLogger, serveWhenReady, startServer, unaryHandler, bidiStreamHandler,
  type Logger, type RunningServer, type ServerTlsConfig,
} from '@tuned-lens/grpc-kit';
import type { Registry } from '@tuned-lens/metrics';
import { TokenizerHolder } from './tokenizerHolder';
import { defaultLimits, type TokenizerLimits } from './limits';
import { decode, encode, tokenizerInfo } from './encodeDecode';
import { ChunkStreams } from './chunkAndTokenize';

export interface TokenizerServerOptions {
  /** Folder with tokenizer.json (+ tokenizer_config.json, special_tokens_map.json). */
  tokenizerDir: string;
  /** Folders a ChunkAndTokenize corpus_path may point into; none = only streamed documents. */
  dataRoots?: string[];
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

export function tokenizerImplementation(holder: TokenizerHolder, limits: TokenizerLimits, dataRoots: string[], log: Logger): tokenizerV1.TokenizerServiceServer {
  const streams = new ChunkStreams(holder, limits, dataRoots, log);
  return {
    getTokenizerInfo: unaryHandler('GetTokenizerInfo', log, async () => tokenizerInfo(holder)),
    encode: unaryHandler('Encode', log, async (req: tokenizerV1.EncodeRequest) => encode(holder, req, limits)),
    decode: unaryHandler('Decode', log, async (req: tokenizerV1.DecodeRequest) => decode(holder, req, limits)),
    chunkAndTokenize: bidiStreamHandler('ChunkAndTokenize', log, (call) => streams.handle(call)),
  };
}

export async function startTokenizerServer(opts: TokenizerServerOptions): Promise<TokenizerServer> {
  const log = opts.logger ?? createLogger('tokenizer');
  const limits = { ...defaultLimits, ...opts.limits };
  const holder = new TokenizerHolder(opts.tokenizerDir);
  const running = await startServer({
    component: 'tokenizer',
    logger: log,
    registry: opts.registry,
    host: opts.host,
    port: opts.port,
    metricsPort: opts.metricsPort,
    tls: opts.tls,
    allowPlaintext: opts.allowPlaintext,
    maxMessageBytes: opts.maxMessageBytes,
    services: [{
      name: serviceNames.tokenizer,
      definition: tokenizerV1.TokenizerServiceService,
      implementation: tokenizerImplementation(holder, limits, opts.dataRoots ?? [], log),
    }],
    protoFiles: [protoFiles.tensor, protoFiles.tokenizer],
  });
  const ready = serveWhenReady(holder, running, log, 'tokenizer').then((t) => {
    log.info('tokenizer loaded', { name: t.name, vocab: t.vocabSize, eos: t.eosToken, modelMaxLength: t.modelMaxLength });
  });
  ready.catch(() => {});
  return { ...running, ready };
}

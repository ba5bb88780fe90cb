export { DEFAULT_MAX_MESSAGE_BYTES, MAX_CHUNK_BYTES, keepalive, serverChannelOptions, clientChannelOptions } from './channelOptions';
export {
  RpcError, invalidArgument, notFound, failedPrecondition, unavailable, permissionDenied, internal,
  resourceExhausted, toStatus, hasCode, errorText, errorCode,
} from './errors';
export { createLogger, LOG_FORMATS, type Logger, type LoggerOptions, type Level, type LogFormat } from './logger';
export { metricsInterceptor, splitPath } from './metricsInterceptor';
export { addReflection } from './reflection';
export {
  serverCredentials, clientCredentials, serverTlsFromEnv, clientTlsFromEnv,
  type ServerTlsConfig, type ClientTlsConfig,
} from './credentials';
export { startServer, listenOptions, type ListenOptions, type StartServerOptions, type RunningServer, type ServiceRegistration } from './server';
export { isLoopbackHost, parseAddress } from './address';
export { shutdownOnSignals, type Stoppable } from './shutdown';
export { createClient, deadlineIn, unary, waitForReady, type ClientOptions } from './client';
export { writeMessage, StreamClosedError } from './streams';
export { unaryHandler, serverStreamHandler, bidiStreamHandler, failStream } from './handlers';
export { status, Metadata } from '@grpc/grpc-js';
export { checkHealth, listServices } from './probes';
export { resolveFileInRoots, resolveDirInRoots, resolveOutputInRoots, type RootsConfig } from './confinement';
export { LoadingResource, serveWhenReady } from './loadingResource';
export { authInterceptor, bearerTokenInterceptor, authorize, parseTokenTable, loadTokenTable, clientTokenFromEnv, type TokenEntry } from './auth';
export { JobTable, TableJob, JOB_STATES, isFinished, newJobId, type JobState, type JobTableOptions } from './jobTable';
export { CancelledError, abortable, Lookahead, readAhead, type ReadNext, type Compute } from './async';
export { WorkerChannel, WorkerGoneError, type WorkerChannelOptions, type ToWorker, type FromWorker } from './workerChannel';
export { serveWorker, type WorkerService, type Handled } from './workerSide';

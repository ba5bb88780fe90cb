/**
 * One way to make clients: shared channel options (limits, keepalive, retries of
 * UNAVAILABLE), TLS from config, a deadline on every call, and promise helpers.
 */
import { Metadata, type CallOptions, type Client, type ChannelCredentials, type ServiceError, type ChannelOptions } from '@grpc/grpc-js';
import { clientChannelOptions } from './channelOptions';
import { clientCredentials, type ClientTlsConfig } from './credentials';
import { bearerTokenInterceptor, clientTokenFromEnv } from './auth';

export interface ClientOptions {
  tls?: ClientTlsConfig;
  /** Bearer token sent on every call (servers with authentication need one). */
  token?: string;
  credentials?: ChannelCredentials;
  maxMessageBytes?: number;
  channelOptions?: ChannelOptions;
}

type ClientCtor<C> = new (address: string, credentials: ChannelCredentials, options?: ChannelOptions) => C;

/** A typed client of a ts-proto generated service for `address` (host:port). */
export function createClient<C extends Client>(Ctor: ClientCtor<C>, address: string, opts: ClientOptions = {}): C {
  const channelOptions: ChannelOptions = { ...clientChannelOptions(opts.maxMessageBytes), ...opts.channelOptions };
  if (opts.tls?.serverNameOverride) channelOptions['grpc.ssl_target_name_override'] = opts.tls.serverNameOverride;
  // An interceptor rather than call credentials: grpc-js refuses call credentials on
  // plaintext channels, and loopback deployments are plaintext.
  const token = opts.token ?? clientTokenFromEnv();
  if (token) channelOptions.interceptors = [bearerTokenInterceptor(token)];
  return new Ctor(address, opts.credentials ?? clientCredentials(opts.tls), channelOptions);
}

/** Call options with a deadline `ms` from now. Every call of ours has one. */
export function deadlineIn(ms: number, extra: CallOptions = {}): CallOptions {
  return { ...extra, deadline: new Date(Date.now() + ms) };
}

type UnaryMethod<Req, Res> = (req: Req, metadata: Metadata, options: Partial<CallOptions>, cb: (err: ServiceError | null, res: Res) => void) => unknown;

/** Promise form of a generated unary method; `timeoutMs` becomes the deadline. */
export function unary<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, req: Req, opts: { timeoutMs?: number; metadata?: Metadata; callOptions?: CallOptions } = {}): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    method.call(client, req, opts.metadata ?? new Metadata(), deadlineIn(opts.timeoutMs ?? 30_000, opts.callOptions), (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** Waits until `client`'s channel is connected, or fails after `timeoutMs`. */
export function waitForReady(client: Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.waitForReady(new Date(Date.now() + timeoutMs), (err) => (err ? reject(new Error(`cannot connect to ${client.getChannel().getTarget()} within ${timeoutMs} ms: ${err.message}`)) : resolve()));
  });
}

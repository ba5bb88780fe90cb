/**
 * Optional bearer-token authentication. A server given a token table checks the
 * `authorization: Bearer <token>` metadata of every call except the health and
 * reflection services (probes and grpcurl stay open): no token -> UNAUTHENTICATED, an
 * unknown token -> UNAUTHENTICATED, a known token not allowed on this service ->
 * PERMISSION_DENIED. Tokens are compared in constant time and never logged.
 *
 * Token file: one token per line, optionally followed by the services it may call
 * (fully qualified names or prefixes ending in '*'); no list = every service.
 *   s3cr3t-trainer   tunedlens.training.v1.*  tunedlens.activation.v1.*
 *   s3cr3t-reader    tunedlens.lens.v1.LensService
 * Blank lines and lines starting with '#' are ignored.
 */
import { readFileSync } from 'node:fs';
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  InterceptingCall, Metadata, ServerInterceptingCall, status,
  type Interceptor, type ServerInterceptor,
} from '@grpc/grpc-js';
import { splitPath } from './metricsInterceptor';

export interface TokenEntry {
  /** sha256 of the token: the table never holds the secret itself. */
  digest: Buffer;
  /** Allowed services (exact names or 'prefix*'); empty = all. */
  services: string[];
}

const OPEN_SERVICES = ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

export function parseTokenTable(text: string, source = 'token file'): TokenEntry[] {
  const entries: TokenEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [token, ...services] = line.split(/\s+/);
    if (token.length < 16) throw new Error(`${source}:${i + 1}: a token must have at least 16 characters`);
    entries.push({ digest: digest(token), services });
  });
  if (entries.length === 0) throw new Error(`${source}: no tokens`);
  return entries;
}

export function loadTokenTable(file: string): TokenEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the token file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseTokenTable(text, file);
}

function allows(entry: TokenEntry, service: string): boolean {
  return entry.services.length === 0 || entry.services.some((s) => (s.endsWith('*') ? service.startsWith(s.slice(0, -1)) : s === service));
}

/** What a call's metadata is worth: undefined when allowed, else the status to answer. */
export function authorize(table: TokenEntry[], md: Metadata, path: string): { code: status; details: string } | undefined {
  const { service } = splitPath(path);
  if (OPEN_SERVICES.includes(service)) return undefined;
  const header = md.get('authorization')[0];
  const m = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
  if (!m) return { code: status.UNAUTHENTICATED, details: 'this server requires a bearer token: send "authorization: Bearer <token>" (the CLI reads TUNED_LENS_TOKEN or --token-file)' };
  const d = digest(m[1]);
  const entry = table.find((e) => timingSafeEqual(e.digest, d));
  if (!entry) return { code: status.UNAUTHENTICATED, details: 'the bearer token is not valid for this server' };
  if (!allows(entry, service)) return { code: status.PERMISSION_DENIED, details: `this token may not call ${service}` };
  return undefined;
}

/** The server interceptor: refuses calls before they reach a handler. */
export function authInterceptor(table: TokenEntry[]): ServerInterceptor {
  return (def, call) => {
    const intercepted: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (md, nextMd) => {
          const refused = authorize(table, md, def.path);
          if (refused) intercepted.sendStatus({ ...refused, metadata: new Metadata() });
          else nextMd(md);
        },
      }),
    });
    return intercepted;
  };
}

/** A client interceptor that sends `authorization: Bearer <token>` on every call. */
export function bearerTokenInterceptor(token: string): Interceptor {
  return (options, nextCall) => new InterceptingCall(nextCall(options), {
    start: (metadata, listener, next) => {
      metadata.set('authorization', `Bearer ${token}`);
      next(metadata, listener);
    },
  });
}

/** The client token from TUNED_LENS_TOKEN or the file named by TUNED_LENS_TOKEN_FILE. */
export function clientTokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TUNED_LENS_TOKEN) return env.TUNED_LENS_TOKEN.trim();
  if (env.TUNED_LENS_TOKEN_FILE) return readFileSync(env.TUNED_LENS_TOKEN_FILE, 'utf8').trim();
  return undefined;
}

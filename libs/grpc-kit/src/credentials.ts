/**
 * Transport security from files: TLS with a server certificate, or mutual TLS when a CA
 * for client certificates is given. Plaintext is allowed, and logged as such; operators
 * turn TLS on with the TUNED_LENS_TLS_* variables or CLI flags.
 */
import { readFileSync } from 'node:fs';
import { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';

export interface ServerTlsConfig {
  certFile: string;
  keyFile: string;
  /** CA bundle for client certificates; when set, clients must present one (mTLS). */
  clientCaFile?: string;
}

export interface ClientTlsConfig {
  /** CA that signed the server certificate; system roots when absent. */
  caFile?: string;
  /** Client certificate and key for mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** Expected server name when it differs from the address's host (e.g. connecting by IP). */
  serverNameOverride?: string;
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function serverCredentials(tls?: ServerTlsConfig): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const ca = tls.clientCaFile ? read(tls.clientCaFile, 'client CA') : null;
  return ServerCredentials.createSsl(
    ca,
    [{ cert_chain: read(tls.certFile, 'server certificate'), private_key: read(tls.keyFile, 'server key') }],
    ca !== null,
  );
}

export function clientCredentials(tls?: ClientTlsConfig): ChannelCredentials {
  if (!tls) return ChannelCredentials.createInsecure();
  return ChannelCredentials.createSsl(
    tls.caFile ? read(tls.caFile, 'CA') : null,
    tls.keyFile ? read(tls.keyFile, 'client key') : null,
    tls.certFile ? read(tls.certFile, 'client certificate') : null,
  );
}

/** TLS settings from TUNED_LENS_TLS_CERT / _KEY / _CLIENT_CA (server side). */
export function serverTlsFromEnv(env: NodeJS.ProcessEnv = process.env): ServerTlsConfig | undefined {
  const certFile = env.TUNED_LENS_TLS_CERT, keyFile = env.TUNED_LENS_TLS_KEY;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new Error('TLS needs both TUNED_LENS_TLS_CERT and TUNED_LENS_TLS_KEY');
  return { certFile, keyFile, clientCaFile: env.TUNED_LENS_TLS_CLIENT_CA || undefined };
}

/** TLS settings from TUNED_LENS_TLS_CA / _CLIENT_CERT / _CLIENT_KEY (client side). */
export function clientTlsFromEnv(env: NodeJS.ProcessEnv = process.env): ClientTlsConfig | undefined {
  const caFile = env.TUNED_LENS_TLS_CA;
  if (!caFile) return undefined;
  return {
    caFile,
    certFile: env.TUNED_LENS_TLS_CLIENT_CERT || undefined,
    keyFile: env.TUNED_LENS_TLS_CLIENT_KEY || undefined,
    serverNameOverride: env.TUNED_LENS_TLS_SERVER_NAME || undefined,
  };
}

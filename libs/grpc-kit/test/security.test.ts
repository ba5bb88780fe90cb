// Transport security and authentication over real gRPC on loopback: TLS and mutual TLS
// with certificates made here by openssl, and bearer tokens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tokenizerV1, protoFiles, serviceNames } from '@tuned-lens/proto';
import { Registry } from '@tuned-lens/metrics';
import {
  startServer, createClient, unary, checkHealth, unaryHandler, createLogger, status, parseTokenTable,
  type RunningServer, type ServerTlsConfig, type ClientOptions,
} from '../src/index';

const quiet = createLogger('test', { level: 'error', write: () => {} });
const dir = mkdtempSync(join(tmpdir(), 'tls-'));
const f = (n: string) => join(dir, n);
const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

/** A CA and a certificate signed by it (subjectAltName for loopback). */
function issue(ca: string, name: string, cn: string): void {
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-subj', `/CN=${cn}`, '-out', f(`${name}.csr`));
  writeFileSync(f(`${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.crt`), '-CAkey', f(`${ca}.key`), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`));
}
function makeCa(name: string): void {
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-subj', `/CN=${name}`, '-days', '2', '-out', f(`${name}.crt`));
}

const servers: RunningServer[] = [];
after(async () => { for (const s of servers) await s.shutdown(200); });

before(() => {
  makeCa('ca');
  makeCa('other-ca');
  issue('ca', 'server', 'localhost');
  issue('ca', 'client', 'trainer');
  issue('other-ca', 'rogue', 'rogue');
});

async function serve(extra: { tls?: ServerTlsConfig; authTokens?: ReturnType<typeof parseTokenTable> } = {}) {
  const s = await startServer({
    component: 'test', logger: quiet, registry: new Registry(), servingAtStart: true, ...extra,
    services: [{
      name: serviceNames.tokenizer, definition: tokenizerV1.TokenizerServiceService,
      implementation: {
        getTokenizerInfo: unaryHandler('GetTokenizerInfo', quiet, async () => tokenizerV1.GetTokenizerInfoResponse.fromPartial({ name: 'secure' })),
        encode: unaryHandler('Encode', quiet, async () => ({ encodings: [] })),
        decode: unaryHandler('Decode', quiet, async () => ({ texts: [] })),
        chunkAndTokenize: () => {},
      },
    }],
    protoFiles: [protoFiles.tensor, protoFiles.tokenizer],
  });
  servers.push(s);
  return s;
}

const info = async (address: string, opts: ClientOptions) => {
  const c = createClient(tokenizerV1.TokenizerServiceClient, address, opts);
  try { return await unary(c, c.getTokenizerInfo, {}, { timeoutMs: 3000 }); } finally { c.close(); }
};
const code = (c: number) => (e: { code?: number }) => e.code === c;

test('TLS: a client trusting the CA connects; plaintext and a wrong CA do not', async () => {
  const s = await serve({ tls: { certFile: f('server.crt'), keyFile: f('server.key') } });
  const addr = `localhost:${s.port}`;
  assert.equal((await info(addr, { tls: { caFile: f('ca.crt') } })).name, 'secure');
  await assert.rejects(info(addr, {}), code(status.UNAVAILABLE), 'plaintext client');
  await assert.rejects(info(addr, { tls: { caFile: f('other-ca.crt') } }), code(status.UNAVAILABLE), 'untrusted server certificate');
});

test('mutual TLS: only clients with a certificate from the client CA get in', async () => {
  const s = await serve({ tls: { certFile: f('server.crt'), keyFile: f('server.key'), clientCaFile: f('ca.crt') } });
  const addr = `localhost:${s.port}`;
  assert.equal((await info(addr, { tls: { caFile: f('ca.crt'), certFile: f('client.crt'), keyFile: f('client.key') } })).name, 'secure');
  await assert.rejects(info(addr, { tls: { caFile: f('ca.crt') } }), code(status.UNAVAILABLE), 'no client certificate');
  await assert.rejects(info(addr, { tls: { caFile: f('ca.crt'), certFile: f('rogue.crt'), keyFile: f('rogue.key') } }), code(status.UNAVAILABLE), 'certificate from another CA');
});

test('bearer tokens: missing or wrong -> UNAUTHENTICATED, not allowed here -> PERMISSION_DENIED, health stays open', async () => {
  const table = parseTokenTable('# tokens\nreader-token-0123456789 tunedlens.lens.v1.*\nadmin-token-0123456789abc\n');
  const s = await serve({ authTokens: table });
  await assert.rejects(info(s.address, {}), (e: { code: number; details: string }) => e.code === status.UNAUTHENTICATED && /bearer token/.test(e.details));
  await assert.rejects(info(s.address, { token: 'not-a-token-at-all-000' }), code(status.UNAUTHENTICATED));
  await assert.rejects(info(s.address, { token: 'reader-token-0123456789' }), (e: { code: number; details: string }) => e.code === status.PERMISSION_DENIED && /tunedlens\.tokenizer\.v1\.TokenizerService/.test(e.details));
  assert.equal((await info(s.address, { token: 'admin-token-0123456789abc' })).name, 'secure');
  assert.equal(await checkHealth(s.address, serviceNames.tokenizer), 'SERVING', 'probes need no token');
});

test('token files: short tokens and empty files are refused with the line', () => {
  assert.throws(() => parseTokenTable('short\n', 'tokens.txt'), /tokens\.txt:1: a token must have at least 16 characters/);
  assert.throws(() => parseTokenTable('# nothing\n', 'tokens.txt'), /tokens\.txt: no tokens/);
});

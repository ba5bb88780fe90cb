// components/tls-auth on top of the local and gpu overlays: every Deployment serves mutual
// TLS with the certificate from Secret tuned-lens-tls, checks and sends bearer tokens from
// Secret tuned-lens-auth, runs without --insecure, and probes with `tuned-lens health`
// (exec: native gRPC probes cannot do TLS). Nothing else changes. Schemas and the kubectl
// comparison of overlays/secure are in manifests.test.ts (it is in `kustomizations`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { renderKustomization, objectId, type K8sObject } from '../src/kustomize';
import { validateObject } from '../src/schemas';
import { kustomizations, tlsAuthComponent } from '../src/paths';

const TLS = '/etc/tuned-lens/tls', AUTH = '/etc/tuned-lens/auth';
const ENV = {
  TUNED_LENS_TLS_CERT: `${TLS}/tls.crt`,
  TUNED_LENS_TLS_KEY: `${TLS}/tls.key`,
  TUNED_LENS_TLS_CLIENT_CA: `${TLS}/ca.crt`,
  TUNED_LENS_TLS_CA: `${TLS}/ca.crt`,
  TUNED_LENS_TLS_CLIENT_CERT: `${TLS}/tls.crt`,
  TUNED_LENS_TLS_CLIENT_KEY: `${TLS}/tls.key`,
  TUNED_LENS_AUTH_TOKENS_FILE: `${AUTH}/tokens.txt`,
  TUNED_LENS_TOKEN_FILE: `${AUTH}/token`,
};
const PROBES = ['startupProbe', 'readinessProbe', 'livenessProbe'];

/** `resources: [overlay]` + `components: [tls-auth]` in a temp folder (the gpu case). */
function withComponent(overlay: string): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'tls-auth-'));
  writeFileSync(join(dir, 'kustomization.yaml'), [
    'apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization',
    `resources: [${relative(dir, overlay)}]`, `components: [${relative(dir, tlsAuthComponent)}]`, '',
  ].join('\n'));
  return renderKustomization(dir);
}

const cases: Array<[string, K8sObject[], K8sObject[]]> = [
  ['secure (local + tls-auth)', renderKustomization(kustomizations.secure), renderKustomization(kustomizations.local)],
  ['gpu + tls-auth', withComponent(kustomizations.gpu), renderKustomization(kustomizations.gpu)],
];

for (const [name, objs, plain] of cases) {
  const deployments = objs.filter((o) => o.kind === 'Deployment');

  test(`${name}: valid objects; the same objects as without the component, only the Deployments differ`, () => {
    for (const o of objs) validateObject(o);
    assert.deepEqual(objs.map(objectId), plain.map(objectId));
    for (const o of objs) if (o.kind !== 'Deployment') assert.deepEqual(o, plain.find((p) => objectId(p) === objectId(o)), objectId(o));
    assert.equal(deployments.length, 4);
  });

  test(`${name}: every Deployment mounts Secrets tuned-lens-tls and tuned-lens-auth read-only, not world-readable`, () => {
    for (const d of deployments) {
      const vols = Object.fromEntries(d.spec.template.spec.volumes.map((v: any) => [v.name, v]));
      assert.deepEqual(vols.tls.secret, { secretName: 'tuned-lens-tls', defaultMode: 0o440 }, d.metadata.name);
      assert.deepEqual(vols.auth.secret, { secretName: 'tuned-lens-auth', defaultMode: 0o440 }, d.metadata.name);
      const mounts = d.spec.template.spec.containers[0].volumeMounts;
      assert.deepEqual(mounts.find((m: any) => m.name === 'tls'), { name: 'tls', mountPath: TLS, readOnly: true }, d.metadata.name);
      assert.deepEqual(mounts.find((m: any) => m.name === 'auth'), { name: 'auth', mountPath: AUTH, readOnly: true }, d.metadata.name);
      // the env points only into these mounts
      for (const file of Object.values(ENV)) assert.ok(mounts.some((m: any) => file.startsWith(m.mountPath + '/')), file);
    }
  });

  test(`${name}: every Deployment serves mutual TLS and tokens (TUNED_LENS_* env), without --insecure, the other args unchanged`, () => {
    for (const d of deployments) {
      const ctr = d.spec.template.spec.containers[0];
      const env = Object.fromEntries(ctr.env.map((e: any) => [e.name, e.value]));
      assert.deepEqual(env, ENV, d.metadata.name);
      assert.ok(!ctr.args.includes('--insecure'), `${d.metadata.name}: --insecure`);
      const before = plain.find((p) => objectId(p) === objectId(d))!.spec.template.spec.containers[0].args;
      assert.deepEqual(ctr.args, before.filter((a: string) => a !== '--insecure'), d.metadata.name);
    }
  });

  test(`${name}: probes run \`tuned-lens health 127.0.0.1:<grpc port>\` (exec) with the base timings, timeouts room for a node start`, () => {
    for (const d of deployments) {
      const ctr = d.spec.template.spec.containers[0];
      const before = plain.find((p) => objectId(p) === objectId(d))!.spec.template.spec.containers[0];
      const grpcPort = ctr.ports.find((p: any) => p.name === 'grpc').containerPort;
      for (const probe of PROBES) {
        const { grpc: _g, timeoutSeconds: _t, ...timings } = before[probe];
        assert.deepEqual(ctr[probe], { ...timings, exec: { command: ['tuned-lens', 'health', `127.0.0.1:${grpcPort}`] }, timeoutSeconds: 10 }, `${d.metadata.name} ${probe}`);
      }
    }
  });
}

test('tls-auth is a Component: built alone it is refused', () => {
  assert.throws(() => renderKustomization(tlsAuthComponent), /applied through "components:"/);
});

// The in-repo kustomize renderer: the subset it supports behaves like kustomize, and
// anything else is refused. (manifests.test.ts compares it with kubectl on infra/.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderKustomization, splitImage, strategicMerge } from '../src/kustomize';

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kustomize-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, labels: { app: web } }
spec:
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: registry:5000/web:1.0
          args: [a, b]
          env: [{ name: A, value: "1" }, { name: B, value: "2" }]
      volumes:
        - name: data
          persistentVolumeClaim: { claimName: data }
`;

test('strategic merge: lists merge by name, null deletes, other lists are replaced', () => {
  const base = { spec: { containers: [{ name: 'a', image: 'x', args: ['1', '2'], env: [{ name: 'A', value: '1' }] }], tolerations: [{ key: 'k' }] } };
  const out = strategicMerge(base, { spec: { containers: [{ name: 'a', args: ['3'], env: [{ name: 'B', value: '2' }] }, { name: 'b', image: 'y' }], tolerations: [{ key: 'g' }] } }, []);
  assert.deepEqual(out.spec.containers, [
    { name: 'a', image: 'x', args: ['3'], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
    { name: 'b', image: 'y' },
  ]);
  assert.deepEqual(out.spec.tolerations, [{ key: 'g' }]);
  assert.deepEqual(strategicMerge({ a: 1, b: { c: 2 } }, { b: null }, []), { a: 1 });
});

test('image names keep a registry port; tags and digests are split off', () => {
  assert.deepEqual(splitImage('registry:5000/web:1.0'), { name: 'registry:5000/web', tag: '1.0', digest: undefined });
  assert.deepEqual(splitImage('web@sha256:abc'), { name: 'web', digest: 'sha256:abc' });
  assert.deepEqual(splitImage('web'), { name: 'web', digest: undefined });
});

test('an overlay: namespace, labels, replicas, images, SMP and JSON patches, $patch: delete, generated ConfigMap', () => {
  const dir = tree({
    'base/kustomization.yaml': 'resources: [deployment.yaml, pvc.yaml]\nlabels:\n  - pairs: { team: lens }\n    includeTemplates: true\n',
    'base/deployment.yaml': deployment,
    'base/pvc.yaml': 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: { name: data }\nspec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }\n',
    'overlay/kustomization.yaml': [
      'namespace: prod',
      'resources: [../base]',
      'replicas: [{ name: web, count: 1 }]',
      'images: [{ name: registry:5000/web, newName: other/web, newTag: "2.0" }]',
      'patches:',
      '  - path: patch.yaml',
      '  - target: { kind: Deployment, name: web }',
      '    patch: |-',
      '      - op: add',
      '        path: /spec/template/spec/containers/0/args/-',
      '        value: c',
      'configMapGenerator:',
      '  - name: files',
      '    files: [dash.json]',
      '    options: { disableNameSuffixHash: true, labels: { grafana_dashboard: "1" } }',
    ].join('\n'),
    'overlay/dash.json': '{"uid": "x"}\n',
    'overlay/patch.yaml': [
      'apiVersion: apps/v1', 'kind: Deployment', 'metadata: { name: web }', 'spec:', '  template:', '    spec:',
      '      volumes: [{ name: data, persistentVolumeClaim: null, emptyDir: {} }]',
      '---', 'apiVersion: v1', 'kind: PersistentVolumeClaim', 'metadata: { name: data }', '$patch: delete',
    ].join('\n'),
  });
  const out = renderKustomization(join(dir, 'overlay'));
  assert.deepEqual(out.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`), ['Deployment/prod/web', 'ConfigMap/prod/files']);
  const d = out[0];
  assert.equal(d.spec.replicas, 1);
  assert.deepEqual(d.metadata.labels, { app: 'web', team: 'lens' });
  assert.deepEqual(d.spec.template.metadata.labels, { app: 'web', team: 'lens' });
  assert.deepEqual(d.spec.selector.matchLabels, { app: 'web' }, 'selectors are left alone');
  assert.equal(d.spec.template.spec.containers[0].image, 'other/web:2.0');
  assert.deepEqual(d.spec.template.spec.containers[0].args, ['a', 'b', 'c']);
  assert.deepEqual(d.spec.template.spec.volumes, [{ name: 'data', emptyDir: {} }]);
  assert.deepEqual(out[1].data, { 'dash.json': '{"uid": "x"}\n' });
  assert.deepEqual(out[1].metadata.labels, { grafana_dashboard: '1' });
});

test('unsupported kustomization fields and dangling patches are errors, not silently ignored', () => {
  const a = tree({ 'kustomization.yaml': 'resources: [d.yaml]\nnamePrefix: x-\n', 'd.yaml': deployment });
  assert.throws(() => renderKustomization(a), /"namePrefix" is not supported/);
  const b = tree({ 'kustomization.yaml': 'resources: [d.yaml]\npatches: [{ path: p.yaml }]\n', 'd.yaml': deployment, 'p.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: nope }\n' });
  assert.throws(() => renderKustomization(b), /no object for the patch of Deployment\/nope/);
  const c = tree({ 'kustomization.yaml': 'configMapGenerator: [{ name: x, literals: [a=b] }]\n' });
  assert.throws(() => renderKustomization(c), /disableNameSuffixHash/);
});

test('components: a Component adds its resources to, and patches, the objects of the kustomization that lists it', () => {
  const dir = tree({
    'base/kustomization.yaml': 'resources: [deployment.yaml]\n',
    'base/deployment.yaml': deployment,
    'comp/kustomization.yaml': [
      'apiVersion: kustomize.config.k8s.io/v1alpha1', 'kind: Component', 'resources: [cm.yaml]',
      'patches:', '  - target: { kind: Deployment }', '    patch: |-', '      - op: remove', '        path: /spec/template/spec/containers/0/args/1',
    ].join('\n'),
    'comp/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: extra }\ndata: { a: b }\n',
    'overlay/kustomization.yaml': 'namespace: prod\nresources: [../base]\ncomponents: [../comp]\n',
    'notcomp/kustomization.yaml': 'resources: [../base]\ncomponents: [../base]\n',
  });
  const out = renderKustomization(join(dir, 'overlay'));
  assert.deepEqual(out.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`), ['Deployment/prod/web', 'ConfigMap/prod/extra']);
  assert.deepEqual(out[0].spec.template.spec.containers[0].args, ['a']);
  assert.throws(() => renderKustomization(join(dir, 'comp')), /not built alone/);
  assert.throws(() => renderKustomization(join(dir, 'notcomp')), /its kind is not Component/);
});

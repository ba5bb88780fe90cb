// Every kustomization under infra/ rendered (without kubectl), validated against the
// Kubernetes and prometheus-operator schemas, compared with `kubectl kustomize` when
// kubectl is installed, and checked for the conventions the deployment relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { objectId, renderKustomization, splitImage, type K8sObject } from '../src/kustomize';
import { validateObject } from '../src/schemas';
import { adapterValuesPath, kustomizations, tunedLensBin } from '../src/paths';
import { healthNames } from '../src/processes';

const COMPONENTS = ['tokenizer', 'activation', 'lens-training', 'evaluation'];
const rendered = Object.fromEntries(Object.entries(kustomizations).map(([k, dir]) => [k, renderKustomization(dir)])) as Record<keyof typeof kustomizations, K8sObject[]>;
const find = (objs: K8sObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} missing`);
  return o;
};
const container = (d: K8sObject) => d.spec.template.spec.containers[0];
const flag = (args: string[], name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

for (const [name, dir] of Object.entries(kustomizations)) {
  test(`${name}: every rendered object is valid against its schema`, () => {
    const objs = rendered[name as keyof typeof kustomizations];
    assert.ok(objs.length > 0);
    for (const o of objs) validateObject(o);
  });

  test(`${name}: the in-repo renderer gives what \`kubectl kustomize\` gives`, { skip: hasKubectl ? false : 'kubectl is not installed: rendered by tools/deploy/src/kustomize.ts only' }, () => {
    const theirs = parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })).map((d) => d.toJS() as K8sObject);
    const mine = new Map(rendered[name as keyof typeof kustomizations].map((o) => [objectId(o), JSON.parse(JSON.stringify(o))]));
    assert.deepEqual([...mine.keys()].sort(), theirs.map(objectId).sort());
    for (const o of theirs) assert.ok(isDeepStrictEqual(mine.get(objectId(o)), o), `${objectId(o)} differs from kubectl's rendering`);
  });
}

for (const overlay of ['local', 'gpu'] as const) {
  const objs = rendered[overlay];

  test(`${overlay}: each service has a Deployment, Service, ServiceAccount, ConfigMap and PodDisruptionBudget, all in namespace tuned-lens with the app.kubernetes.io labels`, () => {
    for (const c of COMPONENTS) {
      for (const [kind, name] of [['Deployment', c], ['Service', c], ['ServiceAccount', c], ['ConfigMap', `${c}-config`], ['PodDisruptionBudget', c]]) {
        const o = find(objs, kind, name);
        assert.equal(o.metadata.namespace, 'tuned-lens', objectId(o));
        for (const l of ['name', 'instance', 'component', 'part-of', 'version', 'managed-by']) {
          assert.ok(o.metadata.labels?.[`app.kubernetes.io/${l}`], `${objectId(o)}: label app.kubernetes.io/${l}`);
        }
      }
    }
  });

  test(`${overlay}: pods probe grpc.health.v1 natively with their own service name, on the named grpc port, with a start-up budget for loading`, () => {
    for (const c of COMPONENTS) {
      const ctr = container(find(objs, 'Deployment', c));
      const ports = Object.fromEntries(ctr.ports.map((p: any) => [p.name, p.containerPort]));
      assert.deepEqual(Object.keys(ports).sort(), ['grpc', 'metrics'], c);
      assert.equal(flag(ctr.args, '--port'), String(ports.grpc), `${c}: --port is the grpc port`);
      assert.equal(flag(ctr.args, '--metrics-port'), String(ports.metrics), `${c}: --metrics-port is the metrics port`);
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        assert.deepEqual(ctr[probe]?.grpc, { port: ports.grpc, service: healthNames[c] }, `${c} ${probe}`);
      }
      const startupBudget = ctr.startupProbe.periodSeconds * ctr.startupProbe.failureThreshold;
      assert.ok(startupBudget >= (c === 'activation' ? 600 : 120), `${c}: startup probe allows only ${startupBudget} s`);
    }
  });

  test(`${overlay}: terminationGracePeriodSeconds exceeds each service's drain (--grace-ms) with room to exit`, () => {
    for (const c of COMPONENTS) {
      const d = find(objs, 'Deployment', c);
      const graceMs = Number(flag(container(d).args, '--grace-ms') ?? 10_000);
      assert.ok(d.spec.template.spec.terminationGracePeriodSeconds >= graceMs / 1000 + 10, `${c}: ${d.spec.template.spec.terminationGracePeriodSeconds} s vs drain ${graceMs} ms`);
    }
  });

  test(`${overlay}: containers run as the image's uid 10001, read-only root with a writable /tmp, with cpu and memory requests and limits`, () => {
    for (const c of COMPONENTS) {
      const spec = find(objs, 'Deployment', c).spec.template.spec;
      assert.equal(spec.securityContext.runAsNonRoot, true);
      assert.equal(spec.securityContext.runAsUser, 10001);
      const ctr = spec.containers[0];
      assert.equal(ctr.securityContext.readOnlyRootFilesystem, true);
      assert.equal(ctr.securityContext.allowPrivilegeEscalation, false);
      assert.ok(ctr.volumeMounts.some((m: any) => m.mountPath === '/tmp'), `${c}: /tmp`);
      for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) assert.ok(ctr.resources[kind]?.[r], `${c}: resources.${kind}.${r}`);
    }
  });

  test(`${overlay}: references resolve (ConfigMaps, $(VARS) in args, volumes and claims, service accounts, Service and PDB selectors, target ports)`, () => {
    const workloads = objs.filter((o) => o.kind === 'Deployment' || o.kind === 'Job');
    for (const w of workloads) {
      const spec = w.spec.template.spec;
      if (spec.serviceAccountName) find(objs, 'ServiceAccount', spec.serviceAccountName);
      for (const ctr of spec.containers) {
        const vars = new Set<string>((ctr.env ?? []).map((e: any) => e.name));
        for (const ef of ctr.envFrom ?? []) for (const k of Object.keys(find(objs, 'ConfigMap', ef.configMapRef.name).data ?? {})) vars.add(k);
        for (const a of ctr.args ?? []) for (const m of String(a).matchAll(/\$\(([A-Z0-9_]+)\)/g)) assert.ok(vars.has(m[1]), `${objectId(w)}: $(${m[1]}) is not defined`);
        const volumes = new Set((spec.volumes ?? []).map((v: any) => v.name));
        for (const vm of ctr.volumeMounts ?? []) assert.ok(volumes.has(vm.name), `${objectId(w)}: volume ${vm.name}`);
      }
      for (const v of spec.volumes ?? []) if (v.persistentVolumeClaim) find(objs, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName);
    }
    for (const s of objs.filter((o) => o.kind === 'Service')) {
      const targets = objs.filter((o) => o.kind === 'Deployment' && matches(s.spec.selector, o.spec.template.metadata.labels));
      assert.equal(targets.length, 1, `${objectId(s)} selects ${targets.length} Deployments`);
      const names = container(targets[0]).ports.map((p: any) => p.name);
      for (const p of s.spec.ports) {
        assert.ok(names.includes(p.targetPort), `${objectId(s)}: targetPort ${p.targetPort}`);
        assert.equal(p.appProtocol, p.name === 'grpc' ? 'kubernetes.io/h2c' : 'http', `${objectId(s)} ${p.name}: appProtocol`);
      }
    }
    for (const d of objs.filter((o) => o.kind === 'Deployment')) {
      assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), `${objectId(d)}: selector`);
      const pdbs = objs.filter((o) => o.kind === 'PodDisruptionBudget' && matches(o.spec.selector.matchLabels, d.spec.template.metadata.labels));
      assert.equal(pdbs.length, 1, `${objectId(d)}: one PDB`);
    }
  });
}

test('local: one replica each, the CPU image, onnxruntime, the bundled model and corpus, no shared model or corpus volumes', () => {
  const objs = rendered.local;
  for (const c of COMPONENTS) {
    const d = find(objs, 'Deployment', c);
    assert.equal(d.spec.replicas, 1, c);
    assert.equal(container(d).image, 'tuned-lens:0.1.0-cpu', c);
    assert.equal(container(d).resources.limits['nvidia.com/gpu'], undefined);
  }
  assert.equal(find(objs, 'ConfigMap', 'activation-config').data.TUNED_LENS_ENGINE, 'onnx');
  assert.match(find(objs, 'ConfigMap', 'activation-config').data.TUNED_LENS_MODEL_DIR, /^\/app\/libs\/fixtures\/data\//);
  assert.deepEqual(objs.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.metadata.name), ['tuned-lens-lenses']);
});

test('gpu: activation and lens-training on GPU nodes (nvidia.com/gpu limit, taint toleration, node selector, gpu image, tfjs); the others stay on the CPU image', () => {
  const objs = rendered.gpu;
  for (const c of ['activation', 'lens-training']) {
    const spec = find(objs, 'Deployment', c).spec.template.spec;
    assert.equal(spec.containers[0].resources.limits['nvidia.com/gpu'], 1, c);
    assert.deepEqual(spec.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    assert.ok(Object.keys(spec.nodeSelector ?? {}).length > 0, `${c}: nodeSelector`);
    assert.equal(splitImage(spec.containers[0].image).tag, '0.1.0-gpu');
    assert.equal(find(objs, 'ConfigMap', `${c}-config`).data.TUNED_LENS_ENGINE, 'tfjs');
  }
  for (const c of ['tokenizer', 'evaluation']) {
    const spec = find(objs, 'Deployment', c).spec.template.spec;
    assert.equal(spec.containers[0].resources.limits['nvidia.com/gpu'], undefined, c);
    assert.equal(splitImage(spec.containers[0].image).tag, '0.1.0-cpu');
  }
});

test('gpu: activation scales with an HPA on the queue-depth metric prometheus-adapter serves; the HPA owns its replica count; a headless Service lists its pods', () => {
  const objs = rendered.gpu;
  const hpa = find(objs, 'HorizontalPodAutoscaler', 'activation');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'activation' });
  const metric = hpa.spec.metrics[0];
  assert.equal(metric.type, 'Pods');
  const adapter = parseYaml(readFileSync(adapterValuesPath, 'utf8'));
  const served = adapter.rules.custom.map((r: any) => r.name.as);
  assert.ok(served.includes(metric.pods.metric.name), `the adapter serves ${served}, the HPA asks for ${metric.pods.metric.name}`);
  assert.equal(find(objs, 'Deployment', 'activation').spec.replicas, undefined);
  const headless = find(objs, 'Service', 'activation-headless');
  assert.equal(headless.spec.clusterIP, 'None');
  assert.deepEqual(headless.spec.ports.map((p: any) => p.name), ['grpc'], 'no metrics port: pods are scraped once, via the activation Service');
});

test('monitoring: the ServiceMonitor scrapes the metrics port of every service once, and the dashboard ConfigMap carries the Grafana sidecar label', () => {
  const sm = find(rendered.monitoring, 'ServiceMonitor', 'tuned-lens');
  assert.deepEqual(sm.spec.endpoints.map((e: any) => e.port), ['metrics']);
  for (const overlay of ['local', 'gpu'] as const) {
    const scraped = rendered[overlay].filter((o) => o.kind === 'Service' && matches(sm.spec.selector.matchLabels, o.metadata.labels)
      && sm.spec.namespaceSelector.matchNames.includes(o.metadata.namespace) && o.spec.ports.some((p: any) => p.name === 'metrics'));
    assert.deepEqual(scraped.map((s) => s.metadata.name).sort(), [...COMPONENTS].sort(), overlay);
  }
  const cm = find(rendered.monitoring, 'ConfigMap', 'tuned-lens-dashboard');
  assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
  assert.equal(JSON.parse(cm.data['tuned-lens.json']).uid, 'tuned-lens-overview');
  find(rendered.monitoring, 'PrometheusRule', 'tuned-lens');
});

const trainHelp = spawnSync(tunedLensBin, ['train', '--help'], { encoding: 'utf8', timeout: 60_000 });
test('train-lens Job: a thin `tuned-lens train` client of the services, every flag it passes known to this build', { skip: trainHelp.status === 0 ? false : 'tuned-lens has no train command in this build yet' }, () => {
  const job = find(rendered.trainJob, 'Job', 'train-lens');
  const ctr = job.spec.template.spec.containers[0];
  assert.equal(ctr.args[0], 'train');
  for (const a of ctr.args.filter((x: string) => x.startsWith('--'))) assert.match(trainHelp.stdout, new RegExp(`${a}\\b`), `tuned-lens train --help does not know ${a}`);
  for (const f of ['--training-endpoint', '--tokenizer-endpoint', '--activation-endpoint']) assert.ok(ctr.args.includes(f), f);
  assert.equal(job.spec.template.spec.restartPolicy, 'Never');
  assert.ok(job.spec.backoffLimit >= 1 && job.spec.ttlSecondsAfterFinished > 0);
});

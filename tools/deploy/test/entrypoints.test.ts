// The command lines the images and manifests run, run for real: for every Deployment
// of the local overlay, the image's ENTRYPOINT + the container's args (with $(VARS)
// expanded from its ConfigMap as the kubelet does) start, answer the manifest's gRPC
// readiness probe, pass the image's HEALTHCHECK command, and stop with exit 0 on
// SIGTERM within terminationGracePeriodSeconds. What changes from a pod: /app is this
// repository (the image's WORKDIR holds it), volume mounts are temp folders, and the
// two ports are free ones (fixed ports would collide on a shared machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderKustomization, type K8sObject } from '../src/kustomize';
import { execForm, targetStages } from '../src/dockerfile';
import { dockerfilePath, imageAppDir, kustomizations, repoRoot, tunedLensBin } from '../src/paths';
import { freePort, loopbackAddress, servableServices, startService, waitServing } from '../src/processes';

const objs = renderKustomization(kustomizations.local);
const cpu = targetStages(readFileSync(dockerfilePath, 'utf8')).find((s) => s.name === 'cpu')!;
const entrypoint = execForm([...cpu.instructions].reverse().find((i) => i.keyword === 'ENTRYPOINT')!.args)!;
const healthcheck = execForm([...cpu.instructions].reverse().find((i) => i.keyword === 'HEALTHCHECK')!.args.replace(/^.*?CMD /, ''))!;
const servable = new Set(servableServices());

/** The kubelet's $(VAR) expansion of args against the container's environment. */
export function expandArgs(args: string[], env: Record<string, string>): string[] {
  return args.map((a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => (name in env ? env[name] : m)));
}

function containerEnv(ctr: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ef of ctr.envFrom ?? []) Object.assign(env, objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ef.configMapRef.name)!.data);
  for (const e of ctr.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
  return env;
}

/** The pod's command line on this machine: image paths and mounts mapped, ports swapped. */
async function localCommand(d: K8sObject) {
  const ctr = d.spec.template.spec.containers[0];
  assert.deepEqual(entrypoint, ['tuned-lens'], 'the image ENTRYPOINT');
  assert.equal(ctr.command, undefined, 'manifests keep the image ENTRYPOINT');
  const env = containerEnv(ctr);
  const mounts = new Map<string, string>((ctr.volumeMounts ?? []).map((m: any) => [m.mountPath, mkdtempSync(join(tmpdir(), `mount-${m.name}-`))]));
  mounts.set(imageAppDir, repoRoot.replace(/\/$/, ''));
  const ports = Object.fromEntries(ctr.ports.map((p: any) => [String(p.containerPort), p.name]));
  const free = { grpc: await freePort(), metrics: await freePort() } as Record<string, number>;
  const args = expandArgs(ctr.args, env).map((a) => {
    if (a in ports) return String(free[ports[a]]);
    for (const [from, to] of mounts) if (a === from || a.startsWith(from + '/')) return to + a.slice(from.length);
    return a;
  });
  return { ctr, env, args, grpcPort: free.grpc, probeService: ctr.readinessProbe.grpc.service as string, graceSeconds: d.spec.template.spec.terminationGracePeriodSeconds as number };
}

const deployments = objs.filter((o) => o.kind === 'Deployment');
for (const d of deployments) {
  const component = d.metadata.name;
  test(`${component}: the manifest's command line starts, passes its gRPC readiness probe and the image HEALTHCHECK, and exits 0 on SIGTERM`, {
    skip: servable.has(component) ? false : `tuned-lens serve has no --service ${component} in this build yet`,
    timeout: 90_000,
  }, async () => {
    const cmd = await localCommand(d);
    assert.equal(cmd.args[0], 'serve');
    const p = await startService(component, cmd.args, { label: component, env: { TUNED_LENS_LOG_LEVEL: cmd.env.TUNED_LENS_LOG_LEVEL } });
    try {
      assert.equal(p.address, `0.0.0.0:${cmd.grpcPort}`, 'binds every interface, as in a pod');
      await waitServing(p.address, cmd.probeService);
      const hc = spawnSync(tunedLensBin, [...healthcheck.slice(1).map((a) => a.replace(':50051', `:${cmd.grpcPort}`))], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(hc.status, 0, `HEALTHCHECK ${healthcheck.join(' ')}: ${hc.stdout}${hc.stderr}`);
      assert.match(hc.stdout, new RegExp(`${cmd.probeService.replaceAll('.', '\\.')}\\s+SERVING`));
      assert.match(await (await fetch(`http://127.0.0.1:${loopbackAddress(p.metricsUrl.replace(/^http:\/\//, '')).split(':')[1]}`)).text(), /grpc_server_started_total/);
    } finally {
      const t0 = Date.now();
      const exit = await p.stop(cmd.graceSeconds * 1000);
      assert.deepEqual(exit, { code: 0, signal: null }, p.logs());
      assert.ok(Date.now() - t0 < cmd.graceSeconds * 1000, 'stopped within terminationGracePeriodSeconds');
    }
  });
}

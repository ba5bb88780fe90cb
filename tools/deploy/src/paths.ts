/** Where things are, relative to this package. */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const infraDir = join(repoRoot, 'infra');
export const dockerfilePath = join(infraDir, 'docker', 'Dockerfile');
export const dockerignorePath = join(infraDir, 'docker', 'Dockerfile.dockerignore');
export const monitoringDir = join(infraDir, 'monitoring');
export const prometheusRulePath = join(monitoringDir, 'prometheusrule.yaml');
export const alertTestsPath = join(monitoringDir, 'tests', 'alerts.test.yaml');
export const adapterValuesPath = join(monitoringDir, 'prometheus-adapter', 'values.yaml');
/** The installed `tuned-lens` bin (what the images' ENTRYPOINT runs). */
export const tunedLensBin = join(repoRoot, 'node_modules', '.bin', 'tuned-lens');
/** The folder the images copy the repository to (WORKDIR); maps to repoRoot here. */
export const imageAppDir = '/app';

/** Every kustomization CI renders: the deployable overlays and the pieces applied alone. */
export const kustomizations = {
  base: join(infraDir, 'k8s', 'base'),
  local: join(infraDir, 'k8s', 'overlays', 'local'),
  gpu: join(infraDir, 'k8s', 'overlays', 'gpu'),
  /** local + components/tls-auth (mutual TLS, bearer tokens, exec probes). */
  secure: join(infraDir, 'k8s', 'overlays', 'secure'),
  trainJob: join(infraDir, 'k8s', 'jobs', 'train-lens'),
  monitoring: monitoringDir,
} as const;
/** Components, applied through an overlay's `components:` (never built alone). */
export const tlsAuthComponent = join(infraDir, 'k8s', 'components', 'tls-auth');

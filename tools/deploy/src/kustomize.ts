/**
 * A small kustomize renderer for the subset of kustomization.yaml that infra/ uses, so
 * CI renders every overlay without kubectl (a fresh machine may lack it, and apt's
 * kubernetes-client is 1.20). When kubectl is present the tests also render with
 * `kubectl kustomize` and require the same objects, which keeps this honest.
 *
 * Supported: resources (files and directories), namespace, labels (pairs,
 * includeSelectors: false, includeTemplates), images (newName/newTag/digest), replicas,
 * patches (strategic merge: one object per YAML document, `null` deletes a field,
 * `$patch: delete` drops an object; JSON 6902 with a target), configMapGenerator (files
 * and literals, with disableNameSuffixHash), components (`kind: Component`: its resources
 * are added to, and its patches applied on, the objects of the kustomization that lists it,
 * after that one's resources and before its own transformers, as kustomize does). Any other
 * field is an error, so the subset cannot grow by accident.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

export type K8sObject = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'images', 'replicas', 'patches', 'configMapGenerator', 'components']);

/** Kinds that are not namespaced (the ones a namespace transformer must leave alone). */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass',
  'PriorityClass', 'APIService', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'IngressClass', 'RuntimeClass',
]);

export class KustomizeError extends Error {
  override readonly name = 'KustomizeError';
}

export function objectId(o: K8sObject): string {
  return `${o.kind}/${o.metadata.namespace ? o.metadata.namespace + '/' : ''}${o.metadata.name}`;
}

/**
 * The objects `kustomize build dir` would output (order: resources as listed). `inherited`
 * is for a Component only: the objects of the kustomization that lists it.
 */
export function renderKustomization(dir: string, inherited?: K8sObject[]): K8sObject[] {
  const root = resolve(dir);
  const file = KUSTOMIZATION_FILES.map((f) => join(root, f)).find((f) => existsSync(f));
  if (!file) throw new KustomizeError(`${root}: no kustomization.yaml`);
  const k = parseYaml(readFileSync(file, 'utf8')) ?? {};
  for (const key of Object.keys(k)) {
    if (!SUPPORTED.has(key)) throw new KustomizeError(`${file}: "${key}" is not supported by tools/deploy's renderer (supported: ${[...SUPPORTED].join(', ')})`);
  }
  const isComponent = k.kind === 'Component';
  if (isComponent !== (inherited !== undefined)) {
    throw new KustomizeError(isComponent ? `${file}: a Component is applied through "components:" of a kustomization, not built alone`
      : `${file}: listed under "components:" but its kind is not Component`);
  }
  let objects: K8sObject[] = inherited ?? [];
  for (const entry of (k.resources ?? []) as string[]) {
    const p = join(root, entry);
    if (!existsSync(p)) throw new KustomizeError(`${file}: resource ${entry} does not exist`);
    objects.push(...(statSync(p).isDirectory() ? renderKustomization(p) : loadObjects(p)));
  }
  for (const entry of (k.components ?? []) as string[]) {
    const p = join(root, entry);
    if (!existsSync(p) || !statSync(p).isDirectory()) throw new KustomizeError(`${file}: component ${entry} is not a directory`);
    objects = renderKustomization(p, objects);
  }
  for (const g of (k.configMapGenerator ?? []) as any[]) objects.push(generateConfigMap(root, file, g));
  assertUnique(objects, file);

  for (const patch of (k.patches ?? []) as any[]) objects = applyPatch(objects, patch, root, file);
  if (k.namespace) {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  for (const l of (k.labels ?? []) as any[]) applyLabels(objects, l, file);
  for (const r of (k.replicas ?? []) as Array<{ name: string; count: number }>) {
    const targets = objects.filter((o) => ['Deployment', 'StatefulSet', 'ReplicaSet', 'ReplicationController'].includes(o.kind) && o.metadata.name === r.name);
    if (targets.length === 0) throw new KustomizeError(`${file}: replicas: no workload named ${r.name}`);
    for (const t of targets) t.spec.replicas = r.count;
  }
  for (const img of (k.images ?? []) as any[]) applyImage(objects, img);
  return objects;
}

export function loadObjects(path: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    if (doc.errors.length) throw new KustomizeError(`${path}: ${doc.errors[0].message}`);
    const o = doc.toJS();
    if (o === null || o === undefined) continue;
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
      throw new KustomizeError(`${path}: every document needs apiVersion, kind and metadata.name`);
    }
    out.push(o);
  }
  return out;
}

function assertUnique(objects: K8sObject[], where: string) {
  const seen = new Set<string>();
  for (const o of objects) {
    const id = objectId(o);
    if (seen.has(id)) throw new KustomizeError(`${where}: ${id} is defined twice`);
    seen.add(id);
  }
}

function generateConfigMap(root: string, file: string, g: any): K8sObject {
  const known = new Set(['name', 'files', 'literals', 'options']);
  for (const key of Object.keys(g)) if (!known.has(key)) throw new KustomizeError(`${file}: configMapGenerator.${key} is not supported`);
  if (g.options?.disableNameSuffixHash !== true) {
    throw new KustomizeError(`${file}: configMapGenerator ${g.name}: set options.disableNameSuffixHash: true (hash suffixes are not implemented here)`);
  }
  const data: Record<string, string> = {};
  for (const f of (g.files ?? []) as string[]) {
    const [key, path] = f.includes('=') ? f.split('=', 2) : [basename(f), f];
    data[key] = readFileSync(join(root, path), 'utf8');
  }
  for (const lit of (g.literals ?? []) as string[]) {
    const i = lit.indexOf('=');
    data[lit.slice(0, i)] = lit.slice(i + 1);
  }
  const metadata: any = { name: g.name };
  if (g.options?.labels) metadata.labels = { ...g.options.labels };
  if (g.options?.annotations) metadata.annotations = { ...g.options.annotations };
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
}

// ---- labels ----------------------------------------------------------------------------

const TEMPLATE_PATHS: Record<string, string[][]> = {
  Deployment: [['spec', 'template', 'metadata', 'labels']],
  StatefulSet: [['spec', 'template', 'metadata', 'labels']],
  DaemonSet: [['spec', 'template', 'metadata', 'labels']],
  ReplicaSet: [['spec', 'template', 'metadata', 'labels']],
  Job: [['spec', 'template', 'metadata', 'labels']],
  CronJob: [['spec', 'jobTemplate', 'metadata', 'labels'], ['spec', 'jobTemplate', 'spec', 'template', 'metadata', 'labels']],
};

function applyLabels(objects: K8sObject[], l: any, file: string) {
  const known = new Set(['pairs', 'includeSelectors', 'includeTemplates']);
  for (const key of Object.keys(l)) if (!known.has(key)) throw new KustomizeError(`${file}: labels.${key} is not supported`);
  if (l.includeSelectors) throw new KustomizeError(`${file}: labels.includeSelectors: true is not supported (selectors are immutable; keep them explicit)`);
  const pairs = l.pairs as Record<string, string>;
  for (const o of objects) {
    o.metadata.labels = { ...o.metadata.labels, ...pairs };
    if (!l.includeTemplates) continue;
    for (const path of TEMPLATE_PATHS[o.kind] ?? []) {
      let node = o as any;
      for (const part of path.slice(0, -1)) node = node[part] ??= {};
      node.labels = { ...node.labels, ...pairs };
    }
  }
}

// ---- images ----------------------------------------------------------------------------

function* containersOf(o: any): Generator<any> {
  const specs = [o.spec, o.spec?.template?.spec, o.spec?.jobTemplate?.spec?.template?.spec];
  for (const s of specs) {
    for (const c of [...(s?.containers ?? []), ...(s?.initContainers ?? [])]) yield c;
  }
}

/** `name[:tag][@digest]` split like kustomize does (a registry port is part of the name). */
export function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) { digest = rest.slice(at + 1); rest = rest.slice(0, at); }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  return { name: rest, digest };
}

function applyImage(objects: K8sObject[], img: any) {
  for (const o of objects) {
    for (const c of containersOf(o)) {
      const cur = splitImage(c.image);
      if (cur.name !== img.name) continue;
      const name = img.newName ?? cur.name;
      if (img.digest) c.image = `${name}@${img.digest}`;
      else if (img.newTag) c.image = `${name}:${img.newTag}`;
      else c.image = name + (cur.tag ? `:${cur.tag}` : '') + (cur.digest ? `@${cur.digest}` : '');
    }
  }
}

// ---- patches ---------------------------------------------------------------------------

function applyPatch(objects: K8sObject[], spec: any, root: string, file: string): K8sObject[] {
  const known = new Set(['path', 'patch', 'target']);
  for (const key of Object.keys(spec)) if (!known.has(key)) throw new KustomizeError(`${file}: patches[].${key} is not supported`);
  const text = spec.path ? readFileSync(join(root, spec.path), 'utf8') : spec.patch;
  if (typeof text !== 'string') throw new KustomizeError(`${file}: a patch needs path or patch`);
  const docs = parseAllDocuments(text).map((d) => d.toJS()).filter((d) => d !== null && d !== undefined);
  const where = spec.path ? join(root, spec.path) : file;
  if (docs.length === 1 && Array.isArray(docs[0])) {
    if (!spec.target) throw new KustomizeError(`${where}: a JSON 6902 patch needs a target`);
    const targets = objects.filter((o) => matchesTarget(o, spec.target));
    if (targets.length === 0) throw new KustomizeError(`${where}: the target matches no object`);
    for (const t of targets) applyJson6902(t, docs[0], where);
    return objects;
  }
  let out = objects;
  for (const patch of docs) {
    const targets = spec.target
      ? out.filter((o) => matchesTarget(o, spec.target))
      : out.filter((o) => o.kind === patch.kind && o.metadata.name === patch.metadata?.name
        && (!patch.metadata?.namespace || patch.metadata.namespace === o.metadata.namespace));
    if (targets.length === 0) throw new KustomizeError(`${where}: no object for the patch of ${patch.kind}/${patch.metadata?.name}`);
    if (patch.$patch === 'delete') {
      out = out.filter((o) => !targets.includes(o));
      continue;
    }
    for (const t of targets) {
      const { apiVersion: _a, kind: _k, ...body } = patch;
      const merged = strategicMerge(t, { ...body, metadata: { ...body.metadata, name: t.metadata.name } }, []);
      Object.assign(t, merged);
    }
  }
  return out;
}

function matchesTarget(o: K8sObject, t: any): boolean {
  const known = new Set(['kind', 'name', 'namespace', 'group', 'version', 'labelSelector']);
  for (const key of Object.keys(t)) if (!known.has(key)) throw new KustomizeError(`patch target field "${key}" is not supported`);
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  if (t.kind && !new RegExp(`^(?:${t.kind})$`).test(o.kind)) return false;
  if (t.name && !new RegExp(`^(?:${t.name})$`).test(o.metadata.name)) return false;
  if (t.namespace && t.namespace !== o.metadata.namespace) return false;
  if (t.group !== undefined && t.group !== group) return false;
  if (t.version && t.version !== version) return false;
  if (t.labelSelector) {
    for (const term of String(t.labelSelector).split(',')) {
      const [k, v] = term.split('=');
      if (o.metadata.labels?.[k.trim()] !== v?.trim()) return false;
    }
  }
  return true;
}

/**
 * Merge keys of the list fields the manifests patch (Kubernetes' patchMergeKey); any
 * other list is replaced whole, as strategic merge does for lists without one.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name', initContainers: 'name', volumes: 'name', env: 'name', volumeMounts: 'mountPath', imagePullSecrets: 'name',
};

function isPlainObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function strategicMerge(base: any, patch: any, path: string[]): any {
  if (!isPlainObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return structuredClone(rest);
  }
  const out: Record<string, any> = isPlainObject(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch') continue;
    if (value === null) { delete out[key]; continue; }
    if (Array.isArray(value)) {
      const mergeKey = MERGE_KEYS[key] ?? (key === 'ports' ? (value.some((p) => isPlainObject(p) && 'containerPort' in p) ? 'containerPort' : 'port') : undefined);
      out[key] = mergeKey && Array.isArray(out[key]) ? mergeList(out[key], value, mergeKey, [...path, key]) : structuredClone(value);
      continue;
    }
    out[key] = isPlainObject(value) ? strategicMerge(out[key], value, [...path, key]) : value;
  }
  return out;
}

function mergeList(base: any[], patch: any[], mergeKey: string, path: string[]): any[] {
  const out = base.map((x) => structuredClone(x));
  for (const item of patch) {
    if (!isPlainObject(item) || !(mergeKey in item)) throw new KustomizeError(`strategic merge: ${path.join('.')} items need "${mergeKey}"`);
    const i = out.findIndex((x) => x?.[mergeKey] === item[mergeKey]);
    if (item.$patch === 'delete') { if (i >= 0) out.splice(i, 1); continue; }
    if (i >= 0) out[i] = strategicMerge(out[i], item, path);
    else out.push(strategicMerge({}, item, path));
  }
  return out;
}

// ---- JSON patch (RFC 6902) -------------------------------------------------------------

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new KustomizeError(`JSON patch path "${path}" must start with /`);
  return path.slice(1).split('/').map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function parentOf(doc: any, parts: string[], where: string): { parent: any; key: string } {
  let node = doc;
  for (const p of parts.slice(0, -1)) {
    node = Array.isArray(node) ? node[Number(p)] : node?.[p];
    if (node === undefined) throw new KustomizeError(`${where}: JSON patch path /${parts.join('/')} does not exist`);
  }
  return { parent: node, key: parts[parts.length - 1] };
}

function applyJson6902(doc: any, ops: any[], where: string) {
  for (const op of ops) {
    const parts = pointer(op.path);
    const { parent, key } = parentOf(doc, parts, where);
    const get = () => (Array.isArray(parent) ? parent[Number(key)] : parent[key]);
    switch (op.op) {
      case 'add':
        if (Array.isArray(parent)) parent.splice(key === '-' ? parent.length : Number(key), 0, structuredClone(op.value));
        else parent[key] = structuredClone(op.value);
        break;
      case 'replace':
        if (get() === undefined) throw new KustomizeError(`${where}: replace of missing ${op.path}`);
        if (Array.isArray(parent)) parent[Number(key)] = structuredClone(op.value); else parent[key] = structuredClone(op.value);
        break;
      case 'remove':
        if (get() === undefined) throw new KustomizeError(`${where}: remove of missing ${op.path}`);
        if (Array.isArray(parent)) parent.splice(Number(key), 1); else delete parent[key];
        break;
      case 'test':
        if (JSON.stringify(get()) !== JSON.stringify(op.value)) throw new KustomizeError(`${where}: test of ${op.path} failed`);
        break;
      default:
        throw new KustomizeError(`${where}: JSON patch op "${op.op}" is not supported`);
    }
  }
}

/**
 * A Dockerfile reader (instructions with line continuations, comments, stages) and the
 * lint rules infra/docker/Dockerfile must pass. No docker engine runs in CI, so this
 * is how the file is kept honest; the commands it runs are tested for real elsewhere.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY ... */
  keyword: string;
  /** Everything after the keyword, continuations joined with a space. */
  args: string;
  line: number;
}

export interface Stage {
  /** `FROM <image>` (flags such as --platform stripped). */
  image: string;
  name?: string;
  line: number;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i];
    if (/^\s*(#|$)/.test(first)) continue;
    const start = i;
    let body = first;
    let pending = /\\\s*$/.test(body);
    while (pending && i + 1 < lines.length) {
      body = body.replace(/\\\s*$/, ' ');
      i++;
      if (/^\s*#/.test(lines[i])) continue; // comments inside a continuation are dropped
      body += lines[i];
      pending = /\\\s*$/.test(body);
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(body);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse "${first}"`);
    out.push({ keyword: m[1].toUpperCase(), args: m[2].replace(/\s+/g, ' ').trim(), line: start + 1 });
  }
  return out;
}

export function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(' ').filter((w) => !w.startsWith('--'));
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ image: words[0], name: as >= 0 ? words[as + 1] : undefined, line: ins.line, instructions: [] });
    } else if (stages.length) {
      stages[stages.length - 1].instructions.push(ins);
    } else if (ins.keyword !== 'ARG') {
      throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before the first FROM`);
    }
  }
  return stages;
}

/** JSON (exec) form of CMD / ENTRYPOINT / HEALTHCHECK CMD, or null for shell form. */
export function execForm(args: string): string[] | null {
  const t = args.trim();
  if (!t.startsWith('[')) return null;
  const v = JSON.parse(t);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`not an exec-form array: ${args}`);
  return v;
}

/** `image:tag` pinned: an explicit version tag (digits), or a digest; never latest. */
export function isPinned(image: string, stageNames: Set<string>): boolean {
  if (stageNames.has(image)) return true;
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const colon = image.lastIndexOf(':');
  if (colon <= image.lastIndexOf('/')) return false;
  const tag = image.slice(colon + 1);
  return tag !== 'latest' && /\d+\.\d+/.test(tag);
}

export interface LintProblem { line: number; rule: string; message: string }

/**
 * The rules: every FROM pinned; every stage that is a build target (not used by another
 * FROM / COPY --from) ends as a numeric non-root USER, has a HEALTHCHECK and an exec-form
 * ENTRYPOINT; no ADD of a URL; `npm ci` / `npm install` only with
 * ONNXRUNTIME_NODE_INSTALL=skip in effect (ENV in the stage or on the command).
 */
export function lintDockerfile(text: string): LintProblem[] {
  const problems: LintProblem[] = [];
  const stages = stagesOf(parseDockerfile(text));
  if (stages.length === 0) return [{ line: 1, rule: 'from', message: 'no FROM' }];
  const names = new Set(stages.map((s) => s.name).filter((n): n is string => Boolean(n)));
  const usedAsBase = new Set<string>();
  for (const s of stages) {
    if (names.has(s.image)) usedAsBase.add(s.image);
    for (const ins of s.instructions) {
      const m = /--from=(\S+)/.exec(ins.args);
      if (ins.keyword === 'COPY' && m) usedAsBase.add(m[1]);
    }
  }
  const envOf = new Map<string, Map<string, string>>();
  for (const s of stages) {
    if (!isPinned(s.image, names)) problems.push({ line: s.line, rule: 'from-pinned', message: `FROM ${s.image}: pin an exact version tag or a digest` });
    const env = new Map(names.has(s.image) ? envOf.get(s.image) : undefined);
    for (const ins of s.instructions) {
      if (ins.keyword === 'ENV') {
        for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) env.set(m[1], m[2].replace(/^"|"$/g, ''));
      }
      if (ins.keyword === 'ADD' && /(^|\s)(https?|ftp):\/\//.test(ins.args)) {
        problems.push({ line: ins.line, rule: 'no-add-url', message: 'ADD of a URL: download in a RUN step with a checksum, or COPY' });
      }
      if (ins.keyword === 'RUN' && /\bnpm\s+(ci|install|i)\b/.test(ins.args)) {
        const inline = /ONNXRUNTIME_NODE_INSTALL=skip/.test(ins.args);
        if (!inline && env.get('ONNXRUNTIME_NODE_INSTALL') !== 'skip') {
          problems.push({ line: ins.line, rule: 'onnxruntime-skip', message: 'npm ci/install without ONNXRUNTIME_NODE_INSTALL=skip: onnxruntime-node would fetch CUDA add-ons' });
        }
      }
    }
    if (s.name) envOf.set(s.name, env);
    const isTarget = !s.name || !usedAsBase.has(s.name);
    if (!isTarget) continue;
    const last = (kw: string) => [...s.instructions].reverse().find((i) => i.keyword === kw);
    const user = last('USER');
    const uid = user?.args.split(':')[0];
    if (!user) problems.push({ line: s.line, rule: 'user', message: `stage ${s.name ?? s.image}: no USER (runs as root)` });
    else if (!/^\d+$/.test(uid!) || uid === '0') {
      problems.push({ line: user.line, rule: 'user', message: `USER ${user.args}: use a numeric non-zero uid (Kubernetes runAsNonRoot can only verify numbers)` });
    }
    if (!last('HEALTHCHECK')) problems.push({ line: s.line, rule: 'healthcheck', message: `stage ${s.name ?? s.image}: no HEALTHCHECK (Kubernetes probes are in the manifests; Docker needs one)` });
    const ep = last('ENTRYPOINT');
    if (!ep || !execForm(ep.args)) problems.push({ line: ep?.line ?? s.line, rule: 'entrypoint', message: `stage ${s.name ?? s.image}: ENTRYPOINT in exec form, so SIGTERM reaches the service` });
  }
  return problems;
}

/** Build targets (stages no other stage builds on), by name. */
export function targetStages(text: string): Stage[] {
  const stages = stagesOf(parseDockerfile(text));
  const used = new Set<string>();
  for (const s of stages) {
    used.add(s.image);
    for (const ins of s.instructions) {
      const m = /--from=(\S+)/.exec(ins.args);
      if (ins.keyword === 'COPY' && m) used.add(m[1]);
    }
  }
  return stages.filter((s) => !s.name || !used.has(s.name));
}

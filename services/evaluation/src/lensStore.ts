/**
 * Tuned lenses this server may apply: folders inside its configured lens roots (a
 * request can never make it read elsewhere), loaded on first use and kept in a small
 * LRU cache keyed by the folder and its files' modification times. A lens is applied
 * only if it fits the model: same d_model and layer count, and, when the lens records
 * our unembedding hash, the same hash. A lens without one (written by the original
 * Python package) is accepted with a warning, since nothing then proves it belongs to
 * this model.
 */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { failedPrecondition, resolveDirInRoots, type Logger } from '@tuned-lens/grpc-kit';
import { checkLensFolder, readLensConfig, readLensFolder, LensIOError, CONFIG_JSON, PARAMS_PT, PARAMS_SAFETENSORS, type LensConfig, type TunedLensWeights } from '@tuned-lens/lens';

/** What a lens is checked against. */
export interface ModelIdentity {
  modelName: string;
  numLayers: number;
  dModel: number;
  /** Our hash: sha256 of W_U's f32 bytes. */
  unembedHash: string;
}

export interface Compatibility {
  ok: boolean;
  /** Why not, when !ok. */
  reason?: string;
  warnings: string[];
}

/** Whether a lens (by its config) can be applied to the model. */
export function checkLensCompatibility(config: LensConfig, model: ModelIdentity): Compatibility {
  const problems: string[] = [];
  if (config.dModel !== model.dModel) problems.push(`its d_model is ${config.dModel}, the model's is ${model.dModel}`);
  if (config.numHiddenLayers !== model.numLayers) problems.push(`it has ${config.numHiddenLayers} translators (num_hidden_layers), the model has ${model.numLayers} layers`);
  if (config.unembedSha256 && config.unembedSha256 !== model.unembedHash) {
    problems.push(`it was trained on another unembedding (its unembed_sha256 ${config.unembedSha256.slice(0, 12)}… differs from the model's ${model.unembedHash.slice(0, 12)}…)`);
  }
  if (problems.length) {
    return { ok: false, reason: `the lens is for another model (base_model_name_or_path ${JSON.stringify(config.baseModelNameOrPath)}): ${problems.join('; ')}`, warnings: [] };
  }
  const warnings: string[] = [];
  if (!config.unembedSha256) {
    warnings.push(`the lens records no unembed_sha256 (written by the original tuned-lens package?), so it cannot be checked to belong to ${model.modelName}; its config says base model ${JSON.stringify(config.baseModelNameOrPath)}`);
  }
  return { ok: true, warnings };
}

export interface LoadedLens {
  /** The folder relative to its lens root. */
  name: string;
  dir: string;
  config: LensConfig;
  weights: TunedLensWeights;
  /** Reader warnings and compatibility warnings. */
  warnings: string[];
}

export interface ListedLens {
  name: string;
  config?: LensConfig;
  compatible: boolean;
  reason: string;
}

/** LensIOError -> the gRPC error a client can act on. */
function lensError(e: unknown, requested: string): Error {
  if (e instanceof LensIOError) {
    const what = `lens ${JSON.stringify(requested)}`;
    if (e.kind === 'not_found') return failedPrecondition(`${what} is not a usable lens folder: ${e.message}`);
    if (e.kind === 'io') return failedPrecondition(`${what} cannot be read: ${e.message}`);
    return failedPrecondition(`${what} is not a valid lens (${e.kind}): ${e.message}`);
  }
  return e as Error;
}

function stamp(dir: string): string {
  return [CONFIG_JSON, PARAMS_SAFETENSORS, PARAMS_PT].map((f) => {
    try {
      const s = statSync(join(dir, f));
      return `${s.mtimeMs}:${s.size}`;
    } catch {
      return '-';
    }
  }).join('|');
}

export class LensStore {
  private readonly cache = new Map<string, { stamp: string; lens: Omit<LoadedLens, 'warnings'> & { readerWarnings: string[] } }>();

  constructor(
    readonly roots: string[],
    readonly defaultLens: string | undefined,
    private readonly cacheSize: number,
    private readonly log: Logger,
  ) {}

  /** The folder for `requested` ('' = the default lens), resolved inside the roots. */
  resolve(requested: string): { dir: string; name: string } {
    const path = requested || this.defaultLens;
    if (!path) throw failedPrecondition('no tuned lens: give lens_path (a lens folder inside the server\'s lens roots), or start the server with a default lens');
    if (this.roots.length === 0) throw failedPrecondition('this server has no lens roots configured, so it can load no tuned lens');
    const dir = resolveDirInRoots(path, { roots: this.roots });
    return { dir, name: this.nameOf(dir) };
  }

  /**
   * Loads (or takes from the cache) the lens and checks it against the model.
   * @throws NOT_FOUND / PERMISSION_DENIED for the path, FAILED_PRECONDITION for a
   *   folder that is no valid lens or a lens of another model
   */
  load(requested: string, model: ModelIdentity): LoadedLens {
    const { dir, name } = this.resolve(requested);
    const st = stamp(dir);
    let entry = this.cache.get(dir);
    if (!entry || entry.stamp !== st) {
      let folder;
      try {
        folder = readLensFolder(dir);
      } catch (e) {
        throw lensError(e, requested || name);
      }
      entry = { stamp: st, lens: { name, dir, config: folder.config, weights: { dModel: folder.config.dModel, translators: folder.translators }, readerWarnings: folder.warnings } };
      for (const w of folder.warnings) this.log.warn('lens folder', { lens: name, warning: w });
      this.cache.set(dir, entry);
      while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    } else {
      this.cache.delete(dir); // LRU: most recent last
      this.cache.set(dir, entry);
    }
    const compat = checkLensCompatibility(entry.lens.config, model);
    if (!compat.ok) throw failedPrecondition(`lens ${JSON.stringify(name)}: ${compat.reason}`);
    for (const w of compat.warnings) this.log.warn('lens accepted without an unembedding check', { lens: name, model: model.modelName, warning: w });
    const { readerWarnings, ...lens } = entry.lens;
    return { ...lens, warnings: [...readerWarnings, ...compat.warnings] };
  }

  /** The default lens and every folder with a config.json directly inside a lens root (or the root itself). */
  list(model: ModelIdentity | undefined): ListedLens[] {
    const dirs = new Set<string>();
    if (this.defaultLens) {
      try { dirs.add(this.resolve('').dir); } catch { /* reported by load */ }
    }
    for (const root of this.roots) {
      let names: string[] = [];
      try { names = readdirSync(root); } catch { continue; }
      for (const n of ['.', ...names.sort()]) {
        const dir = join(root, n);
        try {
          if (statSync(join(dir, CONFIG_JSON)).isFile()) dirs.add(resolveDirInRoots(dir, { roots: this.roots }));
        } catch { /* not a lens folder */ }
      }
    }
    return [...dirs].map((dir) => {
      const name = this.nameOf(dir);
      try {
        // The whole folder as a Predict would read it (a truncated params file is not compatible), no weight decoded.
        const { config } = checkLensFolder(dir);
        if (!model) return { name, config, compatible: false, reason: 'the model is not connected yet' };
        const c = checkLensCompatibility(config, model);
        return { name, config, compatible: c.ok, reason: c.reason ?? c.warnings.join('; ') };
      } catch (e) {
        return { name, compatible: false, reason: (e as Error).message };
      }
    });
  }

  private nameOf(dir: string): string {
    for (const root of this.roots.map((r) => { try { return realpathSync(r); } catch { return r; } })) {
      const rel = relative(root, dir);
      if (!rel.startsWith('..')) return rel || '.';
    }
    return dir;
  }
}

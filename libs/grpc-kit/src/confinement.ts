/**
 * Paths that arrive in requests (corpus, model, lens, output) are resolved inside the
 * roots the operator configured, so a caller can never make a service read or write
 * elsewhere on the node: `..` escapes, absolute paths outside the roots and symlinks
 * that lead out are PERMISSION_DENIED; missing files NOT_FOUND; directories, devices
 * and FIFOs where a file is expected INVALID_ARGUMENT.
 */
import { realpathSync, statSync, existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep, dirname } from 'node:path';
import { RpcError, invalidArgument, notFound, permissionDenied } from './errors';

export interface RootsConfig {
  /** Absolute folders requests may name paths inside. Relative request paths resolve against the first. */
  roots: string[];
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

function lexical(requested: string, roots: string[]): string {
  if (roots.length === 0) throw permissionDenied('this server accepts no paths in requests (no data roots configured)');
  if (requested.trim() === '') throw invalidArgument('empty path');
  if (requested.includes('\0')) throw invalidArgument('path contains a NUL byte');
  const absolute = isAbsolute(requested) ? resolve(requested) : resolve(roots[0], requested);
  if (!roots.some((r) => inside(resolve(r), absolute))) {
    throw permissionDenied(`path "${requested}" is outside the allowed roots (${roots.length} configured); give a path relative to the data root`);
  }
  return absolute;
}

function realRoots(roots: string[]): string[] {
  return roots.map((r) => { try { return realpathSync(r); } catch { return resolve(r); } });
}

/** An existing regular file inside the roots, with symlinks resolved. */
export function resolveFileInRoots(requested: string, cfg: RootsConfig): string {
  const absolute = lexical(requested, cfg.roots);
  let real: string;
  try {
    real = realpathSync(absolute);
  } catch {
    throw notFound(`no such file: "${requested}"`);
  }
  if (!realRoots(cfg.roots).some((r) => inside(r, real))) {
    throw permissionDenied(`path "${requested}" leads outside the allowed roots through a symbolic link`);
  }
  const st = statSync(real);
  if (!st.isFile()) throw invalidArgument(`"${requested}" is not a regular file`);
  return real;
}

/** An existing folder inside the roots (e.g. a lens or model folder). */
export function resolveDirInRoots(requested: string, cfg: RootsConfig): string {
  const absolute = lexical(requested, cfg.roots);
  let real: string;
  try {
    real = realpathSync(absolute);
  } catch {
    throw notFound(`no such folder: "${requested}"`);
  }
  if (!realRoots(cfg.roots).some((r) => inside(r, real))) {
    throw permissionDenied(`path "${requested}" leads outside the allowed roots through a symbolic link`);
  }
  if (!statSync(real).isDirectory()) throw invalidArgument(`"${requested}" is not a folder`);
  return real;
}

/**
 * A path to write (a folder to create or fill) inside the roots. Its nearest existing
 * ancestor must resolve inside the roots too, so a symlinked parent cannot redirect it.
 */
export function resolveOutputInRoots(requested: string, cfg: RootsConfig): string {
  const absolute = lexical(requested, cfg.roots);
  let probe = absolute;
  while (!existsSync(probe)) {
    const parent = dirname(probe);
    if (parent === probe) break;
    probe = parent;
  }
  const real = join(realpathSync(probe), relative(probe, absolute));
  if (!realRoots(cfg.roots).some((r) => inside(r, real))) {
    throw permissionDenied(`path "${requested}" leads outside the allowed roots through a symbolic link`);
  }
  if (existsSync(real) && !statSync(real).isDirectory()) throw invalidArgument(`"${requested}" exists and is not a folder`);
  return real;
}


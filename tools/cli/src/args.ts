/**
 * Option parsing for the subcommands, on node's own parseArgs. The original Python CLI
 * spells flags with underscores (`--max_seq_len`); both spellings are accepted by
 * rewriting `--a_b` to `--a-b` before parsing. Unknown flags are an error that lists
 * the known ones.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export function normaliseFlag(arg: string): string {
  if (!arg.startsWith('--')) return arg;
  const eq = arg.indexOf('=');
  const name = eq < 0 ? arg : arg.slice(0, eq);
  return name.replaceAll('_', '-') + (eq < 0 ? '' : arg.slice(eq));
}

export function parse<O extends OptionSpec>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>({
      args: argv.map(normaliseFlag), options, allowPositionals, strict: true,
    });
  } catch (err) {
    const known = Object.keys(options).map((k) => `--${k}`).join(', ');
    throw new UsageError(`${(err as Error).message.replace(/\. To specify.*$/s, '')}\nknown options: ${known}`);
  }
}

/** A positive integer option, with a message naming the flag when it is not one. */
export function intOption(value: string | undefined, flag: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** A port option: 0..65535 (0 = any free port). */
export function portOption(value: string | undefined, flag: string, fallback: number): number {
  const n = intOption(value, flag, fallback, 0);
  if (n > 65535) throw new UsageError(`--${flag} must be a port 0..65535, got "${value}"`);
  return n;
}

/**
 * A local path the user named, checked before any service starts: a typo is reported at
 * once, quoting the path as typed (not after seconds of start-up as a server's bare name).
 * Returns the absolute path.
 */
function existingPath(value: string, flag: string, kind: 'file' | 'folder'): string {
  const path = resolve(value);
  if (!existsSync(path)) throw new UsageError(`--${flag} "${value}": no such ${kind}${value === path ? '' : ` (looked for ${path})`}`);
  const isFolder = statSync(path).isDirectory();
  if (kind === 'file' && isFolder) throw new UsageError(`--${flag} "${value}" is a folder, not a file`);
  if (kind === 'folder' && !isFolder) {
    throw new UsageError(flag === 'model' ? `--${flag} "${value}" is a file; give the model's folder (with config.json, the weights and the tokenizer)` : `--${flag} "${value}" is a file, not a folder`);
  }
  return path;
}

export const existingFile = (value: string, flag: string): string => existingPath(value, flag, 'file');

/** A local folder the user named (a lens, say). */
export const existingDir = (value: string, flag: string): string => existingPath(value, flag, 'folder');

/** A local Hugging Face model folder: it must hold config.json (what every save_pretrained folder has). */
export function existingModelDir(value: string, flag = 'model'): string {
  const path = existingPath(value, flag, 'folder');
  if (!existsSync(join(path, 'config.json'))) throw new UsageError(`--${flag} "${value}" has no config.json: it is not a Hugging Face model folder`);
  return path;
}

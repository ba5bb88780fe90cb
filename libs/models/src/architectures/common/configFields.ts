/**
 * Typed reads of config.json fields, each failing with a ConfigError that names the
 * field, the expected type and what was found. A field that is present but `null` is
 * treated as absent, as `transformers` does (e.g. gpt2's `"n_inner": null`).
 */
import { ConfigError } from '../../config/errors.js';

export class ConfigFields {
  constructor(
    readonly raw: Readonly<Record<string, unknown>>,
    /** File label used in error messages. */
    readonly file: string,
  ) {}

  /** The value of `name`, undefined when absent or null. */
  get(name: string): unknown {
    const v = Object.prototype.hasOwnProperty.call(this.raw, name) ? this.raw[name] : undefined;
    return v === null ? undefined : v;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** The first of `names` that is present (for renamed fields), else undefined. */
  firstPresent(...names: string[]): string | undefined {
    return names.find((n) => this.has(n));
  }

  /** A required integer >= `min` (default 1). */
  int(name: string, min = 1): number {
    return this.checkInt(name, this.required(name), min);
  }

  /** An optional integer >= `min` (default 1), `fallback` when absent. */
  optInt(name: string, fallback: number, min = 1): number {
    const v = this.get(name);
    return v === undefined ? fallback : this.checkInt(name, v, min);
  }

  /** A required finite number > 0. */
  positive(name: string): number {
    return this.checkPositive(name, this.required(name));
  }

  /** An optional finite number > 0, `fallback` when absent. */
  optPositive(name: string, fallback: number): number {
    const v = this.get(name);
    return v === undefined ? fallback : this.checkPositive(name, v);
  }

  optBool(name: string, fallback: boolean): boolean {
    const v = this.get(name);
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw this.wrongType(name, 'a boolean', v);
    return v;
  }

  optString(name: string, fallback: string): string {
    const v = this.get(name);
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v === '') throw this.wrongType(name, 'a non-empty string', v);
    return v;
  }

  /** A token id field: an integer >= 0, a list of them, or null. */
  tokenIds(name: string): number | number[] | null {
    const v = this.get(name);
    if (v === undefined) return null;
    const ok = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
    if (ok(v)) return v;
    if (Array.isArray(v) && v.every(ok)) return [...v];
    throw this.wrongType(name, 'a token id (integer >= 0) or a list of them', v);
  }

  /** A ConfigError `invalid` naming `field`. */
  invalid(field: string | undefined, reason: string): ConfigError {
    return new ConfigError('invalid', this.file, field, reason);
  }

  /** A ConfigError `unsupported` naming `field`. */
  unsupported(field: string | undefined, reason: string): ConfigError {
    return new ConfigError('unsupported', this.file, field, reason);
  }

  wrongType(name: string, expected: string, got: unknown): ConfigError {
    return this.invalid(name, `field "${name}" must be ${expected}, got ${describe(got)}`);
  }

  private required(name: string): unknown {
    const v = this.get(name);
    if (v === undefined) throw this.invalid(name, `required field "${name}" is missing`);
    return v;
  }

  private checkInt(name: string, v: unknown, min: number): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw this.wrongType(name, `an integer >= ${min}`, v);
    return v;
  }

  private checkPositive(name: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw this.wrongType(name, 'a finite number > 0', v);
    return v;
  }
}

export function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * The safetensors header: parsing with strict validation, and building.
 *
 * File layout: `u64 little-endian N` | `N bytes of JSON header` | `data buffer`.
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}`,
 * offsets relative to the start of the data buffer; the optional `__metadata__` entry
 * maps strings to strings.
 */
import { shapeToString } from '@tuned-lens/tensor';
import { CheckpointError } from './errors.js';
import { dtypeSize, isSafetensorsDType, knownDTypeNames, type SafetensorsDType } from './dtypes.js';

/**
 * Largest header accepted, as in the reference implementation (100 MB). A length prefix
 * above it is a corrupt or non-safetensors file, and must not become a huge allocation.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** Key of the free-form string metadata in the header. */
export const METADATA_KEY = '__metadata__';

/** One tensor of a safetensors file; `begin`/`end` are byte offsets into the data buffer. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

export interface ParsedHeader {
  /** Tensors in header order. */
  readonly entries: ReadonlyMap<string, TensorEntry>;
  /** `__metadata__`, or an empty object when absent. */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Reads and range-checks the 8-byte length prefix.
 * @param prefix the first bytes of the file (at least 8 when the file has them)
 * @param fileSize total file size in bytes
 * @returns the header length N (so the data buffer starts at byte 8 + N)
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new CheckpointError('invalid', file, `file is ${fileSize} bytes, shorter than the 8-byte header length prefix (truncated, or not a safetensors file)`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError('invalid', file, `header length ${n} is larger than the ${MAX_HEADER_BYTES}-byte limit (corrupt, or not a safetensors file)`);
  }
  if (n > BigInt(fileSize - 8)) {
    throw new CheckpointError('invalid', file, `header length ${n} is larger than the ${fileSize - 8} bytes after the length prefix (truncated file?)`);
  }
  if (n < 2n) {
    throw new CheckpointError('invalid', file, `header length ${n} is too small to hold a JSON object`);
  }
  return Number(n);
}

/**
 * Parses and validates the JSON header against a data buffer of `dataLength` bytes:
 * known dtypes, shapes of non-negative integers, offsets inside the buffer, byte lengths
 * equal to numel * element size, and no two tensors sharing bytes. Gaps between tensors
 * are tolerated (the bytes are simply unused), since they cannot make a read wrong.
 */
export function parseHeader(headerBytes: Uint8Array, dataLength: number, file: string): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new CheckpointError('invalid', file, 'header is not valid UTF-8 (corrupt, or not a safetensors file)');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError('invalid', file, `header is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CheckpointError('invalid', file, `header must be a JSON object, got ${describe(json)}`);
  }

  let metadata: Record<string, string> = {};
  const entries = new Map<string, TensorEntry>();
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(value, file);
      continue;
    }
    entries.set(name, parseEntry(name, value, dataLength, file));
  }
  checkNoOverlap([...entries.values()], file);
  return { entries, metadata };
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckpointError('invalid', file, `${METADATA_KEY} must be an object of strings, got ${describe(value)}`);
  }
  const pairs = Object.entries(value as Record<string, unknown>);
  for (const [k, v] of pairs) {
    if (typeof v !== 'string') {
      throw new CheckpointError('invalid', file, `${METADATA_KEY}.${k} must be a string, got ${describe(v)}`);
    }
  }
  // fromEntries defines own properties, so a key like "__proto__" stays plain data.
  return Object.fromEntries(pairs) as Record<string, string>;
}

function parseEntry(name: string, value: unknown, dataLength: number, file: string): TensorEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckpointError('invalid', file, `${where}: entry must be an object {dtype, shape, data_offsets}, got ${describe(value)}`);
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;

  if (typeof dtype !== 'string') {
    throw new CheckpointError('invalid', file, `${where}: dtype must be a string, got ${describe(dtype)}`);
  }
  if (!isSafetensorsDType(dtype)) {
    throw new CheckpointError('invalid', file, `${where}: unknown dtype ${JSON.stringify(dtype)} (known: ${knownDTypeNames().join(', ')})`);
  }

  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new CheckpointError('invalid', file, `${where}: shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  let numel = 1;
  for (const d of shape as number[]) numel *= d;
  if (!Number.isSafeInteger(numel)) {
    throw new CheckpointError('invalid', file, `${where}: shape ${shapeToString(shape)} has too many elements`);
  }

  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw new CheckpointError('invalid', file, `${where}: data_offsets must be two non-negative integers [begin, end], got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) {
    throw new CheckpointError('invalid', file, `${where}: data_offsets [${begin}, ${end}] has begin > end`);
  }
  if (end > dataLength) {
    throw new CheckpointError('invalid', file, `${where}: data_offsets [${begin}, ${end}] end beyond the ${dataLength}-byte data buffer (truncated file?)`);
  }
  const size = dtypeSize(dtype);
  if (end - begin !== numel * size) {
    throw new CheckpointError(
      'invalid',
      file,
      `${where}: ${dtype} ${shapeToString(shape)} needs ${numel * size} bytes (${numel} x ${size}) but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, dtype, shape: Object.freeze([...(shape as number[])]), begin, end };
}

/** Sorted by offset, each non-empty tensor must start at or after the furthest end so far. */
function checkNoOverlap(entries: TensorEntry[], file: string): void {
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
  let furthest: TensorEntry | undefined;
  for (const e of sorted) {
    if (furthest && e.begin < furthest.end) {
      throw new CheckpointError(
        'invalid',
        file,
        `tensors ${JSON.stringify(furthest.name)} [${furthest.begin}, ${furthest.end}] and ${JSON.stringify(e.name)} [${e.begin}, ${e.end}] overlap`,
      );
    }
    if (!furthest || e.end > furthest.end) furthest = e;
  }
}

/** Header entry to write: name, dtype, shape and offsets into the data buffer. */
export interface HeaderEntryToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  begin: number;
  end: number;
}

/**
 * Serialises a header, `__metadata__` first then the tensors in the given order, padded
 * with spaces to a multiple of 8 bytes as the reference implementation does, so the data
 * buffer starts 8-aligned and every tensor written at an aligned offset stays aligned in
 * memory when the file is read.
 * The JSON is assembled by hand rather than through an object, so a tensor name such as
 * `__proto__` is written as data instead of being swallowed by object semantics.
 */
export function buildHeader(entries: readonly HeaderEntryToWrite[], metadata?: Readonly<Record<string, string>>): Buffer {
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const meta = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${meta.join(',')}}`);
  }
  for (const e of entries) {
    const body = `{"dtype":${JSON.stringify(e.dtype)},"shape":[${e.shape.join(',')}],"data_offsets":[${e.begin},${e.end}]}`;
    parts.push(`${JSON.stringify(e.name)}:${body}`);
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = Buffer.alloc(padded, 0x20);
  json.copy(out);
  return out;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

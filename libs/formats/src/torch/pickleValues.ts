/**
 * The values a safe unpickle can produce. Only inert data: no Python object is ever
 * constructed, and a global is a name from a fixed allow-list, never a live callable.
 */

/** A float dtype a torch storage can hold here (safetensors names). */
export type TorchFloatDType = 'F32' | 'F16' | 'BF16';

/** Python dict keys accepted here (str and int; tuples and others are refused). */
export type PyKey = string | number;

/** Any unpickled value. `number` covers Python int (safe range) and float. */
export type PyValue = null | boolean | number | string | PyTuple | PyList | PyDict | PyGlobal | TorchStorage | TorchTensor;

/** A Python tuple (immutable). */
export class PyTuple {
  constructor(
    readonly items: readonly PyValue[],
    /** Nesting depth (1 + the deepest item). */
    readonly depth: number,
  ) {}
}

/** A Python list. */
export class PyList {
  readonly items: PyValue[] = [];
  depth = 1;
}

/** A Python dict or `collections.OrderedDict` (insertion order is kept either way). */
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** Attributes set by BUILD (torch's state dicts carry `_metadata` this way), or null. */
  attributes: PyDict | null = null;
  depth = 1;
  constructor(
    /** True for `collections.OrderedDict`. */
    readonly ordered: boolean,
  ) {}
}

/** A reference to an allowed global (`module.name`), inert until REDUCE applies it. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * A tensor storage named by a persistent id `('storage', torch.<T>Storage, key, location,
 * numel)`: its bytes are the archive entry `data/<key>`, `numel` elements of `dtype`.
 */
export class TorchStorage {
  constructor(
    readonly dtype: TorchFloatDType,
    readonly key: string,
    /** Where it lived when saved ('cpu', 'cuda:0', ...); irrelevant for reading. */
    readonly location: string,
    readonly numel: number,
  ) {}
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage. */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    /** Offset into the storage, in elements. */
    readonly storageOffset: number,
    readonly shape: readonly number[],
    /** Strides in elements. */
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
  ) {}

  get dtype(): TorchFloatDType {
    return this.storage.dtype;
  }
}

/** Nesting depth of a value (scalars and leaves count 0, containers 1 + their deepest item). */
export function depthOf(v: PyValue): number {
  if (v instanceof PyTuple || v instanceof PyList || v instanceof PyDict) return v.depth;
  return 0;
}

/** A short description of a value's type, for error messages (never recursive). */
export function typeName(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  if (v instanceof PyTuple) return `tuple of ${v.items.length}`;
  if (v instanceof PyList) return 'list';
  if (v instanceof PyDict) return v.ordered ? 'OrderedDict' : 'dict';
  if (v instanceof PyGlobal) return `global ${v.fullName}`;
  if (v instanceof TorchStorage) return 'storage';
  return 'tensor';
}

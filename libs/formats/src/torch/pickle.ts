/**
 * A SAFE unpickler for the subset of pickle that `torch.save` uses for a state dict of
 * tensors (protocol 2; protocol 4/5 framing too, in case a file was saved with
 * `pickle_protocol=4`).
 *
 * Pickle is a program for a stack machine whose GLOBAL + REDUCE opcodes call any Python
 * function, so a hostile params.pt can run `os.system` under a normal unpickler. Here no
 * Python object is ever built: globals resolve only against a fixed allow-list (the same
 * idea as `torch.load(weights_only=True)`) to inert names, and REDUCE only "calls" the
 * handful of allowed rebuild functions, which produce plain data (see pickleValues.ts).
 * Opcodes that construct arbitrary objects (INST, OBJ, NEWOBJ, EXT*) are refused, and
 * input size, memo size and nesting are bounded.
 */
import { FormatError } from '../errors.js';
import { OPCODE_NAMES, OP } from './pickleOpcodes.js';
import {
  PyDict, PyGlobal, PyList, PyTuple, TorchStorage, TorchTensor, depthOf, typeName,
  type PyKey, type PyValue, type TorchFloatDType,
} from './pickleValues.js';

/** Bounds on what a pickle may make the unpickler do. */
export interface UnpickleLimits {
  /** Largest pickle accepted, in bytes (default 16 MiB, ~150k tensors; a lens's data.pkl is a few KB). */
  maxPickleBytes?: number;
  /** Most memo entries (default 1,000,000; torch uses about 7 per tensor). */
  maxMemoEntries?: number;
  /** Deepest nesting of MARKs or of containers (default 64; a state dict needs about 5). */
  maxDepth?: number;
}

export const DEFAULT_UNPICKLE_LIMITS: Readonly<Required<UnpickleLimits>> = Object.freeze({
  maxPickleBytes: 16 * 1024 * 1024,
  maxMemoEntries: 1_000_000,
  maxDepth: 64,
});

/** Storage classes that hold a dtype this library decodes. */
const STORAGE_DTYPES: Readonly<Record<string, TorchFloatDType>> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
};

/** Storage classes torch can write that are not decoded here (refused as unsupported, not unsafe). */
const OTHER_STORAGES: Readonly<Record<string, string>> = {
  DoubleStorage: 'float64', LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8',
  ByteStorage: 'uint8', BoolStorage: 'bool', ComplexFloatStorage: 'complex64', ComplexDoubleStorage: 'complex128',
  QInt8Storage: 'qint8', QUInt8Storage: 'quint8', QInt32Storage: 'qint32', UntypedStorage: 'untyped bytes',
};

const REBUILD_TENSOR = 'torch._utils._rebuild_tensor_v2';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';
const ORDERED_DICT = 'collections.OrderedDict';

/** Every global a pickle may name (`module.name`); anything else is refused. */
export const ALLOWED_GLOBALS: readonly string[] = Object.freeze([
  ORDERED_DICT,
  REBUILD_TENSOR,
  REBUILD_PARAMETER,
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

/**
 * Unpickles `bytes` (e.g. a torch archive's `data.pkl`) into inert values: the root is
 * normally a {@link PyDict} of name -> {@link TorchTensor}.
 * @throws FormatError: `unsafe` for a global or call outside the allow-list, `corrupt`
 *   for malformed or truncated input (with the byte offset), `unsupported` for valid
 *   pickle outside the subset, `too_large` when a limit is hit
 */
export function unpickle(bytes: Uint8Array, limits: UnpickleLimits = {}): PyValue {
  const lim = { ...DEFAULT_UNPICKLE_LIMITS, ...limits };
  if (bytes.byteLength > lim.maxPickleBytes) {
    throw new FormatError('too_large', '', `pickle of ${bytes.byteLength} bytes exceeds the limit of ${lim.maxPickleBytes}`);
  }
  return new Machine(bytes, lim).run();
}

class Machine {
  private pos = 0;
  /** Where the opcode being executed starts (for messages). */
  private at = 0;
  private op = 0;
  private readonly stack: PyValue[] = [];
  /** Stack heights at each open MARK. */
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(
    private readonly bytes: Uint8Array,
    private readonly lim: Required<UnpickleLimits>,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): PyValue {
    for (;;) {
      this.at = this.pos;
      this.op = -1;
      if (this.pos >= this.bytes.byteLength) this.fail('corrupt', 'pickle ends without a STOP opcode (truncated)');
      this.op = this.bytes[this.pos++];
      switch (this.op) {
        case OP.PROTO: {
          const v = this.u8();
          if (v < 2 || v > 5) this.fail('unsupported', `pickle protocol ${v} (supported: 2 to 5)`);
          break;
        }
        case OP.FRAME: {
          // Protocol 4 framing only groups opcodes for buffered reading; the whole pickle
          // is in memory, so the frame length is just checked.
          const n = this.u64();
          if (n > this.bytes.byteLength - this.pos) this.fail('corrupt', `frame of ${n} bytes runs past the end of the pickle (truncated)`);
          break;
        }
        case OP.STOP:
          return this.stop();
        case OP.MARK:
          if (this.marks.length >= this.lim.maxDepth) this.fail('too_large', `more than ${this.lim.maxDepth} nested MARKs`);
          this.marks.push(this.stack.length);
          break;
        case OP.NONE:
          this.push(null);
          break;
        case OP.NEWTRUE:
          this.push(true);
          break;
        case OP.NEWFALSE:
          this.push(false);
          break;
        case OP.BININT:
          this.push(this.view.getInt32(this.need(4), true));
          break;
        case OP.BININT1:
          this.push(this.u8());
          break;
        case OP.BININT2:
          this.push(this.view.getUint16(this.need(2), true));
          break;
        case OP.LONG1:
          this.push(this.long(this.u8()));
          break;
        case OP.LONG4: {
          const n = this.view.getInt32(this.need(4), true);
          if (n < 0) this.fail('corrupt', `LONG4 with negative length ${n}`);
          this.push(this.long(n));
          break;
        }
        case OP.BINFLOAT:
          this.push(this.view.getFloat64(this.need(8), false));
          break;
        case OP.SHORT_BINUNICODE:
          this.push(this.str(this.u8()));
          break;
        case OP.BINUNICODE:
          this.push(this.str(this.view.getUint32(this.need(4), true)));
          break;
        case OP.BINUNICODE8:
          this.push(this.str(this.u64()));
          break;
        case OP.EMPTY_TUPLE:
          this.push(new PyTuple([], 1));
          break;
        case OP.TUPLE1:
        case OP.TUPLE2:
        case OP.TUPLE3: {
          const n = this.op - OP.TUPLE1 + 1;
          const items: PyValue[] = [];
          for (let i = 0; i < n; i++) items.unshift(this.pop());
          this.push(this.tuple(items));
          break;
        }
        case OP.TUPLE:
          this.push(this.tuple(this.popMark()));
          break;
        case OP.EMPTY_LIST:
          this.push(new PyList());
          break;
        case OP.LIST: {
          const list = new PyList();
          for (const item of this.popMark()) this.append(list, item);
          this.push(list);
          break;
        }
        case OP.APPEND: {
          const item = this.pop();
          this.append(this.topAs(PyList, 'APPEND needs a list'), item);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark();
          const list = this.topAs(PyList, 'APPENDS needs a list');
          for (const item of items) this.append(list, item);
          break;
        }
        case OP.EMPTY_DICT:
          this.push(new PyDict(false));
          break;
        case OP.DICT: {
          const dict = new PyDict(false);
          this.setItems(dict, this.popMark());
          this.push(dict);
          break;
        }
        case OP.SETITEM: {
          const value = this.pop();
          const key = this.pop();
          this.setItems(this.topAs(PyDict, 'SETITEM needs a dict'), [key, value]);
          break;
        }
        case OP.SETITEMS: {
          const items = this.popMark();
          this.setItems(this.topAs(PyDict, 'SETITEMS needs a dict'), items);
          break;
        }
        case OP.BINPUT:
          this.put(this.u8());
          break;
        case OP.LONG_BINPUT:
          this.put(this.view.getUint32(this.need(4), true));
          break;
        case OP.MEMOIZE:
          this.put(this.memo.size);
          break;
        case OP.BINGET:
          this.get(this.u8());
          break;
        case OP.LONG_BINGET:
          this.get(this.view.getUint32(this.need(4), true));
          break;
        case OP.GLOBAL: {
          const module = this.line();
          const name = this.line();
          this.push(this.global(module, name));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') {
            this.fail('corrupt', `STACK_GLOBAL needs two strings, got ${typeName(module)} and ${typeName(name)}`);
          }
          this.push(this.global(module, name));
          break;
        }
        case OP.BINPERSID:
          this.push(this.persistentLoad(this.pop()));
          break;
        case OP.REDUCE: {
          const args = this.pop();
          const callable = this.pop();
          this.push(this.reduce(callable, args));
          break;
        }
        case OP.BUILD: {
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        default:
          this.refuseOpcode();
      }
    }
  }

  // ------------------------------------------------------------ semantics

  private stop(): PyValue {
    if (this.marks.length > 0) this.fail('corrupt', `STOP with ${this.marks.length} unclosed MARK(s)`);
    if (this.stack.length !== 1) this.fail('corrupt', `STOP with ${this.stack.length} values on the stack (expected exactly 1)`);
    if (this.pos !== this.bytes.byteLength) this.fail('corrupt', `${this.bytes.byteLength - this.pos} bytes after STOP`);
    return this.stack[0];
  }

  private global(module: string, name: string): PyGlobal {
    const full = `${module}.${name}`;
    if (ALLOWED_GLOBALS.includes(full)) return new PyGlobal(module, name);
    if (module === 'torch' && Object.prototype.hasOwnProperty.call(OTHER_STORAGES, name)) {
      this.fail('unsupported', `tensor storage type ${full} (${OTHER_STORAGES[name]}) is not supported; lens tensors must be float32, float16 or bfloat16`);
    }
    return this.fail('unsafe', `refusing global ${JSON.stringify(full)}: not in the allow-list (${ALLOWED_GLOBALS.join(', ')}). A params.pt holding a state dict of tensors never needs it; the file may be malicious (torch.load(weights_only=True) refuses it too)`);
  }

  /** `('storage', torch.<T>Storage, key, location, numel)` -> a storage reference. */
  private persistentLoad(pid: PyValue): TorchStorage {
    if (!(pid instanceof PyTuple) || pid.items.length !== 5) this.fail('corrupt', `persistent id must be a 5-tuple ('storage', type, key, location, numel), got ${typeName(pid)}`);
    const [tag, type, key, location, numel] = pid.items;
    if (tag !== 'storage') this.fail('unsupported', `persistent id of kind ${JSON.stringify(tag)} (only 'storage')`);
    if (!(type instanceof PyGlobal) || type.module !== 'torch' || !Object.hasOwn(STORAGE_DTYPES, type.name)) {
      this.fail('corrupt', `persistent id storage type must be a torch storage class, got ${typeName(type)}`);
    }
    if (typeof key !== 'string' || key === '') this.fail('corrupt', `persistent id storage key must be a non-empty str, got ${typeName(key)}`);
    if (typeof location !== 'string') this.fail('corrupt', `persistent id location must be a str, got ${typeName(location)}`);
    if (!isCount(numel)) this.fail('corrupt', `persistent id numel must be a non-negative int, got ${typeName(numel)} ${String(numel)}`);
    return new TorchStorage(STORAGE_DTYPES[type.name], key, location, numel);
  }

  private reduce(callable: PyValue, args: PyValue): PyValue {
    if (!(callable instanceof PyGlobal)) this.fail('unsafe', `REDUCE may only call an allowed global, got ${typeName(callable)}`);
    if (!(args instanceof PyTuple)) this.fail('corrupt', `REDUCE arguments must be a tuple, got ${typeName(args)}`);
    const a = args.items;
    switch (callable.fullName) {
      case ORDERED_DICT:
        if (a.length !== 0) this.fail('unsupported', `OrderedDict(...) with ${a.length} arguments (torch pickles it with none)`);
        return new PyDict(true);
      case REBUILD_TENSOR:
        return this.rebuildTensor(a);
      case REBUILD_PARAMETER: {
        // _rebuild_parameter(data, requires_grad, backward_hooks): nn.Parameter around a tensor.
        if (a.length !== 3 || !(a[0] instanceof TorchTensor) || typeof a[1] !== 'boolean') {
          this.fail('corrupt', `${REBUILD_PARAMETER} expects (tensor, bool, hooks), got ${a.length} arguments`);
        }
        const t = a[0];
        return new TorchTensor(t.storage, t.storageOffset, t.shape, t.stride, a[1]);
      }
      default:
        return this.fail('unsafe', `REDUCE on ${callable.fullName}, which is not callable here (only ${ORDERED_DICT}, ${REBUILD_TENSOR}, ${REBUILD_PARAMETER})`);
    }
  }

  /** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`. */
  private rebuildTensor(a: readonly PyValue[]): TorchTensor {
    const what = REBUILD_TENSOR;
    if (a.length !== 6 && a.length !== 7) this.fail('corrupt', `${what} expects 6 or 7 arguments, got ${a.length}`);
    const [storage, offset, size, stride, requiresGrad, hooks] = a;
    if (!(storage instanceof TorchStorage)) this.fail('corrupt', `${what}: argument 1 must be a storage (persistent id), got ${typeName(storage)}`);
    if (!isCount(offset)) this.fail('corrupt', `${what}: storage offset must be a non-negative int, got ${String(offset)}`);
    const shape = this.intTuple(size, `${what}: size`);
    const strides = this.intTuple(stride, `${what}: stride`);
    if (strides.length !== shape.length) this.fail('corrupt', `${what}: size has ${shape.length} dims but stride has ${strides.length}`);
    if (typeof requiresGrad !== 'boolean') this.fail('corrupt', `${what}: requires_grad must be a bool, got ${typeName(requiresGrad)}`);
    if (!(hooks instanceof PyDict)) this.fail('corrupt', `${what}: backward_hooks must be an OrderedDict, got ${typeName(hooks)}`);
    return new TorchTensor(storage, offset, shape, strides, requiresGrad);
  }

  private intTuple(v: PyValue, what: string): number[] {
    if (!(v instanceof PyTuple)) this.fail('corrupt', `${what} must be a tuple, got ${typeName(v)}`);
    return v.items.map((x, i) => {
      if (!isCount(x)) this.fail('corrupt', `${what}[${i}] must be a non-negative int, got ${typeName(x)} ${String(x)}`);
      return x;
    });
  }

  /** BUILD: only `OrderedDict.__dict__.update(state)`, how torch attaches `_metadata`. */
  private build(inst: PyValue, state: PyValue): void {
    if (!(inst instanceof PyDict) || !inst.ordered) this.fail('unsafe', `BUILD may only set attributes of an OrderedDict, got ${typeName(inst)}`);
    if (!(state instanceof PyDict)) this.fail('unsupported', `BUILD state must be a dict, got ${typeName(state)}`);
    for (const k of state.map.keys()) if (typeof k !== 'string') this.fail('corrupt', `BUILD state has a non-str attribute name ${String(k)}`);
    inst.attributes = state;
    this.deepen(inst, state);
  }

  private setItems(dict: PyDict, items: PyValue[]): void {
    if (items.length % 2 !== 0) this.fail('corrupt', `odd number of values (${items.length}) for dict items`);
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (typeof key !== 'string' && !(typeof key === 'number' && Number.isInteger(key))) {
        this.fail('unsupported', `dict key of type ${typeName(key)} (only str and int keys)`);
      }
      dict.map.set(key as PyKey, items[i + 1]);
      this.deepen(dict, items[i + 1]);
    }
  }

  private append(list: PyList, item: PyValue): void {
    list.items.push(item);
    this.deepen(list, item);
  }

  private tuple(items: PyValue[]): PyTuple {
    let depth = 0;
    for (const item of items) depth = Math.max(depth, depthOf(item));
    this.checkDepth(depth + 1);
    return new PyTuple(items, depth + 1);
  }

  /**
   * Records that `container` now holds `item`. Depth only grows along the way values are
   * built (a container filled after being put into another is not re-propagated), which
   * is enough: nothing here walks values recursively, the bound guards later consumers.
   */
  private deepen(container: PyList | PyDict, item: PyValue): void {
    const d = depthOf(item) + 1;
    if (d > container.depth) {
      this.checkDepth(d);
      container.depth = d;
    }
  }

  private checkDepth(d: number): void {
    if (d > this.lim.maxDepth) this.fail('too_large', `values nested more than ${this.lim.maxDepth} deep`);
  }

  // ------------------------------------------------------------ stack and memo

  private push(v: PyValue): void {
    this.stack.push(v);
  }

  private pop(): PyValue {
    const floor = this.marks.length > 0 ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= floor) this.fail('corrupt', 'stack underflow');
    return this.stack.pop()!;
  }

  private top(): PyValue {
    const floor = this.marks.length > 0 ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= floor) this.fail('corrupt', 'stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private topAs<T>(cls: new (...args: never[]) => T, what: string): T {
    const v = this.top();
    if (!(v instanceof cls)) this.fail('corrupt', `${what}, got ${typeName(v)}`);
    return v as T;
  }

  private popMark(): PyValue[] {
    const mark = this.marks.pop();
    if (mark === undefined) this.fail('corrupt', 'no MARK to pop to');
    return this.stack.splice(mark);
  }

  private put(index: number): void {
    if (!this.memo.has(index) && this.memo.size >= this.lim.maxMemoEntries) {
      this.fail('too_large', `memo grows past the limit of ${this.lim.maxMemoEntries} entries`);
    }
    this.memo.set(index, this.top());
  }

  private get(index: number): void {
    if (!this.memo.has(index)) this.fail('corrupt', `memo entry ${index} read before it was written`);
    this.push(this.memo.get(index)!);
  }

  // ------------------------------------------------------------ reading bytes

  /** Reserves `n` bytes; returns where they start. */
  private need(n: number): number {
    if (n > this.bytes.byteLength - this.pos) {
      this.fail('corrupt', `pickle truncated: needs ${n} more bytes at byte ${this.pos}, only ${this.bytes.byteLength - this.pos} left`);
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }

  private u8(): number {
    return this.bytes[this.need(1)];
  }

  private u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('corrupt', `length ${v} is impossibly large`);
    return Number(v);
  }

  private str(n: number): string {
    const p = this.need(n);
    try {
      return this.utf8.decode(this.bytes.subarray(p, p + n));
    } catch {
      return this.fail('corrupt', 'string is not valid UTF-8');
    }
  }

  /** A GLOBAL operand: text up to '\n' (bounded, so a missing newline fails fast). */
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > 512) this.fail('corrupt', `GLOBAL operand without a newline within 512 bytes (truncated?)`);
    const text = this.str(end - this.pos);
    this.pos = end + 1;
    return text;
  }

  /** LONG1/LONG4 payload: little-endian two's complement; must fit a safe integer. */
  private long(n: number): number {
    const p = this.need(n);
    if (n === 0) return 0;
    if (n > 8) this.fail('unsupported', `integer of ${n} bytes is too large`);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.bytes[p + i]);
    if (this.bytes[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) this.fail('unsupported', `integer ${v} is outside the safe range`);
    return Number(v);
  }

  // ------------------------------------------------------------ errors

  private refuseOpcode(): never {
    const code = `0x${this.op.toString(16).padStart(2, '0')}`;
    const name = OPCODE_NAMES[this.op];
    if (!name) this.fail('corrupt', `unknown opcode ${code}`);
    if (name === 'INST' || name === 'OBJ' || name === 'NEWOBJ' || name === 'NEWOBJ_EX' || name.startsWith('EXT')) {
      this.fail('unsafe', `opcode ${name} (${code}) constructs arbitrary objects and is refused`);
    }
    return this.fail('unsupported', `opcode ${name} (${code}) is outside the subset torch.save uses for tensors`);
  }

  private fail(kind: FormatError['kind'], message: string): never {
    const name = OPCODE_NAMES[this.op];
    throw new FormatError(kind, '', `pickle: ${message} (${name ? `opcode ${name}, ` : ''}at byte ${this.at})`);
  }
}

function isCount(v: PyValue): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

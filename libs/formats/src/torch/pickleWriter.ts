/**
 * Writes the pickle (`data.pkl`) of a torch state dict, protocol 2, emitting exactly the
 * opcodes CPython's pickler emits for `torch.save(module.state_dict())`: the same memo
 * (BINPUT after every memoizable value, BINGET for values pickled before by identity), the
 * same tuple and batching opcodes, and `_rebuild_tensor_v2` with persistent-id storages.
 * For a ModuleList of nn.Linear it reproduces torch 1.13's data.pkl byte for byte (tested).
 */
import { OP } from './pickleOpcodes.js';
import type { TorchFloatDType } from './pickleValues.js';

/** One tensor of the state dict, as a view of a storage written as `data/<storageKey>`. */
export interface PickleTensorSpec {
  name: string;
  dtype: TorchFloatDType;
  storageKey: string;
  /** Elements in the storage. */
  storageNumel: number;
  /** Offset of the tensor in the storage, in elements. */
  storageOffset: number;
  shape: readonly number[];
  /** Strides in elements. */
  stride: readonly number[];
}

/**
 * The `_metadata` torch attaches to a state dict: per module prefix ('' for the root,
 * '0', '1', ... for a ModuleList's children) its `{'version': n}` dict.
 */
export type StateDictMetadata = ReadonlyArray<readonly [prefix: string, entries: Readonly<Record<string, number>>]>;

const STORAGE_CLASS: Readonly<Record<TorchFloatDType, string>> = { F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage' };

/** CPython's pickler writes dict items in batches of this many (pickle._BATCHSIZE). */
const BATCH_SIZE = 1000;

/** The pickle bytes of an OrderedDict name -> tensor, optionally with torch's `_metadata`. */
export function pickleStateDict(tensors: readonly PickleTensorSpec[], metadata?: StateDictMetadata): Uint8Array {
  const p = new Pickler();
  p.proto(2);
  p.reduceCall(() => p.global('collections', 'OrderedDict'), () => p.emptyTuple());
  p.put();
  p.items(tensors.map((t) => [() => p.str(t.name), () => tensor(p, t)]));
  if (metadata) {
    // state = {'_metadata': OrderedDict(prefix -> {'version': v})}, applied with BUILD.
    p.emptyDict();
    p.put();
    p.items([
      [
        () => p.str('_metadata'),
        () => {
          p.reduceCall(() => p.global('collections', 'OrderedDict'), () => p.emptyTuple());
          p.put();
          p.items(
            metadata.map(([prefix, entries]) => [
              () => p.str(prefix),
              () => {
                p.emptyDict();
                p.put();
                // Keys like 'version' are interned attribute names in Python: one object, so
                // the pickler memoizes them once and BINGETs them afterwards.
                p.items(Object.entries(entries).map(([k, v]) => [() => p.str(k, `key:${k}`), () => p.int(v)]));
              },
            ]),
          );
        },
      ],
    ]);
    p.op(OP.BUILD);
  }
  p.op(OP.STOP);
  return p.bytes();
}

/** `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`, memoized. */
function tensor(p: Pickler, t: PickleTensorSpec): void {
  p.reduceCall(
    () => p.global('torch._utils', '_rebuild_tensor_v2'),
    () => {
      p.op(OP.MARK);
      // The persistent id: a fresh tuple per tensor, whose 'storage', location and key
      // strings are the same Python objects each time (so BINGET after the first).
      p.op(OP.MARK);
      p.str('storage', 'str:storage');
      p.global('torch', STORAGE_CLASS[t.dtype]);
      p.str(t.storageKey, `storage:${t.storageKey}`);
      p.str('cpu', 'str:cpu');
      p.int(t.storageNumel);
      p.op(OP.TUPLE);
      p.put();
      p.op(OP.BINPERSID);
      p.int(t.storageOffset);
      p.intTuple(t.shape);
      p.intTuple(t.stride);
      p.op(OP.NEWFALSE);
      p.reduceCall(() => p.global('collections', 'OrderedDict'), () => p.emptyTuple());
      p.put();
      p.op(OP.TUPLE);
      p.put();
    },
  );
  p.put();
}

/** A byte buffer plus CPython's memo rules. */
class Pickler {
  private buf = Buffer.alloc(4096);
  private len = 0;
  private nextMemo = 0;
  /** Identity of an already pickled value -> its memo index. */
  private readonly memo = new Map<string, number>();

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  op(code: number): void {
    this.ensure(1);
    this.buf[this.len++] = code;
  }

  proto(v: number): void {
    this.op(OP.PROTO);
    this.op(v);
  }

  /** Memoizes the value just written (BINPUT, or LONG_BINPUT past 255). */
  put(): number {
    const i = this.nextMemo++;
    if (i < 256) {
      this.op(OP.BINPUT);
      this.op(i);
    } else {
      this.op(OP.LONG_BINPUT);
      this.u32(i);
    }
    return i;
  }

  /** Writes a value once per identity: later occurrences become BINGET of the memo. */
  private memoized(identity: string, write: () => void): void {
    const i = this.memo.get(identity);
    if (i !== undefined) {
      if (i < 256) {
        this.op(OP.BINGET);
        this.op(i);
      } else {
        this.op(OP.LONG_BINGET);
        this.u32(i);
      }
      return;
    }
    write();
    this.memo.set(identity, this.put());
  }

  global(module: string, name: string): void {
    this.memoized(`global:${module}.${name}`, () => {
      this.op(OP.GLOBAL);
      this.raw(Buffer.from(`${module}\n${name}\n`, 'utf8'));
    });
  }

  /** A str: BINUNICODE then BINPUT; with `identity`, the same object as earlier uses. */
  str(s: string, identity?: string): void {
    const write = (): void => {
      const b = Buffer.from(s, 'utf8');
      this.op(OP.BINUNICODE);
      this.u32(b.byteLength);
      this.raw(b);
    };
    if (identity === undefined) {
      write();
      this.put();
    } else {
      this.memoized(identity, write);
    }
  }

  /** An int as CPython picks: BININT1, BININT2, BININT, else LONG1 (ints are never memoized). */
  int(v: number): void {
    if (!Number.isSafeInteger(v)) throw new RangeError(`pickle: ${v} is not a safe integer`);
    if (v >= 0 && v <= 0xff) {
      this.op(OP.BININT1);
      this.op(v);
    } else if (v >= 0 && v <= 0xffff) {
      this.op(OP.BININT2);
      this.ensure(2);
      this.buf.writeUInt16LE(v, this.len);
      this.len += 2;
    } else if (v >= -0x80000000 && v <= 0x7fffffff) {
      this.op(OP.BININT);
      this.ensure(4);
      this.buf.writeInt32LE(v, this.len);
      this.len += 4;
    } else {
      const bytes = longBytes(BigInt(v));
      this.op(OP.LONG1);
      this.op(bytes.length);
      this.raw(Uint8Array.from(bytes));
    }
  }

  emptyTuple(): void {
    this.op(OP.EMPTY_TUPLE);
  }

  emptyDict(): void {
    this.op(OP.EMPTY_DICT);
  }

  /** A fresh tuple of ints: EMPTY_TUPLE (not memoized), TUPLE1-3, or MARK ... TUPLE. */
  intTuple(values: readonly number[]): void {
    if (values.length === 0) return this.emptyTuple();
    if (values.length > 3) this.op(OP.MARK);
    for (const v of values) this.int(v);
    this.op(values.length <= 3 ? OP.TUPLE1 + values.length - 1 : OP.TUPLE);
    this.put();
  }

  /** callable, args, REDUCE (the caller memoizes the result). */
  reduceCall(callable: () => void, args: () => void): void {
    callable();
    args();
    this.op(OP.REDUCE);
  }

  /** Dict items after the dict: one item -> SETITEM; more -> MARK ... SETITEMS per 1000. */
  items(pairs: ReadonlyArray<readonly [() => void, () => void]>): void {
    for (let start = 0; start < pairs.length; start += BATCH_SIZE) {
      const batch = pairs.slice(start, start + BATCH_SIZE);
      if (batch.length > 1) this.op(OP.MARK);
      for (const [k, v] of batch) {
        k();
        v();
      }
      this.op(batch.length > 1 ? OP.SETITEMS : OP.SETITEM);
    }
  }

  private u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }

  private raw(b: Uint8Array): void {
    this.ensure(b.byteLength);
    this.buf.set(b, this.len);
    this.len += b.byteLength;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.byteLength) return;
    const bigger = Buffer.alloc(Math.max(this.buf.byteLength * 2, this.len + n));
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
  }
}

/** CPython's encode_long: minimal little-endian two's complement bytes. */
function longBytes(v: bigint): number[] {
  const out: number[] = [];
  let x = v;
  for (;;) {
    const byte = Number(x & 0xffn);
    out.push(byte);
    x >>= 8n;
    // Done when the remaining value is pure sign extension of the last byte's top bit.
    if ((x === 0n && (byte & 0x80) === 0) || (x === -1n && (byte & 0x80) !== 0)) return out;
  }
}

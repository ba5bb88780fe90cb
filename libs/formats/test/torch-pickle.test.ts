// The safe unpickler and the state-dict pickler: what torch.save emits parses to inert
// values; malicious, truncated, unknown and oversized pickles are refused with clear
// errors (kind, global or opcode name, byte offset) and never run anything.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALLOWED_GLOBALS, FormatError, PyDict, TorchTensor, pickleStateDict, unpickle, type PickleTensorSpec,
} from '../src/index.js';

/** A tiny pickle assembler: numbers are opcode/raw bytes, strings are raw latin1 text. */
function asm(...parts: (number | string | Uint8Array)[]): Uint8Array {
  return Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}
const u32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
/** BINUNICODE of `s`. */
const str = (s: string): Uint8Array => asm(0x58, u32(Buffer.byteLength(s)), Buffer.from(s, 'utf8'));

const PROTO2 = asm(0x80, 2);
const STOP = 0x2e;
const REDUCE = 0x52;
const TUPLE1 = 0x85;
const EMPTY_TUPLE = 0x29;
const MARK = 0x28;

function expectRefused(bytes: Uint8Array, kind: string, pattern: RegExp, limits = {}): void {
  assert.throws(() => unpickle(bytes, limits), (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

const specs: PickleTensorSpec[] = [
  { name: '0.weight', dtype: 'F32', storageKey: '0', storageNumel: 6, storageOffset: 0, shape: [2, 3], stride: [3, 1] },
  { name: '0.bias', dtype: 'F16', storageKey: '1', storageNumel: 10, storageOffset: 4, shape: [3], stride: [1] },
  { name: 'scalar', dtype: 'BF16', storageKey: '2', storageNumel: 1, storageOffset: 0, shape: [], stride: [] },
  { name: 'shared', dtype: 'F32', storageKey: '0', storageNumel: 6, storageOffset: 300, shape: [70000, 1, 1, 2], stride: [2, 2, 2, 1] },
];
// torch's _metadata of a one-layer nn.ModuleList (what the lens's moduleListMetadata(1) gives).
const good = pickleStateDict(specs, [['', { version: 1 }], ['0', { version: 1 }]]);

describe('parsing what torch.save writes', () => {
  test('an OrderedDict of tensors with storages, offsets, shapes, strides and _metadata', () => {
    const root = unpickle(good);
    assert.ok(root instanceof PyDict && root.ordered);
    assert.deepEqual([...root.map.keys()], specs.map((s) => s.name));
    for (const s of specs) {
      const t = root.map.get(s.name);
      assert.ok(t instanceof TorchTensor, s.name);
      assert.equal(t.dtype, s.dtype);
      assert.equal(t.storage.key, s.storageKey);
      assert.equal(t.storage.numel, s.storageNumel);
      assert.equal(t.storage.location, 'cpu');
      assert.equal(t.storageOffset, s.storageOffset);
      assert.deepEqual(t.shape, s.shape);
      assert.deepEqual(t.stride, s.stride);
      assert.equal(t.requiresGrad, false);
    }
    const meta = root.attributes?.map.get('_metadata');
    assert.ok(meta instanceof PyDict && meta.ordered);
    assert.deepEqual([...meta.map.keys()], ['', '0']);
    assert.equal((meta.map.get('0') as PyDict).map.get('version'), 1);
  });

  test('protocol 4 framing, MEMOIZE, SHORT_BINUNICODE and STACK_GLOBAL (torch.save(..., pickle_protocol=4))', () => {
    // torch 1.13's bytes for torch.save({'w': torch.arange(4, dtype=torch.bfloat16)}, f, pickle_protocol=4).
    const p4 = Buffer.from(
      '80049595000000000000007d948c0177948c0c746f7263682e5f7574696c73948c125f72656275696c645f74656e736f725f763294939428288c0773746f72616765948c05746f726368948c0f42466c6f617431365374' +
        '6f72616765949394' + '8c0130948c03637075944b047494514b004b0485944b01859489' + '8c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952947494529473' + '2e',
      'hex',
    );
    const root = unpickle(p4);
    assert.ok(root instanceof PyDict && !root.ordered);
    const w = root.map.get('w');
    assert.ok(w instanceof TorchTensor);
    assert.equal(w.dtype, 'BF16');
    assert.deepEqual(w.shape, [4]);
  });

  test('ints of every width, floats, None, booleans, lists and dicts', () => {
    const bytes = asm(
      PROTO2, 0x5d, MARK,
      0x4b, 200, 0x4d, 0x34, 0x12, 0x4a, u32(0xfffffffe), 0x8a, 3, 0x00, 0x00, 0x80, 0x8a, 0,
      0x47, Buffer.from('3ff8000000000000', 'hex'), 0x4e, 0x88, 0x89,
      0x7d, str('k'), 0x4b, 1, 0x73,
      0x65, STOP,
    );
    const list = unpickle(bytes) as unknown as { items: unknown[] };
    const [a, b, c, d, e, f, g, h, i, j] = list.items;
    assert.deepEqual([a, b, c, d, e, f, g, h, i], [200, 0x1234, -2, -0x800000, 0, 1.5, null, true, false]);
    assert.ok(j instanceof PyDict && j.map.get('k') === 1);
  });

  test('the allow-list is exactly what a state dict of float tensors needs', () => {
    assert.deepEqual([...ALLOWED_GLOBALS].sort(), [
      'collections.OrderedDict', 'torch.BFloat16Storage', 'torch.FloatStorage', 'torch.HalfStorage',
      'torch._utils._rebuild_parameter', 'torch._utils._rebuild_tensor_v2',
    ]);
  });
});

describe('malicious pickles are refused before anything runs', () => {
  const marker = join(tmpdir(), `io-pickle-pwned-${process.pid}`);

  test('GLOBAL os system + REDUCE', () => {
    const evil = asm(PROTO2, 0x63, 'os\nsystem\n', str(`touch ${marker}`), TUPLE1, REDUCE, STOP);
    expectRefused(evil, 'unsafe', /refusing global "os\.system": not in the allow-list.*may be malicious.*opcode GLOBAL, at byte 2/);
    assert.equal(existsSync(marker), false);
  });

  test('builtins eval, posix system via STACK_GLOBAL, and a non-allowed torch function', () => {
    expectRefused(asm(PROTO2, 0x63, 'builtins\neval\n', str('1+1'), TUPLE1, REDUCE, STOP), 'unsafe', /"builtins\.eval"/);
    expectRefused(asm(0x80, 4, 0x8c, 5, 'posix', 0x8c, 6, 'system', 0x93, STOP), 'unsafe', /"posix\.system".*STACK_GLOBAL/);
    expectRefused(asm(PROTO2, 0x63, 'torch._utils\n_rebuild_tensor\n', STOP), 'unsafe', /"torch\._utils\._rebuild_tensor"/);
    expectRefused(asm(PROTO2, 0x63, 'torch\nload\n', STOP), 'unsafe', /"torch\.load"/);
  });

  test('object-constructing opcodes (INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1) are refused by name', () => {
    expectRefused(asm(PROTO2, MARK, 0x69, 'os\nsystem\n', STOP), 'unsafe', /opcode INST \(0x69\) constructs arbitrary objects/);
    expectRefused(asm(PROTO2, MARK, 0x6f, STOP), 'unsafe', /OBJ/);
    expectRefused(asm(PROTO2, 0x4e, EMPTY_TUPLE, 0x81, STOP), 'unsafe', /NEWOBJ \(0x81\)/);
    expectRefused(asm(0x80, 4, 0x92, STOP), 'unsafe', /NEWOBJ_EX/);
    expectRefused(asm(PROTO2, 0x82, 1, STOP), 'unsafe', /EXT1/);
  });

  test('REDUCE on a storage class or a non-global, and BUILD on anything but an OrderedDict', () => {
    expectRefused(asm(PROTO2, 0x63, 'torch\nFloatStorage\n', EMPTY_TUPLE, REDUCE, STOP), 'unsafe', /REDUCE on torch\.FloatStorage, which is not callable here/);
    expectRefused(asm(PROTO2, str('x'), EMPTY_TUPLE, REDUCE, STOP), 'unsafe', /REDUCE may only call an allowed global, got str/);
    expectRefused(asm(PROTO2, 0x7d, 0x7d, 0x62, STOP), 'unsafe', /BUILD may only set attributes of an OrderedDict, got dict/);
  });

  test('unsupported storage dtypes are refused as unsupported, naming the type', () => {
    expectRefused(asm(PROTO2, 0x63, 'torch\nDoubleStorage\n', STOP), 'unsupported', /torch\.DoubleStorage \(float64\) is not supported/);
  });
});

describe('malformed pickles', () => {
  test('every truncation of a real pickle is a corrupt error (never a crash or a partial result)', () => {
    for (let cut = 0; cut < good.length; cut++) {
      assert.throws(() => unpickle(good.subarray(0, cut)), (e: unknown) => e instanceof FormatError && e.kind === 'corrupt', `cut at ${cut}`);
    }
  });

  test('single-byte corruptions fail with a FormatError or still parse', () => {
    for (let i = 0; i < good.length; i++) {
      for (const x of [0x00, 0x55, 0xff]) {
        const bad = Uint8Array.from(good);
        bad[i] = x;
        try {
          unpickle(bad);
        } catch (e) {
          assert.ok(e instanceof FormatError, `byte ${i} = ${x}: ${(e as Error).constructor.name}: ${(e as Error).message}`);
        }
      }
    }
  });

  test('an unknown opcode is named with its byte offset', () => {
    expectRefused(asm(PROTO2, 0x4e, 0xff, STOP), 'corrupt', /unknown opcode 0xff \(at byte 3\)/);
    expectRefused(asm(PROTO2, 0x53, "'x'\n", STOP), 'unsupported', /opcode STRING \(0x53\) is outside the subset/);
  });

  test('stack and memo misuse, extra bytes, bad protocol', () => {
    expectRefused(asm(PROTO2, 0x68, 7, STOP), 'corrupt', /memo entry 7 read before it was written/);
    expectRefused(asm(PROTO2, 0x73, STOP), 'corrupt', /stack underflow/);
    expectRefused(asm(PROTO2, MARK, 0x74), 'corrupt', /without a STOP/);
    expectRefused(asm(PROTO2, 0x4e, STOP, 0x4e), 'corrupt', /1 bytes after STOP/);
    expectRefused(asm(PROTO2, 0x4e, 0x4e, STOP), 'corrupt', /STOP with 2 values/);
    expectRefused(asm(0x80, 6, 0x4e, STOP), 'unsupported', /pickle protocol 6/);
    expectRefused(asm(0x80, 4, 0x95, Buffer.alloc(8, 0xff), STOP), 'corrupt', /impossibly large|runs past/);
    expectRefused(asm(PROTO2, 0x4b), 'corrupt', /truncated: needs 1 more bytes at byte 3/);
  });

  test('a malformed tensor rebuild is refused with the argument named', () => {
    const rebuild = asm(0x63, 'torch._utils\n_rebuild_tensor_v2\n');
    const badArgs = asm(PROTO2, rebuild, MARK, 0x4e, 0x4b, 0, EMPTY_TUPLE, EMPTY_TUPLE, 0x89, 0x7d, 0x74, REDUCE, STOP);
    expectRefused(badArgs, 'corrupt', /argument 1 must be a storage \(persistent id\), got None/);
    const badPid = asm(PROTO2, str('storage'), TUPLE1, 0x51, STOP);
    expectRefused(badPid, 'corrupt', /persistent id must be a 5-tuple/);
  });
});

describe('limits', () => {
  test('oversized memo', () => {
    expectRefused(good, 'too_large', /memo grows past the limit of 10 entries/, { maxMemoEntries: 10 });
    // Distinct LONG_BINPUT indexes each take an entry, however sparse.
    const many = asm(PROTO2, 0x4e, ...Array.from({ length: 50 }, (_, i) => asm(0x72, u32(i * 10_000_007))), STOP);
    expectRefused(many, 'too_large', /memo grows past the limit of 20/, { maxMemoEntries: 20 });
    assert.equal(unpickle(many), null);
  });

  test('deep MARK nesting and deep containers', () => {
    expectRefused(asm(PROTO2, Buffer.alloc(100, MARK)), 'too_large', /more than 64 nested MARKs/);
    expectRefused(asm(PROTO2, EMPTY_TUPLE, Buffer.alloc(100, TUPLE1), STOP), 'too_large', /nested more than 64 deep/);
    expectRefused(asm(PROTO2, 0x5d, ...Array.from({ length: 10 }, () => asm(0x5d, 0x32)), STOP), 'unsupported', /DUP/);
    expectRefused(good, 'too_large', /more than 2 nested MARKs|nested more than 2 deep/, { maxDepth: 2 });
  });

  test('pickle size', () => {
    expectRefused(good, 'too_large', new RegExp(`pickle of ${good.length} bytes exceeds the limit of 100`), { maxPickleBytes: 100 });
  });
});

describe('the pickler', () => {
  test('round-trips ints of every width (LONG1 beyond int32) and memo indexes past 255', () => {
    const many: PickleTensorSpec[] = Array.from({ length: 60 }, (_, i) => ({
      name: `${i}.weight`, dtype: 'F32', storageKey: String(i), storageNumel: 2 ** 33 + i, storageOffset: 70000, shape: [2 ** 32, 2], stride: [2, 1],
    }));
    const root = unpickle(pickleStateDict(many));
    assert.ok(root instanceof PyDict);
    const t = root.map.get('59.weight') as TorchTensor;
    assert.equal(t.storage.numel, 2 ** 33 + 59);
    assert.deepEqual(t.shape, [2 ** 32, 2]);
    assert.equal(t.storageOffset, 70000);
    // With 60 tensors the memo passes 255, so LONG_BINPUT / LONG_BINGET were used.
    assert.ok(Buffer.from(pickleStateDict(many)).includes(Buffer.from([0x72])));
  });

  test('a 4-dim shape uses MARK ... TUPLE like CPython', () => {
    const bytes = Buffer.from(pickleStateDict([specs[3]]));
    // MARK, BININT 70000, BININT1 1, BININT1 1, BININT1 2, TUPLE
    assert.ok(bytes.includes(Buffer.from('284a70110100' + '4b014b014b0274', 'hex')));
    const root = unpickle(bytes) as PyDict;
    assert.deepEqual((root.map.get('shared') as TorchTensor).shape, [70000, 1, 1, 2]);
  });
});

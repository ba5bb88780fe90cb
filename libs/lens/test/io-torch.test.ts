// Compatibility with real PyTorch, both ways, in ONE Python process (importing torch
// costs about a second): files we write load with torch.load (weights_only=True too) and
// into an nn.ModuleList the way the original's TunedLens does, with every tensor
// bit-identical; files torch.save writes (OrderedDict / plain dict, f32 / f16 / bf16,
// slices at storage offsets, shared storages, protocol 4, nn.Parameter, a ModuleList
// state dict with _metadata) read back bit-identical; and our params.pt is byte-identical
// to what torch writes for the same state dict. A params.pt with zip64 records on every
// entry (as a lens over 4 GiB gets them) loads too; a real one over 4 GiB is in
// libs/formats/test/torch-zip64.test.ts.
//
// Needs Debian's PyTorch: /usr/bin/python3 (override with TUNED_LENS_TORCH_PYTHON).
// Without it the suite is skipped with the reason.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemorySink, ZipReader, writeTorchStateDict } from '@tuned-lens/formats';
import { encodeFloats } from '@tuned-lens/tensor';
import {
  makeLensConfig, moduleListMetadata, readLensFolder, readLensParams, writeLensFolder, writeLensParams, type LensDType, type LensTensorInput,
} from '../src/io/index.js';
import { expectError } from './expectLensError.js';

const PYTHON = process.env.TUNED_LENS_TORCH_PYTHON ?? '/usr/bin/python3';

interface Described {
  dtype: string;
  shape: number[];
  /** Bytes of the tensor in its own dtype, hex. */
  raw: string;
  /** Bytes of tensor.float(), hex. */
  f32: string;
}
interface PythonReport {
  torch: string;
  ours: Record<string, { type: string; tensors: Record<string, Described> }>;
  lens: { config: Record<string, unknown>; metadata: Record<string, Record<string, number>>; keys: string[]; params: Record<string, Described> };
  theirs: Record<string, Record<string, Described> | { error: string }>;
}

const SCRIPT = String.raw`
import collections, json, os, sys
try:
    import torch
except ImportError:
    sys.exit(3)
work = sys.argv[1]
torch.manual_seed(0)

def raw(t):
    return bytes(t.detach().contiguous().reshape(-1).view(torch.uint8).tolist()).hex()

def describe(t):
    return {"dtype": str(t.dtype), "shape": list(t.shape), "raw": raw(t), "f32": raw(t.float())}

out = {"torch": torch.__version__, "ours": {}, "theirs": {}}

# ---- files we wrote, loaded by torch
for name in ["ours-f32", "ours-f16", "ours-bf16", "ours-zip64"]:
    path = os.path.join(work, name, "params.pt")
    sd = torch.load(path, weights_only=True)
    plain = torch.load(path)
    assert list(sd.keys()) == list(plain.keys())
    out["ours"][name] = {"type": type(sd).__name__, "tensors": {k: describe(v) for k, v in sd.items()}}

# ---- our lens folder, loaded the way TunedLens.from_unembed_and_pretrained does
lens_dir = os.path.join(work, "ours-lens")
with open(os.path.join(lens_dir, "config.json")) as f:
    config = json.load(f)
state = torch.load(os.path.join(lens_dir, "params.pt"), weights_only=True)
d, L = config["d_model"], config["num_hidden_layers"]
translators = torch.nn.ModuleList([torch.nn.Linear(d, d, dtype=torch.float16) for _ in range(L)])
translators.load_state_dict(state)  # strict: exactly the right keys and shapes
out["lens"] = {
    "config": config,
    "metadata": {k: dict(v) for k, v in getattr(state, "_metadata", {}).items()},
    "keys": list(state.keys()),
    "params": {k: describe(v) for k, v in translators.state_dict().items()},
}
# torch re-saves what it loaded: byte-compared with our writer's output in node
os.makedirs(os.path.join(work, "resaved"))
torch.save(state, os.path.join(work, "resaved", "archive.pt"))

# ---- files torch writes, for our reader
def save(name, obj, **kw):
    torch.save(obj, os.path.join(work, name), **kw)
    out["theirs"][name] = {k: describe(v) for k, v in obj.items()}

special = torch.tensor([0.0, -0.0, 1.0, -2.5, 1 / 3, 65504.0, 65520.0, 1e-7, 6e-8, float("inf"), float("-inf"), 1e30, -1e-30, 2.0 ** -24])
sd32 = collections.OrderedDict([
    ("0.weight", torch.randn(5, 7)), ("0.bias", torch.randn(7)), ("special", special),
    ("scalar", torch.tensor(3.5)), ("empty", torch.zeros(0, 3)),
])
save("t_f32.pt", sd32)
save("t_f16_plain_dict.pt", {k: v.half() for k, v in sd32.items()})
save("t_bf16.pt", {k: v.bfloat16() for k, v in sd32.items()})
base = torch.arange(40, dtype=torch.float32) * 0.25
halves = (base - 3).half()
save("t_views.pt", {
    "slice": base[5:9], "matrix": base[10:30].view(4, 5), "row": base.view(8, 5)[3], "whole": base,
    "half_slice": halves[7:20], "column_of_one": base[12:13].view(1, 1),
})
save("t_protocol4.pt", sd32, pickle_protocol=4)
modlist = torch.nn.ModuleList([torch.nn.Linear(6, 6) for _ in range(3)]).half()
save("t_modulelist.pt", modlist.state_dict())
save("t_parameter.pt", {"p": torch.nn.Parameter(torch.randn(3, 2))})

# ---- a lens folder exactly as the original's TunedLens.save writes it (fp16, like Llama-2)
theirs_lens = os.path.join(work, "theirs-lens")
os.makedirs(theirs_lens)
torch.save(modlist.state_dict(), os.path.join(theirs_lens, "params.pt"))
with open(os.path.join(theirs_lens, "config.json"), "w") as f:
    json.dump({"base_model_name_or_path": "tiny/model", "d_model": 6, "num_hidden_layers": 3, "bias": True,
               "base_model_revision": None, "unembed_hash": "deadbeef", "lens_type": "linear_tuned_lens"}, f)

# ---- what we must refuse
torch.save({"wT": torch.randn(3, 4).t()}, os.path.join(work, "t_noncontiguous.pt"))
torch.save({"d": torch.randn(2, dtype=torch.float64)}, os.path.join(work, "t_float64.pt"))
torch.save({"nested": {"w": torch.randn(2)}}, os.path.join(work, "t_nested.pt"))

print(json.dumps(out))
`;

// ---------------------------------------------------------------- our side, then Python

const work = mkdtempSync(join(tmpdir(), 'io-torch-'));
after(() => rmSync(work, { recursive: true, force: true }));
const values = Float32Array.from([0, -0, 1, -2.5, 1 / 3, 65504, 65520, 1e-7, 6e-8, Infinity, -Infinity, 3.14159, 1.00048828125, 2 ** -24, 1e30, -1e-30, 0.1, 7, -7, 1e-3]);
const ours = new Map<string, LensTensorInput>([
  ['0.weight', { shape: [4, 5], data: values }],
  ['0.bias', { shape: [5], data: Float32Array.from([0.5, -0.25, 1e-4, 3, -3]) }],
  ['scalar', { shape: [], data: Float32Array.of(-1.5) }],
  ['empty', { shape: [0, 2], data: new Float32Array(0) }],
]);
const DTYPES: [string, LensDType][] = [['ours-f32', 'F32'], ['ours-f16', 'F16'], ['ours-bf16', 'BF16']];
for (const [name, dtype] of DTYPES) writeLensParams(join(work, name), ours, { format: 'pt', dtype });

// zip64 extra fields on every entry, 64-bit descriptors and a saturated end record: what a
// lens over 4 GiB gets, on a small file.
const zip64Sink = new MemorySink();
writeTorchStateDict(zip64Sink, [...ours].map(([k, t]) => [k, { dtype: 'F32', shape: t.shape, bytes: encodeFloats(t.data, 'F32') }] as const), { forceZip64: true });
const zip64File = join(work, 'ours-zip64', 'params.pt');
mkdirSync(join(work, 'ours-zip64'));
writeFileSync(zip64File, zip64Sink.bytes());

const D = 6;
const L = 3;
const lens = {
  config: makeLensConfig({ baseModelNameOrPath: 'tiny/model', dModel: D, numHiddenLayers: L, unembedHash: 'h' }),
  translators: Array.from({ length: L }, (_, i) => ({
    weight: Float32Array.from({ length: D * D }, (_, j) => Math.sin(i * 50 + j) * 2),
    bias: Float32Array.from({ length: D }, (_, j) => Math.cos(i + j)),
  })),
};
writeLensFolder(join(work, 'ours-lens'), lens, { dtype: 'F16' });

let report: PythonReport | undefined;
let skip: string | false = false;
let failure: string | undefined;
if (!existsSync(PYTHON)) {
  skip = `${PYTHON} not found (set TUNED_LENS_TORCH_PYTHON to a python with torch)`;
} else {
  const run = spawnSync(PYTHON, ['-c', SCRIPT, work], { encoding: 'utf8', timeout: 180_000, maxBuffer: 64 << 20 });
  if (run.status === 3) skip = `PyTorch is not installed for ${PYTHON} (set TUNED_LENS_TORCH_PYTHON to a python with torch)`;
  else if (run.status !== 0) failure = `python exited with ${run.status ?? run.signal}: ${run.stderr.slice(-3000)}`;
  else report = JSON.parse(run.stdout) as PythonReport;
}

/** The report, or a failed assertion with Python's error. */
function py(): PythonReport {
  if (!report) assert.fail(failure ?? 'no Python report');
  return report;
}

const hex = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
const TORCH_DTYPE: Record<string, LensDType> = { 'torch.float32': 'F32', 'torch.float16': 'F16', 'torch.bfloat16': 'BF16' };


describe('PyTorch loads what we write', { skip }, () => {
  for (const [name, dtype] of DTYPES) {
    test(`${dtype} params.pt: torch.load(weights_only=True) gives an OrderedDict with bit-identical tensors`, () => {
      const got = py().ours[name];
      assert.equal(got.type, 'OrderedDict');
      assert.deepEqual(Object.keys(got.tensors), [...ours.keys()]);
      for (const [key, t] of ours) {
        const g = got.tensors[key];
        assert.equal(TORCH_DTYPE[g.dtype], dtype, key);
        assert.deepEqual(g.shape, [...t.shape], key);
        assert.equal(g.raw, Buffer.from(encodeFloats(t.data, dtype)).toString('hex'), `${name} ${key}`);
      }
    });
  }

  test('a params.pt with zip64 records on every entry: torch.load gives the same tensors, and so do we', () => {
    const bytes = readFileSync(zip64File);
    const eocd = bytes.length - 22;
    assert.equal(bytes.readUInt32LE(eocd + 16), 0xffffffff, 'the end record defers to the zip64 one');
    const got = py().ours['ours-zip64'];
    assert.equal(got.type, 'OrderedDict');
    assert.deepEqual(Object.keys(got.tensors), [...ours.keys()]);
    const mine = readLensParams(zip64File);
    for (const [key, t] of ours) {
      assert.equal(got.tensors[key].raw, Buffer.from(encodeFloats(t.data, 'F32')).toString('hex'), key);
      assert.equal(hex(mine.get(key)!.data), hex(t.data), key);
    }
  });

  test("a lens folder loads into nn.ModuleList like the original's TunedLens (strict keys, _metadata)", () => {
    const l = py().lens;
    assert.equal(l.config.lens_type, 'linear_tuned_lens');
    assert.equal(l.config.d_model, D);
    assert.deepEqual(l.keys, Array.from({ length: L }, (_, i) => [`${i}.weight`, `${i}.bias`]).flat());
    assert.deepEqual(l.metadata, Object.fromEntries(moduleListMetadata(L).map(([k, v]) => [k, { ...v }])));
    lens.translators.forEach((t, i) => {
      assert.equal(l.params[`${i}.weight`].raw, Buffer.from(encodeFloats(t.weight, 'F16')).toString('hex'));
      assert.equal(l.params[`${i}.bias`].raw, Buffer.from(encodeFloats(t.bias, 'F16')).toString('hex'));
    });
  });

  test('our params.pt is byte-identical to torch.save of the same state dict', () => {
    py();
    const theirs = readFileSync(join(work, 'resaved', 'archive.pt'));
    const zip = ZipReader.fromBytes(theirs);
    const tensors = readLensParams(join(work, 'ours-lens', 'params.pt'));
    const sink = new MemorySink();
    writeTorchStateDict(sink, [...tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, bytes: encodeFloats(t.data, t.dtype) }] as const), {
      metadata: moduleListMetadata(L),
      byteOrderRecord: zip.has('archive/byteorder'),
    });
    const mine = ZipReader.fromBytes(sink.bytes());
    assert.deepEqual(Buffer.from(mine.read('archive/data.pkl')), Buffer.from(zip.read('archive/data.pkl')), 'data.pkl');
    const extra = zip.names().filter((n) => !mine.has(n));
    if (extra.length === 0) assert.ok(sink.bytes().equals(theirs), 'whole file');
    else assert.ok(/^2\./.test(py().torch), `torch ${py().torch} wrote extra entries ${extra.join(', ')}`);
  });
});

describe('we read what PyTorch writes', { skip }, () => {
  const checked = ['t_f32.pt', 't_f16_plain_dict.pt', 't_bf16.pt', 't_views.pt', 't_protocol4.pt', 't_modulelist.pt', 't_parameter.pt'];
  for (const file of checked) {
    test(`${file}: every tensor bit-identical, same dtype, shape and order`, () => {
      const expected = py().theirs[file] as Record<string, Described>;
      const got = readLensParams(join(work, file));
      assert.deepEqual([...got.keys()], Object.keys(expected));
      for (const [key, e] of Object.entries(expected)) {
        const t = got.get(key)!;
        assert.equal(t.dtype, TORCH_DTYPE[e.dtype], key);
        assert.deepEqual(t.shape, e.shape, key);
        assert.equal(hex(t.data), e.f32, `${file} ${key}`);
      }
    });
  }

  test("a lens folder written the original's way (TunedLens.save, fp16) reads as a lens", () => {
    const expected = py().theirs['t_modulelist.pt'] as Record<string, Described>;
    const l = readLensFolder(join(work, 'theirs-lens'));
    assert.equal(l.dtype, 'F16');
    assert.equal(l.config.unembedHash, 'deadbeef');
    assert.equal(l.config.unembedSha256, null);
    assert.deepEqual(l.warnings, []);
    l.translators.forEach((t, i) => {
      assert.equal(hex(t.weight), expected[`${i}.weight`].f32);
      assert.equal(hex(t.bias!), expected[`${i}.bias`].f32);
    });
  });

  test('non-contiguous, float64 and nested state dicts are refused clearly', () => {
    py();
    expectError(() => readLensParams(join(work, 't_noncontiguous.pt')), 'unsupported', /tensor "wT" is not contiguous \(size \[4, 3\], stride \[1, 4\]\)/);
    expectError(() => readLensParams(join(work, 't_float64.pt')), 'unsupported', /torch\.DoubleStorage \(float64\) is not supported/);
    expectError(() => readLensParams(join(work, 't_nested.pt')), 'invalid', /entry "nested" is a dict, not a tensor/);
  });
});

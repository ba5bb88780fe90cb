// Measures what loading a checkpoint really costs in memory, to calibrate the load plan
// (libs/models/src/memory/loadPlan.ts). Not a test: run it by hand after changing the
// load path, and update the plan when the numbers move.
//
//   cd services/activation
//   node --import tsx test/measureLoadMemory.ts                 # small-lm + synthetic llamas
//   node --import tsx test/measureLoadMemory.ts DIR [onnx|tfjs]  # one checkpoint folder
//   node --import tsx test/measureLoadMemory.ts --write DIR LAYERS F32|F16|BF16  # a synthetic llama
//
// Each case runs in a fresh node process (a clean high-water mark), which does what the
// model worker (src/worker/modelWorker.ts) does after its memory check, in the same
// order: loadModel, createEngine, a ModelRunner with the warm-up forward (1 x 2 tokens),
// the unembedding's hash, the unembedding and a structured clone of it with the head's
// buffer transferred (what posting it to the service's thread costs). It reports the growth of the process's peak RSS
// (VmHWM) over its RSS just before loadModel (the moment the check runs; everything
// resident then is already "in use" for the allowance), next to the plan's estimate.
// Runs without GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (the test runner sets it, a
// deployment does not), as a service runs. Needs ~10 GB of memory and ~12 GB of temp disk
// for the synthetic cases; about 12 minutes on 2 CPUs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { smallLmDir } from '@tuned-lens/fixtures';
import { estimateLoadMemory, loadPlanFor, loadModel, ModelRunner } from '@tuned-lens/models';
import { writeSafetensors, type TensorToWrite } from '@tuned-lens/formats';
import type { EngineChoice } from '@tuned-lens/engine';

const MiB = 2 ** 20;

function status(): { rss: number; hwm: number } {
  const text = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)![1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** One measurement, in this process (the child). Prints one JSON line. */
async function measure(dir: string, engineChoice: EngineChoice): Promise<void> {
  const { createEngine } = await import('@tuned-lens/engine');
  const stages: Record<string, { rss: number; hwm: number }> = {};
  const mark = (name: string) => { stages[name] = status(); };
  mark('check');
  const model = await loadModel(dir);
  mark('loadModel');
  const engine = await createEngine(engineChoice);
  const runner = new ModelRunner(model, engine);
  await runner.forward({ inputIds: new Int32Array(2), batch: 1, seq: 2 });
  mark('warmup');
  model.unembedHash();
  const unembedding = model.unembedding();
  // As the worker posts it (ownBuffers): views sliced, so a clone copies only their bytes.
  const own = (a: Float32Array | undefined) => (a && (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) ? a.slice() : a);
  // The head's buffer is transferred, not cloned (as the worker posts it).
  const lmHead = own(unembedding.lmHead)!;
  const posted = structuredClone({ ...unembedding, normWeight: own(unembedding.normWeight), normBias: own(unembedding.normBias), lmHead }, { transfer: [lmHead.buffer as ArrayBuffer] });
  mark('unembedding');
  const estimate = estimateLoadMemory(dir, loadPlanFor(engineChoice));
  const base = stages.check.rss;
  console.log(JSON.stringify({
    dir, engine: engine.name,
    storedBytes: estimate.storedBytes, parameters: estimate.parameters,
    rssAtCheck: base,
    growth: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, { rss: v.rss - base, hwm: v.hwm - base }])),
    estimate: estimate.totalBytes,
    phases: estimate.phases,
    breakdown: estimate.breakdown,
    posted: posted.lmHead.length, // (keeps the clone referenced up to here)
  }));
}

/** A llama-shaped checkpoint with deterministic small weights (values do not matter here). */
function writeLlama(dir: string, shape: { layers: number; d: number; inter: number; vocab: number }, dtype: 'F32' | 'F16' | 'BF16'): void {
  mkdirSync(dir, { recursive: true });
  const { layers, d, inter, vocab } = shape;
  const names: Array<[string, number[]]> = [['model.embed_tokens.weight', [vocab, d]], ['model.norm.weight', [d]], ['lm_head.weight', [vocab, d]]];
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    names.push(
      [`${p}input_layernorm.weight`, [d]], [`${p}post_attention_layernorm.weight`, [d]],
      [`${p}self_attn.q_proj.weight`, [d, d]], [`${p}self_attn.k_proj.weight`, [d, d]],
      [`${p}self_attn.v_proj.weight`, [d, d]], [`${p}self_attn.o_proj.weight`, [d, d]],
      [`${p}mlp.gate_proj.weight`, [inter, d]], [`${p}mlp.up_proj.weight`, [inter, d]], [`${p}mlp.down_proj.weight`, [d, inter]],
    );
  }
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, s] of names) {
    const n = s.reduce((a, b) => a * b, 1);
    let bytes: Uint8Array;
    if (dtype === 'F32') {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = ((i % 251) - 125) * 1e-4;
      bytes = new Uint8Array(a.buffer);
    } else {
      // 0x2000..0x20ff: small positive F16 (~1e-5) and BF16 (~1e-19) values, never NaN.
      const a = new Uint16Array(n);
      for (let i = 0; i < n; i++) a[i] = 0x2000 | (i & 0xff);
      bytes = new Uint8Array(a.buffer);
    }
    tensors[name] = { dtype, shape: s, data: bytes };
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', hidden_size: d, intermediate_size: inter,
    max_position_embeddings: 256, num_attention_heads: d / 64, num_hidden_layers: layers, num_key_value_heads: d / 64,
    rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, vocab_size: vocab,
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype],
  }));
}

function runChild(dir: string, engine: EngineChoice): Record<string, unknown> {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', dir, engine], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`measuring ${dir} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function report(label: string, m: Record<string, any>): void {
  const g = m.growth as Record<string, { rss: number; hwm: number }>;
  const f = (b: number) => (b / MiB).toFixed(0).padStart(6);
  console.log(
    `${label.padEnd(34)} stored ${f(m.storedBytes)} MiB  params ${(m.parameters / 1e6).toFixed(1).padStart(6)} M  ` +
    `peak growth ${f(g.unembedding.hwm)} MiB (after loadModel ${f(g.loadModel.hwm)}, warm-up ${f(g.warmup.hwm)}; ` +
    `rss at end ${f(g.unembedding.rss)})  estimate ${f(m.estimate)} MiB  ratio ${(g.unembedding.hwm / m.estimate).toFixed(2)}`,
  );
}

/** The estimate's terms of its larger phase, in MiB. */
function terms(m: Record<string, any>): string {
  const phase = m.phases.load >= m.phases.afterLoad ? 'load' : 'afterLoad';
  return `${phase}: ` + (m.breakdown[phase] as Array<{ what: string; bytes: number }>).filter((t) => t.bytes > 0).map((t) => `${t.what} ${(t.bytes / MiB).toFixed(0)}`).join(', ');
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  await measure(args[1], args[2] as EngineChoice);
} else if (args[0] === '--write') {
  // --write DIR LAYERS DTYPE: just the synthetic checkpoint (d 2048, vocab 32000), to probe by hand.
  writeLlama(args[1], { layers: Number(args[2]), d: 2048, inter: 5632, vocab: 32000 }, args[3] as 'F32' | 'F16' | 'BF16');
} else if (args.length > 0) {
  const m = runChild(args[0], (args[1] ?? 'onnx') as EngineChoice);
  report(args[0], m);
  console.log(`  ${terms(m)}`);
} else {
  const work = mkdtempSync(join(tmpdir(), 'load-memory-'));
  try {
    const cases: Array<[string, string]> = [['small-lm (F16)', smallLmDir]];
    // Below and above the onnx engine's 1.5 GiB in-memory serialisation threshold (f32 bytes).
    const d2048 = (layers: number) => ({ layers, d: 2048, inter: 5632, vocab: 32000 });
    const synthetic: Array<[number, Array<'F32' | 'F16' | 'BF16'>]> = [[2, ['BF16', 'F32']], [8, ['BF16', 'F16', 'F32']], [16, ['BF16', 'F32']]];
    for (const [layers, dtypes] of synthetic) {
      for (const dtype of dtypes) {
        const dir = join(work, `llama-${layers}-${dtype}`);
        writeLlama(dir, d2048(layers), dtype);
        cases.push([`llama d2048 ${layers} layers (${dtype})`, dir]);
      }
    }
    for (const [label, dir] of cases) {
      const m = runChild(dir, 'onnx');
      report(label, m);
      console.log(`  ${terms(m)}`);
      if (dir.startsWith(work)) rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

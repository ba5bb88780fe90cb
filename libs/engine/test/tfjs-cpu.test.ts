/**
 * The pure-JS 'cpu' backend (the last fallback), in a process of its own because tf is a
 * process-wide singleton: chosen explicitly it prints no "install tfjs-node" banner,
 * passes the hand-computed op cases and matches the reference; and an engine on it keeps
 * working when another engine switches the process to wasm and back.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { ReferenceEngine, assertAllClose, makeRng } from '../src/reference/index.js';
import { TfjsEngine, currentTfjsBackend, selectTfjsBackend } from '../src/tfjs/index.js';
import { OP_CASES, checkOpCase } from './reference-fixtures.js';
import { randomChain } from './tfjs-fixtures.js';

let cpu: TfjsEngine;
after(() => cpu?.dispose());

test('explicit cpu: chosen without trying the others; hand-computed cases pass; no banner', async () => {
  // capture everything tf prints while the cpu backend starts and runs (without the fix
  // in backend.ts it prints "Hi, looks like you are running TensorFlow.js in Node.js...")
  const printed: string[] = [];
  const original = { warn: console.warn, log: console.log, info: console.info };
  console.warn = console.log = console.info = (...a: unknown[]) => void printed.push(a.join(' '));
  try {
    cpu = await TfjsEngine.create({ backend: 'cpu' });
    for (const c of OP_CASES) await checkOpCase(cpu, c);
  } finally {
    Object.assign(console, original);
  }
  assert.equal(cpu.name, 'tfjs-cpu');
  assert.equal(cpu.selection.tfBackend, 'cpu');
  assert.deepEqual(cpu.selection.skipped, []);
  assert.equal(cpu.tf.getBackend(), 'cpu');
  assert.deepEqual(printed, [], `tf printed: ${printed.join(' | ')}`);
});

test('cpu vs reference on random op chains', async () => {
  const ref = new ReferenceEngine();
  for (let seed = 0; seed < 10; seed++) {
    const c = randomChain(makeRng(500 + seed), seed);
    const want = new Map((await ref.compile(c.program)).runF64(c.inputs));
    const compiled = await cpu.compile(c.program);
    const got = await compiled.run(c.inputs);
    for (const name of c.program.outputs) {
      const w = want.get(name)!;
      const scale = Array.from(w.data).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assertAllClose(got[name], w, { atol: 2e-6 * scale, rtol: 0 }, `cpu chain ${seed} ${name}`);
    }
    await compiled.dispose();
  }
});

test('engines on two backends in one process: each run re-activates its own', async () => {
  const c = randomChain(makeRng(77), 77);
  const onCpu = await cpu.compile(c.program);
  const before = await onCpu.run(c.inputs);

  const wasm = await TfjsEngine.create({ backend: 'wasm' });
  assert.equal(wasm.name, 'tfjs-wasm');
  assert.equal(currentTfjsBackend()?.name, 'tfjs-wasm');
  const onWasm = await wasm.compile(c.program);
  const w1 = await onWasm.run(c.inputs);

  const after1 = await onCpu.run(c.inputs); // switches tf back to cpu
  assert.equal(cpu.tf.getBackend(), 'cpu');
  assert.deepEqual(Array.from(after1.y.data), Array.from(before.y.data));
  const w2 = await onWasm.run(c.inputs); // ... and to wasm again
  assert.equal(cpu.tf.getBackend(), 'wasm');
  assert.deepEqual(Array.from(w2.y.data), Array.from(w1.y.data));
  assertAllClose(w1.y, before.y, { atol: 1e-5, rtol: 1e-5 }, 'wasm vs cpu');

  // 'auto' now returns the backend in use rather than starting a search
  assert.equal((await selectTfjsBackend()).name, 'tfjs-wasm');
  await onCpu.dispose();
  await wasm.dispose();
});

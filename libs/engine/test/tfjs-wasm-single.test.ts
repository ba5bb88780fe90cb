/**
 * tfjs-wasm with threads turned off by option (own process: the first wasm start-up in a
 * process fixes the thread count).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TfjsEngine } from '../src/tfjs/index.js';
import { OP_CASES, checkOpCase } from './reference-fixtures.js';

test("wasmThreads: 'off' gives one thread and the same results", async () => {
  const engine = await TfjsEngine.create({ backend: 'wasm', wasmThreads: 'off' });
  assert.equal(engine.name, 'tfjs-wasm');
  assert.equal(engine.selection.wasm?.threads, 1);
  assert.equal(engine.selection.wasm?.note, 'threads off by option');
  assert.equal(engine.selection.reason, 'SIMD, 1 thread');
  for (const c of OP_CASES) await checkOpCase(engine, c);
  await engine.dispose();
});

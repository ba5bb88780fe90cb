/**
 * tfjs-wasm when the threaded start-up does not finish in time: falls back to the
 * single-threaded SIMD build, says why, and computes the same (own process: the first
 * wasm start-up in a process fixes the build).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TfjsEngine } from '../src/tfjs/index.js';
import { OP_CASES, checkOpCase } from './reference-fixtures.js';

test('threads that fail to start fall back to one thread with the reason', async () => {
  // 0 ms: the timer always fires before the threaded module has even been read
  const engine = await TfjsEngine.create({ backend: 'wasm', wasmThreads: 2, wasmThreadsTimeoutMs: 0 });
  assert.equal(engine.name, 'tfjs-wasm');
  assert.equal(engine.selection.wasm?.threads, 1);
  assert.equal(engine.selection.wasm?.note, 'one thread (threads failed: start-up took over 0 ms)');
  for (const c of OP_CASES) await checkOpCase(engine, c);
  await engine.dispose();
});

// The tfjs engine's tape (src/tfjs/tape.ts): a program's op calls recorded once and
// replayed with every intermediate freed after its last use, so a deep program needs
// memory for a few live values, not for all of them (what made a GPT-2-small forward at
// 8 x 256 abort in the wasm32 heap).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Ops, TensorProgram } from '../src/ops.js';
import { ReferenceEngine, assertAllClose, makeRng, randomF32 } from '../src/reference/index.js';
import { TfjsEngine } from '../src/tfjs/index.js';
import { planTape, recordTape } from '../src/tfjs/tape.js';

const engine = await TfjsEngine.create();
const tf = engine.tf;
after(() => engine.dispose());

const n = 256;
/** x -> `depth` alternating elementwise ops (each [n, n] f32 = 256 KiB); 'mid' halfway, 'y' at the end. */
function chain(depth = 24): TensorProgram {
  return {
    name: 'deep chain', params: new Map([['w', { shape: [n], data: randomF32(makeRng(2), [n]).data as Float32Array }]]),
    inputs: { x: { dtype: 'f32', rank: 2 } }, outputs: ['mid', 'y'],
    fn<T>(ops: Ops<T>) {
      let h = ops.input('x');
      for (let i = 0; i < depth; i++) {
        h = i % 2 ? ops.add(ops.scale(h, 0.5), ops.param('w')) : ops.gelu(h, 'tanh');
        if (i === depth / 2) ops.output('mid', h);
      }
      ops.output('y', h);
    },
  };
}

test('the plan frees every intermediate at its last use and keeps the wanted outputs', () => {
  const tape = recordTape(chain());
  const plan = planTape(tape, ['y']);
  const yId = tape.outputs.find(([name]) => name === 'y')![1];
  const dying = new Set([...plan.lastUses.values()].flat());
  assert.ok(!dying.has(yId), 'the wanted output stays alive');
  assert.equal(dying.size, tape.steps.length - 1, 'every other value dies (mid too: not wanted here)');
  // in a chain, each op's input dies where the op runs
  tape.steps.forEach((s, i) => {
    if (s.kind === 'op' && s.method === 'gelu') assert.ok(plan.lastUses.get(i)!.includes(i - 1), `step ${i}: its input dies there`);
  });
});

test('a deep program runs with a few live intermediates, gives the reference result and leaks nothing', async () => {
  const inputs = { x: randomF32(makeRng(3), [n, n]) };
  const valueBytes = n * n * 4;
  const peaks: number[] = [];
  for (const depth of [12, 48]) {
    const program = chain(depth);
    const compiled = await engine.compile(program);
    const before = tf.memory().numTensors;
    let out: Awaited<ReturnType<typeof compiled.run>> | undefined;
    const profile = await tf.profile(async () => { out = await compiled.run(inputs); });
    peaks.push(profile.peakBytes / valueBytes);
    const want = await (await new ReferenceEngine().compile(program)).run(inputs);
    for (const name of ['mid', 'y']) assertAllClose(out![name], want[name], { atol: 1e-5, rtol: 1e-5 }, `depth ${depth} ${name}`);
    assert.equal(tf.memory().numTensors, before, `depth ${depth}: no tensor left behind`);
    await compiled.dispose();
  }
  // Eagerly inside one tidy, 4x the depth would hold ~4x the values at the end; replayed,
  // the peak is the few live values plus one op's temporaries, whatever the depth.
  assert.ok(peaks[1] <= peaks[0] + 1, `peak memory in [${n}, ${n}] values: ${peaks[0].toFixed(1)} at depth 12, ${peaks[1].toFixed(1)} at depth 48`);
});

// The seeded permutation must be PyTorch's: the reference lens's data order is
// torch.randperm(11585) seeded with 42, and reproducing it lets a run be compared with the
// reference step by step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Mt19937, shuffledDocuments, torchRandperm } from '../src/index';

test('the twister gives std::mt19937 outputs (10000th output for the default seed 5489)', () => {
  // The C++ standard fixes this value ([rand.predef]): a full check of seeding and twisting.
  const rng = new Mt19937(5489);
  let v = 0;
  for (let i = 0; i < 10000; i++) v = rng.next();
  assert.equal(v, 4123659995);
});

test('torchRandperm equals torch.randperm for recorded cases (torch 2.13 CPU)', () => {
  // Recorded with torch 2.13.0+cpu: torch.randperm(n, generator=torch.Generator().manual_seed(s)).
  assert.deepEqual([...torchRandperm(20, 42)], [2, 14, 18, 15, 1, 10, 0, 4, 6, 11, 8, 3, 7, 17, 13, 12, 19, 5, 16, 9]);
  assert.deepEqual([...torchRandperm(11585, 42).subarray(0, 16)], [2367, 180, 1386, 4031, 7541, 8200, 9044, 1685, 6621, 4658, 7238, 5199, 11207, 11567, 6035, 10697]);
  assert.deepEqual([...torchRandperm(0, 1)], []);
  assert.deepEqual([...torchRandperm(1, 1)], [0]);
});

test('torchRandperm is a permutation and depends on the seed', () => {
  const a = torchRandperm(5000, 7), b = torchRandperm(5000, 8);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 5000 }, (_, i) => i));
  assert.notDeepEqual([...a], [...b]);
  assert.throws(() => torchRandperm(-1, 0), /non-negative integer/);
  assert.throws(() => new Mt19937(1.5), /non-negative integer/);
});

const python = ['/opt/torchvenv/bin/python', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
test('torchRandperm equals the installed torch.randperm for several sizes and seeds', { skip: python ? false : 'no python with torch installed' }, () => {
  const cases: Array<[number, number]> = [[2, 0], [3, 1], [1000, 42], [11585, 42], [12345, 4294967295], [70000, 123]];
  const script = `import torch, json, sys
out = [torch.randperm(n, generator=torch.Generator().manual_seed(s)).tolist() for n, s in json.loads(sys.argv[1])]
print(json.dumps(out))`;
  const run = spawnSync(python!, ['-c', script, JSON.stringify(cases)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  const expected = JSON.parse(run.stdout) as number[][];
  cases.forEach(([n, s], i) => assert.deepEqual([...torchRandperm(n, s)], expected[i], `n=${n} seed=${s}`));
});

test('shuffledDocuments yields every document once, in the seeded order', async () => {
  const docs = Array.from({ length: 50 }, (_, i) => `doc ${i}`);
  const out: string[] = [];
  for await (const d of shuffledDocuments((async function* () { yield* docs; })(), 42)) out.push(d);
  assert.deepEqual(out, [...torchRandperm(50, 42)].map((i) => docs[i]));
  assert.deepEqual([...out].sort(), [...docs].sort());
});

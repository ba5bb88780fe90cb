import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { LensOptimizer, baseLearningRate, defaultOptimizerConfig, lrMultiplier, defaultWarmupSteps, type Trainable } from '../src/train/index';

const close = (a: ArrayLike<number>, b: number[], tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `[${i}] ${a[i]} vs ${b[i]}`);
};

test('SGD Nesterov step by hand: lr 0.1, wd 1e-3, momentum 0.9, no clip', () => {
  const p: Trainable = { name: 'w', value: Float32Array.from([1, -2]), grad: Float32Array.from([0.3, 0.4]) };
  const opt = new LensOptimizer({ ...defaultOptimizerConfig, maxGradNorm: 1 });
  assert.equal(baseLearningRate(opt.cfg), 0.09999999999999998);
  const norm = opt.step([p], 0.1);
  assert.ok(Math.abs(norm - 0.5) < 1e-7);
  // g = 0.3 + 1e-3*1 = 0.301; buf = g; update = g + 0.9*buf = 1.9*0.301 = 0.5719; p = 1 - 0.05719
  // g = 0.4 - 2e-3 = 0.398; update = 1.9*0.398 = 0.7562; p = -2 - 0.07562
  close(p.value, [1 - 0.05719, -2 - 0.07562]);
  assert.deepEqual([...p.grad], [0, 0], 'gradients are zeroed');
  // second step with the same gradient: buf = 0.9*buf + g'
  p.grad.set([0.3, 0.4]);
  const x0 = p.value[0];
  opt.step([p], 0.1);
  const g = 0.3 + 1e-3 * x0, buf = 0.9 * 0.301 + g;
  close([p.value[0]], [x0 - 0.1 * (g + 0.9 * buf)]);
});

test('the global norm clip scales every gradient by max / (norm + 1e-6)', () => {
  const a: Trainable = { name: 'a', value: new Float32Array([0]), grad: Float32Array.from([3]) };
  const b: Trainable = { name: 'b', value: new Float32Array([0]), grad: Float32Array.from([4]) };
  const opt = new LensOptimizer({ kind: 'sgd', lrScale: 1, momentum: 0, weightDecay: 0, maxGradNorm: 1 });
  const norm = opt.step([a, b], 1);
  assert.equal(norm, 5);
  const c = 1 / (5 + 1e-6);
  close(a.value, [-3 * c]);
  close(b.value, [-4 * c]);
});

test('Adam (amsgrad) first step by hand', () => {
  const p: Trainable = { name: 'w', value: Float32Array.from([0.5]), grad: Float32Array.from([0.2]) };
  const opt = new LensOptimizer({ kind: 'adam', lrScale: 1, momentum: 0.9, weightDecay: 1e-3, maxGradNorm: 0 });
  opt.step([p], 1e-3);
  // g = 0.2 + 5e-4 = 0.2005; m = 0.1 g, v = 0.001 g^2; bias-corrected: m/(0.1) = g, sqrt(v/0.001) = g
  // step = lr * g / (g + 1e-8)
  close(p.value, [0.5 - 1e-3 * 0.2005 / (0.2005 + 1e-8)]);
});

test('schedule: linear decay to 0, warmup that ends exactly at the last step', () => {
  assert.equal(lrMultiplier(0, 250, 0), 1);
  assert.equal(lrMultiplier(125, 250, 0), 0.5);
  assert.equal(lrMultiplier(249, 250, 0), 1 / 250);
  assert.equal(lrMultiplier(0, 100, 10), 0);
  assert.equal(lrMultiplier(5, 100, 10), 0.5);
  assert.equal(lrMultiplier(10, 100, 10), 1);
  assert.equal(lrMultiplier(55, 100, 10), 0.5);
  assert.ok(lrMultiplier(99, 100, 10) > 0, 'FIX: the original reached 0 at step 90');
  assert.equal(defaultWarmupSteps('adam', 250), 50);
  assert.equal(defaultWarmupSteps('adam', 100000), 1000);
  assert.equal(defaultWarmupSteps('sgd', 250), 0);
});

test('non-finite gradients stop the step with a clear error', () => {
  const p: Trainable = { name: 'w', value: Float32Array.from([1]), grad: Float32Array.from([NaN]) };
  assert.throws(() => new LensOptimizer(defaultOptimizerConfig).step([p], 0.1), /gradient norm is NaN/);
  assert.equal(p.value[0], 1, 'parameters untouched');
});

// Three steps of our optimisers against torch.optim with the same gradients.
const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
test('three SGD and Adam steps equal torch.optim exactly (f32)', { skip: torch.status !== 0 ? 'Debian python3-torch not installed' : false }, () => {
  const script = `
import torch, json
res = {}
for kind in ['sgd', 'adam']:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 3.0]))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3) if kind == 'sgd' else torch.optim.Adam([p], lr=1e-3, betas=(0.9, 0.999), amsgrad=True, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: max(0.0, (3 - t) / 3))
    for step in range(3):
        p.grad = torch.tensor([0.3, 0.4, -5.0, 0.01]) * (step + 1)
        torch.nn.utils.clip_grad_norm_([p], 1.0)
        opt.step(); sched.step()
    res[kind] = p.detach().tolist()
print(json.dumps(res))`;
  const out = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const want = JSON.parse(out.stdout) as Record<string, number[]>;
  for (const kind of ['sgd', 'adam'] as const) {
    const p: Trainable = { name: 'w', value: Float32Array.from([1, -2, 0.5, 3]), grad: new Float32Array(4) };
    const opt = new LensOptimizer({ ...defaultOptimizerConfig, kind });
    for (let step = 0; step < 3; step++) {
      p.grad.set([0.3, 0.4, -5, 0.01].map((g) => g * (step + 1)));
      opt.step([p], baseLearningRate(opt.cfg) * lrMultiplier(step, 3, 0));
    }
    close(p.value, want[kind], 2e-6);
  }
});

// Lens folders: write -> read round trips, which params file is read, atomic creation,
// and clear errors for missing or extra layers, wrong shapes and missing files.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { roundToF16 } from '@tuned-lens/tensor';
import {
  lensConfigToJson, makeLensConfig, readLensFolder, writeLensConfig, writeLensFolder, writeLensParams,
  type LensConfig, type LensTensorInput, type Translator,
} from '../src/io/index.js';
import { expectError } from './expectLensError.js';

const D = 4;
const L = 3;

function lens(bias = true): { config: LensConfig; translators: Translator[] } {
  const config = makeLensConfig({ baseModelNameOrPath: 'tiny/model', dModel: D, numHiddenLayers: L, bias, unembedHash: 'abc' });
  const translators = Array.from({ length: L }, (_, i) => ({
    weight: Float32Array.from({ length: D * D }, (_, j) => Math.sin(i * 100 + j) / 3),
    bias: bias ? Float32Array.from({ length: D }, (_, j) => Math.cos(i * 10 + j) / 7) : null,
  }));
  return { config, translators };
}


const root = mkdtempSync(join(tmpdir(), 'io-lens-'));
after(() => rmSync(root, { recursive: true, force: true }));
const newDir = (): string => join(mkdtempSync(join(root, 't-')), 'lens');

describe('round trip', () => {
  test('F32: a new folder appears with config.json, params.pt and params.safetensors; values are exact', () => {
    const dir = newDir();
    const l = lens();
    const files = writeLensFolder(dir, l);
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'params.pt', 'params.safetensors']);
    assert.deepEqual(files.map((f) => f.slice(dir.length + 1)), ['params.pt', 'params.safetensors', 'config.json']);
    assert.deepEqual(readdirSync(join(dir, '..')), ['lens'], 'no temp folder left behind');
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), lensConfigToJson(l.config));
    const back = readLensFolder(dir);
    assert.deepEqual(back.config, l.config);
    assert.equal(back.dtype, 'F32');
    assert.deepEqual(back.warnings, []);
    assert.ok(back.paramsFile.endsWith('params.safetensors'));
    assert.deepEqual(back.translators, l.translators);
  });

  test('F16 rounds to nearest even, and params.pt alone gives the same lens', () => {
    const dir = newDir();
    const l = lens();
    writeLensFolder(dir, l, { dtype: 'F16' });
    const fromSt = readLensFolder(dir);
    rmSync(join(dir, 'params.safetensors'));
    const fromPt = readLensFolder(dir);
    assert.ok(fromPt.paramsFile.endsWith('params.pt'));
    assert.equal(fromPt.dtype, 'F16');
    for (const [i, t] of l.translators.entries()) {
      assert.deepEqual(fromPt.translators[i].weight, Float32Array.from(t.weight, roundToF16));
      assert.deepEqual(fromPt.translators[i].bias, Float32Array.from(t.bias!, roundToF16));
    }
    assert.deepEqual(fromSt.translators, fromPt.translators);
  });

  test('bias: false (a FIX: the original crashes on it) round trips without bias tensors', () => {
    const dir = newDir();
    writeLensFolder(dir, lens(false));
    const back = readLensFolder(dir);
    assert.equal(back.config.bias, false);
    assert.ok(back.translators.every((t) => t.bias === null));
  });

  test('rewriting an existing folder replaces each file', () => {
    const dir = newDir();
    writeLensFolder(dir, lens());
    const l2 = lens();
    l2.translators[1].weight.fill(0.5);
    writeLensFolder(dir, l2);
    assert.deepEqual(readLensFolder(dir).translators[1].weight, new Float32Array(D * D).fill(0.5));
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'params.pt', 'params.safetensors']);
  });
});

describe('which params file', () => {
  test('params.safetensors is preferred; a newer params.pt gets a warning', () => {
    const dir = newDir();
    const l = lens();
    writeLensFolder(dir, l);
    const other = lens();
    other.translators[0].weight.fill(9);
    const state = other.translators.flatMap((t, i): [string, LensTensorInput][] => [[`${i}.weight`, { shape: [D, D], data: t.weight }], [`${i}.bias`, { shape: [D], data: t.bias! }]]);
    writeLensParams(dir, state, { format: 'pt' });
    const old = Date.now() / 1000 - 60;
    utimesSync(join(dir, 'params.safetensors'), old, old);
    const back = readLensFolder(dir);
    assert.deepEqual(back.translators[0].weight, l.translators[0].weight);
    assert.deepEqual(back.warnings, ['params.pt is newer than params.safetensors; reading params.safetensors (delete it if it is stale)']);
  });
});

describe('errors', () => {
  function folderWith(config: LensConfig, tensors: [string, number[]][]): string {
    const dir = newDir();
    mkdirSync(dir);
    writeLensConfig(join(dir, 'config.json'), config);
    writeLensParams(dir, tensors.map(([name, shape]) => [name, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }] as const), { format: 'pt' });
    return dir;
  }
  const full = (layers: number, d = D): [string, number[]][] => Array.from({ length: layers }, (_, i) => [[`${i}.weight`, [d, d]], [`${i}.bias`, [d]]] as [string, number[]][]).flat();

  test('missing and extra layers are listed', () => {
    const config = lens().config;
    expectError(() => readLensFolder(folderWith(config, full(2))), 'invalid', /params\.pt: tensors do not match the config: missing "2\.weight", "2\.bias"$/);
    expectError(() => readLensFolder(folderWith(config, full(5))), 'invalid', /unexpected "3\.weight", "3\.bias", "4\.weight", "4\.bias" \(config\.json says num_hidden_layers 3: translators 0\.\.2\)/);
    expectError(() => readLensFolder(folderWith(config, [...full(3), ['unembed.weight', [2, 2]]])), 'invalid', /unexpected "unembed\.weight"/);
    expectError(() => readLensFolder(folderWith(lens(false).config, full(3))), 'invalid', /unexpected "0\.bias", .* \(config\.json says bias: false but the file has biases\)/);
  });

  test('shapes must match d_model', () => {
    const shapes = full(3);
    shapes[2] = ['1.weight', [D, D + 1]];
    expectError(() => readLensFolder(folderWith(lens().config, shapes)), 'invalid', /tensor "1\.weight" has shape \[4, 5\], expected \[4, 4\] \(d_model 4 in config\.json\)/);
    expectError(() => readLensFolder(folderWith(lens().config, full(3, 8))), 'invalid', /tensor "0\.weight" has shape \[8, 8\], expected \[4, 4\]/);
  });

  test('missing folder, config or params', () => {
    const dir = newDir();
    expectError(() => readLensFolder(dir), 'not_found', /lens: does not exist/);
    mkdirSync(dir);
    expectError(() => readLensFolder(dir), 'not_found', /config\.json: does not exist/);
    writeLensConfig(join(dir, 'config.json'), lens().config);
    expectError(() => readLensFolder(dir), 'not_found', /no params\.safetensors or params\.pt in the lens folder/);
    writeFileSync(join(dir, 'file'), 'x');
    expectError(() => readLensFolder(join(dir, 'file')), 'invalid', /is not a folder/);
  });

  test('writing checks the translators against the config and leaves nothing behind', () => {
    const dir = newDir();
    const l = lens();
    expectError(() => writeLensFolder(dir, { ...l, translators: l.translators.slice(1) }), 'invalid', /num_hidden_layers 3 but 2 translators/);
    expectError(() => writeLensFolder(dir, { ...l, translators: [l.translators[0], { weight: new Float32Array(3), bias: null }, l.translators[2]] }), 'invalid', /translator 1: weight must be a Float32Array of d_model\^2 = 16 values, got 3/);
    expectError(() => writeLensFolder(dir, { ...l, translators: l.translators.map((t) => ({ ...t, bias: null })) }), 'invalid', /translator 0: bias must be .* \(config has bias: true\), got null/);
    expectError(() => writeLensFolder(dir, { ...lens(false), translators: l.translators }), 'invalid', /translator 0 has a bias but the config says bias: false/);
    assert.equal(existsSync(dir), false);
  });
});

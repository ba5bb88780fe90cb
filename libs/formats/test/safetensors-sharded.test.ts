// Sharded checkpoints (model.safetensors.index.json + shards), built in a temp folder
// by splitting the tiny-llama fixture.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelsDir } from '@tuned-lens/fixtures';
import { CheckpointError, openCheckpoint, writeSafetensors, type Checkpoint, type TensorToWrite } from '../src/safetensors/index.js';

let root: string;
let source: Checkpoint;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'st-sharded-'));
  source = openCheckpoint(join(tinyModelsDir, 'tiny-llama'));
});
after(() => rmSync(root, { recursive: true, force: true }));

const SHARD1 = 'model-00001-of-00002.safetensors';
const SHARD2 = 'model-00002-of-00002.safetensors';

/** Which shard a tensor goes to: layers 0-1 and the embedding in shard 1, the rest in 2. */
function shardOf(name: string): string {
  return /layers\.[01]\.|embed_tokens/.test(name) ? SHARD1 : SHARD2;
}

function tensorsOf(names: string[]): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const n of names) {
    const { dtype, shape, bytes } = source.getRaw(n);
    out[n] = { dtype, shape, data: bytes };
  }
  return out;
}

/**
 * A sharded copy of tiny-llama in a new folder. `edit` may change the weight map and
 * which tensors are written to which shard before anything is written.
 */
function makeSharded(edit?: (map: Record<string, string>, shards: Record<string, string[]>) => void): string {
  const dir = mkdtempSync(join(root, 'ckpt-'));
  const map: Record<string, string> = {};
  const shards: Record<string, string[]> = { [SHARD1]: [], [SHARD2]: [] };
  for (const n of source.names()) {
    map[n] = shardOf(n);
    shards[shardOf(n)].push(n);
  }
  edit?.(map, shards);
  for (const [shard, names] of Object.entries(shards)) writeSafetensors(join(dir, shard), tensorsOf(names), { format: 'pt' });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: source.byteLength }, weight_map: map }));
  return dir;
}

describe('sharded checkpoints', () => {
  test('every tensor of every shard is found, with the same bytes as the single-file checkpoint', () => {
    const dir = makeSharded();
    const ckpt = openCheckpoint(dir);
    assert.equal(ckpt.files.length, 2);
    assert.deepEqual(ckpt.names(), source.names());
    for (const n of source.names()) {
      assert.deepEqual(ckpt.getRaw(n), source.getRaw(n), n);
      assert.ok(ckpt.fileOf(n).endsWith(shardOf(n)), n);
    }
    assert.deepEqual(ckpt.getF32('model.layers.2.mlp.up_proj.weight'), source.getF32('model.layers.2.mlp.up_proj.weight'));
    assert.equal(ckpt.storageDtype, 'BF16');
    assert.equal(ckpt.byteLength, source.byteLength);
    assert.equal(ckpt.label.endsWith('/model.safetensors.index.json'), true);
    // Opening the index file directly is the same.
    assert.deepEqual(openCheckpoint(join(dir, 'model.safetensors.index.json')).names(), source.names());
  });

  test('tensors a shard holds but the weight map does not name are ignored', () => {
    const dir = makeSharded((map) => delete map['model.norm.weight']);
    const ckpt = openCheckpoint(dir);
    assert.equal(ckpt.has('model.norm.weight'), false);
    assert.equal(ckpt.size, source.size - 1);
  });

  test('model.safetensors wins over an index in the same folder (as in transformers)', () => {
    const dir = makeSharded();
    copyFileSync(join(tinyModelsDir, 'tiny-llama', 'model.safetensors'), join(dir, 'model.safetensors'));
    assert.equal(openCheckpoint(dir).files.length, 1);
  });

  test('an index naming a missing shard: not_found, naming the shard and a tensor it should hold', () => {
    const dir = makeSharded((map) => {
      map['model.norm.weight'] = 'model-00003-of-00002.safetensors';
    });
    assert.throws(() => openCheckpoint(dir), (e: unknown) =>
      e instanceof CheckpointError && e.kind === 'not_found' &&
      /model\.safetensors\.index\.json: weight_map references missing shard "model-00003-of-00002.safetensors" \(1 tensors, e\.g\. "model\.norm\.weight"\)/.test(e.message));
  });

  test('tensors mapped to a shard that does not hold them: missing_tensor, listing all of them', () => {
    const dir = makeSharded((_map, shards) => {
      shards[SHARD2] = shards[SHARD2].filter((n) => n !== 'lm_head.weight' && n !== 'model.norm.weight');
    });
    assert.throws(() => openCheckpoint(dir), (e: unknown) =>
      e instanceof CheckpointError && e.kind === 'missing_tensor' &&
      /2 tensors of weight_map not found in their shard: "lm_head.weight" \(mapped to "model-00002-of-00002.safetensors"\), "model.norm.weight"/.test(e.message));
  });

  test('a malformed index: not JSON, no weight_map, empty map, a non-string or escaping shard name', () => {
    const cases: [string, RegExp][] = [
      ['{"weight_map": ', /model\.safetensors\.index\.json: not valid JSON/],
      ['{"metadata": {}}', /must be a JSON object with a "weight_map" object/],
      ['{"weight_map": {}}', /weight_map is empty/],
      ['{"weight_map": {"a": 3}}', /weight_map\["a"\] must be a shard file name, got 3/],
      ['{"weight_map": {"a": "../other/model.safetensors"}}', /weight_map\["a"\] = "..\/other\/model.safetensors" points outside the checkpoint folder/],
      ['{"weight_map": {"a": "/etc/passwd"}}', /points outside the checkpoint folder/],
    ];
    for (const [text, re] of cases) {
      const dir = mkdtempSync(join(root, 'bad-index-'));
      writeFileSync(join(dir, 'model.safetensors.index.json'), text);
      assert.throws(() => openCheckpoint(dir), (e: unknown) => e instanceof CheckpointError && e.kind === 'invalid' && re.test(e.message), text);
    }
  });

  test('a malformed shard is reported with the shard file name', () => {
    const dir = makeSharded();
    writeFileSync(join(dir, SHARD2), Buffer.alloc(4));
    assert.throws(() => openCheckpoint(dir), (e: unknown) =>
      e instanceof CheckpointError && e.file === join(dir, SHARD2) && /model-00002-of-00002\.safetensors: file is 4 bytes/.test(e.message));
  });

  test('shards may sit in a subfolder of the checkpoint', () => {
    const dir = mkdtempSync(join(root, 'sub-'));
    mkdirSync(join(dir, 'shards'));
    writeSafetensors(join(dir, 'shards', 'a.safetensors'), tensorsOf(['model.norm.weight']));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': 'shards/a.safetensors' } }));
    assert.deepEqual(openCheckpoint(dir).names(), ['model.norm.weight']);
  });
});

/**
 * Opening a checkpoint folder the way `transformers` does: `model.safetensors` if it
 * exists, else the shards listed by `model.safetensors.index.json`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { Checkpoint } from './checkpoint.js';
import { CheckpointError } from './errors.js';
import { SafetensorsFile, type ReadOptions } from './reader.js';

/** The single-file checkpoint name. */
export const SAFE_WEIGHTS_NAME = 'model.safetensors';
/** The sharded checkpoint index name. */
export const SAFE_WEIGHTS_INDEX_NAME = 'model.safetensors.index.json';

/**
 * Opens a checkpoint from a model folder (`model.safetensors`, else
 * `model.safetensors.index.json`), a `.safetensors` file, or an index `.json` file.
 * Every file is read and validated now, so later lookups cannot fail on I/O.
 */
export function openCheckpoint(path: string, opts: ReadOptions = {}): Checkpoint {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new CheckpointError('not_found', path, 'does not exist', { cause: e });
  }
  if (!isDir) {
    return path.endsWith('.json') ? openShardedCheckpoint(path, opts) : openSafetensors(path, opts);
  }
  const single = join(path, SAFE_WEIGHTS_NAME);
  if (existsSync(single)) return openSafetensors(single, opts);
  const index = join(path, SAFE_WEIGHTS_INDEX_NAME);
  if (existsSync(index)) return openShardedCheckpoint(index, opts);
  throw new CheckpointError('not_found', path, `no ${SAFE_WEIGHTS_NAME} or ${SAFE_WEIGHTS_INDEX_NAME} in this folder${otherWeightsHint(path)}`);
}

/** Opens one `.safetensors` file as a checkpoint (also golden files, lens files, ...). */
export function openSafetensors(file: string, opts: ReadOptions = {}): Checkpoint {
  return Checkpoint.fromFile(SafetensorsFile.read(file, opts));
}

/**
 * Opens a sharded checkpoint from its index (`{"metadata": {...}, "weight_map": {tensor:
 * shard file}}`, shard names relative to the index's folder). Every shard named is
 * loaded; a missing shard, or a mapped tensor absent from its shard, is an error listing
 * every such problem at once. Tensors a shard holds but the map does not name are
 * ignored, as `transformers` ignores them.
 */
export function openShardedCheckpoint(indexPath: string, opts: ReadOptions = {}): Checkpoint {
  const weightMap = readWeightMap(indexPath);
  const dir = dirname(indexPath);

  const byShard = new Map<string, string[]>();
  for (const [tensor, shard] of weightMap) {
    const list = byShard.get(shard);
    if (list) list.push(tensor);
    else byShard.set(shard, [tensor]);
  }

  const absent = [...byShard.keys()].filter((shard) => !existsSync(join(dir, shard)));
  if (absent.length > 0) {
    const detail = absent.map((s) => `${JSON.stringify(s)} (${byShard.get(s)!.length} tensors, e.g. ${JSON.stringify(byShard.get(s)![0])})`);
    throw new CheckpointError('not_found', indexPath, `weight_map references missing shard${absent.length > 1 ? 's' : ''} ${detail.join(', ')}`);
  }

  const files: SafetensorsFile[] = [];
  const tensors = new Map<string, SafetensorsFile>();
  const notInShard: string[] = [];
  for (const [shard, names] of byShard) {
    const file = SafetensorsFile.read(join(dir, shard), opts);
    files.push(file);
    for (const name of names) {
      if (file.entries.has(name)) tensors.set(name, file);
      else notInShard.push(`${JSON.stringify(name)} (mapped to ${JSON.stringify(shard)})`);
    }
  }
  if (notInShard.length > 0) {
    const shown = notInShard.slice(0, 10).join(', ') + (notInShard.length > 10 ? `, and ${notInShard.length - 10} more` : '');
    throw new CheckpointError('missing_tensor', indexPath, `${notInShard.length} tensor${notInShard.length > 1 ? 's' : ''} of weight_map not found in their shard: ${shown}`);
  }
  return new Checkpoint(indexPath, files, tensors);
}

/** Parses and checks the index; returns tensor -> shard file name, in index order. */
function readWeightMap(indexPath: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(indexPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? 'not_found' : 'invalid', indexPath, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError('invalid', indexPath, `not valid JSON (${(e as Error).message})`, { cause: e });
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new CheckpointError('invalid', indexPath, 'must be a JSON object with a "weight_map" object {tensor name: shard file}');
  }
  const out = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '') {
      throw new CheckpointError('invalid', indexPath, `weight_map[${JSON.stringify(tensor)}] must be a shard file name, got ${JSON.stringify(shard)}`);
    }
    // Shards live next to the index; a path leaving the folder is a corrupt or hostile index.
    const normal = normalize(shard);
    if (isAbsolute(shard) || normal === '..' || normal.startsWith(`..${sep}`)) {
      throw new CheckpointError('invalid', indexPath, `weight_map[${JSON.stringify(tensor)}] = ${JSON.stringify(shard)} points outside the checkpoint folder`);
    }
    out.set(tensor, shard);
  }
  if (out.size === 0) throw new CheckpointError('invalid', indexPath, 'weight_map is empty');
  return out;
}

/** A hint naming weight files this reader does not load (PyTorch pickles, GGUF, ...). */
function otherWeightsHint(dir: string): string {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return '';
  }
  const other = names.filter((n) => /\.(bin|pt|pth|ckpt|gguf|h5|msgpack)$/.test(n) || (n.endsWith('.safetensors') && n !== SAFE_WEIGHTS_NAME));
  if (other.length === 0) return '';
  return ` (found ${other.slice(0, 3).join(', ')}${other.length > 3 ? ', ...' : ''}; only safetensors named ${SAFE_WEIGHTS_NAME} or indexed by ${SAFE_WEIGHTS_INDEX_NAME} are read, convert or rename them)`;
}

/** Loading a Hugging Face checkpoint folder into a LoadedModel. */
import { basename, join, resolve } from 'node:path';
import { loadModelConfig } from '../config/index.js';
import { openCheckpoint } from '@tuned-lens/formats';
import { architectureFor, archConfigFrom } from '../architectures/registry';
import type { WeightSource } from '../architectures/common/types';
import { LoadedModel } from './loadedModel';

/**
 * Reads config.json and the safetensors weights (single file or sharded), checks every
 * tensor against the config and prepares f32 params. Errors name the file and problem:
 * ConfigError, CheckpointError, UnsupportedModelError, or Error for shape mismatches.
 */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const config = loadModelConfig(join(dir, 'config.json'));
  const arch = architectureFor(config.modelType);
  const archConfig = archConfigFrom(config, join(basename(dir), 'config.json'));
  // Headers only: tensors are read from disk when an engine asks for f32 copies, and the
  // onnx engine maps them in place (StoredParam), so the data is never held here.
  const checkpoint = openCheckpoint(dir, { maxResidentBytes: 0 });
  const weights: WeightSource = {
    has: (n) => checkpoint.has(n),
    shapeOf: (n) => [...checkpoint.info(n).shape],
    f32: (n) => checkpoint.getF32(n),
    describe: () => checkpoint.label,
    location: (n) => {
      const at = checkpoint.location(n);
      return at.dtype === 'F32' || at.dtype === 'F16' || at.dtype === 'BF16' ? { file: resolve(at.file), offset: at.offset, dtype: at.dtype, shape: at.shape } : undefined;
    },
  };
  const params = arch.loadParams(weights, archConfig);
  const name = typeof config.raw._name_or_path === 'string' && config.raw._name_or_path ? config.raw._name_or_path : basename(dir);
  return new LoadedModel(name, arch, archConfig, params, checkpoint.storageDtype ?? 'F32');
}

/**
 * Training checkpoints: lens, optimiser state, schedule position, data position and
 * step in one safetensors file (tensors + JSON metadata), written atomically to
 * <checkpoint dir>/step-<n>.safetensors (default dir: <output>/checkpoints). The newest two
 * are kept; resuming loads the newest that reads back intact.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint, writeSafetensors, type TensorToWrite } from '@tuned-lens/formats';
import type { OptimizerState, TunedLensWeights } from '@tuned-lens/lens';

export interface CheckpointMeta {
  /** Optimiser steps completed. */
  step: number;
  /** Data chunks consumed (see dataFeed.ts). */
  position: number;
  tokensSeen: number;
  fingerprint: string;
  layerLosses: number[];
  /** Chunks in the corpus (the permutation's size); absent in checkpoints before 2026-12. */
  corpusChunks?: number;
}

export interface LoadedCheckpoint extends CheckpointMeta {
  lens: TunedLensWeights;
  optimizer: OptimizerState;
  file: string;
}

const fileOf = (dir: string, step: number) => join(dir, `step-${String(step).padStart(6, '0')}.safetensors`);

/** The default checkpoint folder of an output folder (the original's --checkpoint_dir default). */
export const defaultCheckpointDir = (output: string): string => join(output, 'checkpoints');

export function saveCheckpoint(dir: string, lens: TunedLensWeights, opt: OptimizerState, meta: CheckpointMeta, keep = 2): string {
  const d = lens.dModel;
  const tensors: Record<string, TensorToWrite> = {};
  lens.translators.forEach((t, l) => {
    tensors[`lens.${l}.weight`] = { dtype: 'F32', shape: [d, d], data: t.weight };
    if (t.bias) tensors[`lens.${l}.bias`] = { dtype: 'F32', shape: [d], data: t.bias };
  });
  for (const [kind, map] of Object.entries({ m: opt.m, v: opt.v, vmax: opt.vmax })) {
    for (const [name, arr] of Object.entries(map)) tensors[`opt.${kind}.${name}`] = { dtype: 'F32', shape: [arr.length], data: arr };
  }
  mkdirSync(dir, { recursive: true });
  const file = fileOf(dir, meta.step);
  writeSafetensors(file, tensors, { meta: JSON.stringify({ ...meta, optimizerStep: opt.step, layers: lens.translators.length, dModel: d, bias: lens.translators[0]?.bias !== null }) });
  // Keep the newest `keep`; older ones are superseded.
  const all = listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(old, { force: true });
  return file;
}

export function listCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^step-\d+\.safetensors$/.test(f)).sort().map((f) => join(dir, f));
}

/** The newest checkpoint that reads back intact, or undefined when there is none. */
export function loadNewestCheckpoint(dir: string, onSkip?: (file: string, why: string) => void): LoadedCheckpoint | undefined {
  for (const file of listCheckpoints(dir).reverse()) {
    try {
      const ck = openCheckpoint(file);
      const meta = JSON.parse(ck.metadata.meta) as CheckpointMeta & { optimizerStep: number; layers: number; dModel: number; bias: boolean };
      const d = meta.dModel;
      const translators = Array.from({ length: meta.layers }, (_, l) => ({
        weight: ck.getF32(`lens.${l}.weight`).slice(),
        bias: meta.bias ? ck.getF32(`lens.${l}.bias`).slice() : null,
      }));
      const opt: OptimizerState = { step: meta.optimizerStep, m: {}, v: {}, vmax: {} };
      for (const name of ck.names()) {
        const m = /^opt\.(m|v|vmax)\.(.+)$/.exec(name);
        if (m) opt[m[1] as 'm' | 'v' | 'vmax'][m[2]] = ck.getF32(name).slice();
      }
      return { ...meta, lens: { dModel: d, translators }, optimizer: opt, file };
    } catch (err) {
      onSkip?.(file, (err as Error).message);
    }
  }
  return undefined;
}

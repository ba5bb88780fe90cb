/** Pieces of the training bench shared by its parent, its workers and its tests. */
import { join } from 'node:path';
import { benchRoot, maxAbsDiff } from '../common';

export const torchTrainScript = join(benchRoot, 'python', 'torch_train.py');
/** Our side's child process (relative to benchRoot, the cwd of every node child). */
export const trainWorkerScript = join('src', 'train', 'worker.ts');

export interface WeightComparison {
  /** max |ours - torch| over every translator weight and bias */
  maxAbsDiff: number;
  /** max |torch| (the scale the difference is read against) */
  maxAbsWeight: number;
  /** maxAbsDiff / maxAbsWeight */
  relative: number;
}

export function compareWeights(ours: Float32Array, torch: Float32Array): WeightComparison {
  const diff = maxAbsDiff(ours, torch);
  let w = 0;
  for (let i = 0; i < torch.length; i++) w = Math.max(w, Math.abs(torch[i]));
  return { maxAbsDiff: diff, maxAbsWeight: w, relative: w > 0 ? diff / w : diff };
}

import type { Ops } from '@tuned-lens/engine';
import type { ArchConfig } from './types';

export function activate<T>(ops: Ops<T>, x: T, kind: ArchConfig['activation']): T {
  switch (kind) {
    case 'gelu_tanh': return ops.gelu(x, 'tanh');
    case 'gelu': return ops.gelu(x, 'erf');
    case 'silu': return ops.silu(x);
    case 'relu': return ops.relu(x);
  }
}

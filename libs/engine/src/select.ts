/**
 * Picking the compute engine at start-up.
 *
 * 'auto' is per machine: with `@tensorflow/tfjs-node-gpu` installed (the GPU image) the
 * tfjs engine runs on CUDA; otherwise onnxruntime-node on the CPU, which measured 2.5-4x
 * faster than PyTorch on a GPT-2 block here while tfjs-wasm was 6x slower than PyTorch
 * (../../README.md, "Compute engines").
 */
import { createRequire } from 'node:module';
import type { Engine } from './ops';

export type EngineChoice = 'auto' | 'onnx' | 'tfjs';

export interface EngineLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
}

const require = createRequire(import.meta.url);

/** Whether a package can be resolved from here (without loading it). */
export function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

export async function createEngine(choice: EngineChoice, opts: { logger?: EngineLogger; threads?: number } = {}): Promise<Engine> {
  const kind = choice === 'auto' ? (isInstalled('@tensorflow/tfjs-node-gpu') ? 'tfjs' : 'onnx') : choice;
  let engine: Engine;
  let why: string;
  if (kind === 'onnx') {
    const { OnnxEngine } = await import('./onnx/index.js');
    engine = new OnnxEngine({ intraOpNumThreads: opts.threads });
    why = choice === 'auto' ? 'auto: no tfjs-node-gpu installed, onnxruntime is the fastest CPU engine' : 'asked for';
  } else {
    const { TfjsEngine } = await import('./tfjs/index.js');
    engine = await TfjsEngine.create();
    why = choice === 'auto' ? 'auto: tfjs-node-gpu is installed' : 'asked for';
  }
  opts.logger?.info('compute engine', { engine: engine.name, why });
  return engine;
}

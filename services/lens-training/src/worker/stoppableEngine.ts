/**
 * An engine whose programs refuse to start another run once the job has asked the
 * trainer thread to stop. A stop message waits until the thread's event loop is free,
 * which is after the whole micro-batch (every layer's engine calls); a shared flag is
 * seen before the very next call, so a cancel waits for one engine call at most.
 * (Terminating the thread instead is not an option: onnxruntime-node aborts the whole
 * process when its thread is torn down mid-run.)
 */
import type { CompiledProgram, Engine } from '@tuned-lens/engine';

/** Thrown by a run asked for after the stop flag was set. */
export class TrainerStopped extends Error {
  constructor() {
    super('the trainer thread was asked to stop');
    this.name = 'TrainerStopped';
  }
}

/** `flag[0] !== 0` means stop. `flag` lives on a SharedArrayBuffer shared with the job. */
export function isStopped(flag: Int32Array): boolean {
  return Atomics.load(flag, 0) !== 0;
}

export function stoppableEngine(engine: Engine, flag: Int32Array): Engine {
  return {
    name: engine.name,
    async compile(program): Promise<CompiledProgram> {
      const compiled = await engine.compile(program);
      return {
        run: (inputs, outputs) => (isStopped(flag) ? Promise.reject(new TrainerStopped()) : compiled.run(inputs, outputs)),
        dispose: () => compiled.dispose(),
      };
    },
    dispose: async () => { await engine.dispose?.(); },
  };
}

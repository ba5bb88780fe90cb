/**
 * Where a training step's time goes on our side: an Engine wrapper that times every
 * CompiledProgram.run call (per program: the KL target, the lens step), so that
 * accumulate() time = engine calls (inputs handed in, graph run, outputs handed back)
 * + host work (slicing, gradient accumulation in JS) and step() = the optimiser on the host.
 */
import type { CompiledProgram, Engine, RuntimeInputs, TensorProgram } from '@tuned-lens/engine';

export interface EngineProfile {
  /** program name -> calls and seconds inside run() */
  programs: Record<string, { calls: number; seconds: number }>;
  seconds: number;
}

export function profileEngine(inner: Engine): { engine: Engine; reset(): void; snapshot(): EngineProfile } {
  let programs: EngineProfile['programs'] = {};
  const engine: Engine = {
    name: inner.name,
    async compile(program: TensorProgram): Promise<CompiledProgram> {
      const c = await inner.compile(program);
      return {
        async run(inputs: RuntimeInputs, outputs?: string[]) {
          const t0 = performance.now();
          try {
            return await c.run(inputs, outputs);
          } finally {
            const p = (programs[program.name] ??= { calls: 0, seconds: 0 });
            p.calls++;
            p.seconds += (performance.now() - t0) / 1000;
          }
        },
        dispose: () => c.dispose(),
      };
    },
    dispose: () => inner.dispose?.() ?? Promise.resolve(),
  };
  return {
    engine,
    reset: () => { programs = {}; },
    snapshot: () => ({ programs, seconds: Object.values(programs).reduce((a, p) => a + p.seconds, 0) }),
  };
}

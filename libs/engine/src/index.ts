export type { Ops, HostArray, RuntimeInputs, TensorProgram, CompiledProgram, Engine } from './ops';
// onnxruntime-node engine (CPU): ONNX tracer, per-output-subset sessions.
export * from './onnx/index.js';
export { createEngine, isInstalled, type EngineChoice, type EngineLogger } from './select';

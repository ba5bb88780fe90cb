export type { Ops, HostArray, RuntimeInputs, TensorProgram, CompiledProgram, Engine } from './ops';
export { StoredParam, isStoredParam, transposeF32, type StoredLayout, type StoredLocation, type StoredDtype } from './storedParam';
// onnxruntime-node engine (CPU): ONNX tracer, per-output-subset sessions.
export * from './onnx/index.js';
export { createEngine, isInstalled, type EngineChoice, type EngineLogger } from './select';
// TensorFlow.js engine: backend selection (tfjs-node-gpu -> tfjs-node -> wasm -> cpu),
// Ops<tf.Tensor> (differentiable, for tf autograd), TfjsEngine. tf itself loads lazily.
export * from './tfjs/index.js';
// Reference engine: every op as plain float64 loops, the oracle in tests; test helpers.
export * from './reference/index.js';

/**
 * The TensorFlow.js engine: backend selection (node-gpu -> node -> wasm -> cpu), the
 * `Ops<tf.Tensor>` implementation, and `TfjsEngine`.
 */
export {
  selectTfjsBackend,
  getTf,
  currentTfjsBackend,
  activateTfjsBackend,
  type Tf,
  type TfjsBackendPreference,
  type TfjsBackendOptions,
  type TfjsBackendSelection,
  type TfjsEngineName,
} from './backend.js';
export { tfjsOps, type TfjsOpsSource } from './ops.js';
export { TfjsEngine, TfjsProgram, type TfjsEngineOptions } from './engine.js';

/** The memory a checkpoint load needs, estimated from headers before loading. */
export { type LoadPlan, ONNX_LOAD_PLAN, TFJS_LOAD_PLAN, TFJS_WASM_LOAD_PLAN, loadPlanFor } from './loadPlan.js';
export { type LoadMemoryEstimate, type EstimateTerm, type StoredTensor, estimateLoadMemory, estimateFromTensors } from './estimate.js';

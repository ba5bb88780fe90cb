/**
 * The reference engine: every op of `Ops` as plain float64 loops. The oracle for tests of
 * the other engines and of model code.
 */
export { ReferenceEngine, ReferenceProgram, fromHost } from './engine.js';
export { ReferenceOps, refTensor, type RefOpsSource } from './ops.js';
export { RefTensor, type RefDType, broadcastShapes, reshapeTailShape, sliceBounds, sizeOf } from './tensor.js';
export { erf, erfc, geluErf, geluTanh } from './erf.js';
export { checkHostArray, checkInputs, checkProgram, resolveOutputs } from './program-io.js';
export {
  makeRng,
  randomF32,
  randomI32,
  causalBias,
  closeness,
  assertAllClose,
  compareWithReference,
  type Rng,
  type Tolerance,
  type Closeness,
} from './testing.js';

export { startEvaluationServer, type EvaluationServerOptions, type EvaluationServer } from './server';
export { defaultEvaluationLimits, type EvaluationLimits } from './limits';
export { checkLensCompatibility, type Compatibility, type ModelIdentity } from './lensStore';

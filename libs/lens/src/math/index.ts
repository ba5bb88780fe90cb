export { unembed, headBias, finalNorm, finalNormBackward, unembeddingParams, type Unembedding, type NormKind } from './unembed';
export { lensStepProgram, klTargetProgram, targetProgram, type LossKind } from './lensStep';
export { lensMetricsProgram, baselineMetricsProgram, lensLogProbsProgram } from './lensForward';
export { newtonSchulzProgram, newtonSchulzScalar, NEWTON_SCHULZ_COEFFS, NEWTON_SCHULZ_STEPS } from './newtonSchulz';
